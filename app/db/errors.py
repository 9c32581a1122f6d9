"""What a database error means for the caller: the request's fault, a passing state of the
database, an outage, or a bug — read from PostgreSQL's SQLSTATE and the driver's cause.

```text
DatabaseFailure     when                                                  API answer
TEXT_NOT_STORABLE   NUL or an unpaired surrogate in a query argument      422 text_not_storable
                    (PostgreSQL's 22021/22P05, or the driver could not
                    encode the string)
VALUE_NOT_STORABLE  the driver could not encode a query argument: an      422 value_not_storable
                    aware datetime outside year 1..9999 once in UTC, an
                    integer beyond int64 (asyncpg's own DataError)
BUSY                the database is up but declined this time: statement  503 database_busy
                    timeout, serialization failure, deadlock, lock wait
UNAVAILABLE         no connection: refused, lost or dropped (class 08,    503 database_unavailable
                    57P01-57P03, 53300, 28xxx, 3D000, any error while
                    connecting), the pool gave none in time, a socket
                    error beneath
BUG                 everything else: any other data exception PostgreSQL 500 internal_error
                    raises (class 22: an overflow, a division by zero, a
                    malformed literal — computed over stored data as
                    often as over the request's, so never blamed on the
                    client), constraint violations the code did not
                    expect, SQL errors
```

Only a value the request brought is the client's fault, and only two kinds of error say so
for certain: one raised while binding the arguments, before the statement reaches the
server, and text PostgreSQL cannot hold (the gateway stores no such text, so it came with
the request). Anything else a request could make the server refuse is validated before it
reaches the database.

Only UNAVAILABLE is an outage. asyncpg raises its own `DataError` (SQLSTATE 22000) for a
query argument it cannot encode, from the encoder's exception and with none of the fields
a server error carries (`severity` …), and SQLAlchemy wraps it as a bare `DBAPIError`, so
the class hierarchy alone cannot tell a bad value from a lost connection; the SQLSTATE and
the error's origin can.
"""

from __future__ import annotations

import enum

import asyncpg
from sqlalchemy import exc as sa_exc

_TEXT_STATES = frozenset({"22021", "22P05"})  # character_not_in_repertoire, untranslatable
_BUSY_STATES = frozenset({"57014", "40001", "40P01", "55P03"})
_CONNECTION_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "3D000"})
_CONNECTION_CLASSES = ("08", "28")  # connection exception, invalid authorization


class DatabaseFailure(enum.StrEnum):
    TEXT_NOT_STORABLE = "text_not_storable"
    VALUE_NOT_STORABLE = "value_not_storable"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    BUG = "bug"


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc`, the driver error it wraps (`orig`) and their causes, each once."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [getattr(current, "orig", None), current.__cause__]
    return seen


def _sqlstate(chain: list[BaseException]) -> str | None:
    for error in chain:
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def _raised_while_binding(chain: list[BaseException]) -> bool:
    """Whether asyncpg raised the data error itself while encoding a query argument: an
    error the server sent always carries its severity; one the driver raises carries none."""
    return any(
        isinstance(error, asyncpg.PostgresError) and error.severity is None for error in chain
    )


def classify(exc: BaseException) -> DatabaseFailure:
    """The failure `exc` (raised by SQLAlchemy over asyncpg) stands for; never raises."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to give in time
        return DatabaseFailure.UNAVAILABLE
    chain = _chain(exc)
    if any(isinstance(error, UnicodeError) for error in chain):
        return DatabaseFailure.TEXT_NOT_STORABLE
    state = _sqlstate(chain)
    if state in _TEXT_STATES:
        return DatabaseFailure.TEXT_NOT_STORABLE
    if state is not None and state.startswith("22") and _raised_while_binding(chain):
        return DatabaseFailure.VALUE_NOT_STORABLE
    if state in _BUSY_STATES:
        return DatabaseFailure.BUSY
    if (
        state in _CONNECTION_STATES
        or (state is not None and state.startswith(_CONNECTION_CLASSES))
        or getattr(exc, "connection_invalidated", False)
        # No statement: the error came while connecting (e.g. the database refuses them).
        or (isinstance(exc, sa_exc.DBAPIError) and exc.statement is None)
        or any(isinstance(error, OSError | TimeoutError) for error in chain)
    ):
        return DatabaseFailure.UNAVAILABLE
    return DatabaseFailure.BUG
