"""The DirectoError tree: every way a call to Directo can fail, classified.

Each error carries a stable ``code`` (what the API and job records store), a ``hint``
a person can act on, and ``retryable`` (whether trying the same call again later can
help). Messages and reprs never contain the token: errors are built from what Directo
answered, never from the request.

```text
DirectoError                         code                 retryable
├── DirectoTransportError            directo_unavailable  yes  connect/read failure, dropped stream
│   └── DirectoTimeout               timeout              yes  connect or read timed out
├── DirectoUpstreamError             directo_unavailable  yes  HTTP 5xx / 429 from Directo
├── DirectoOutcomeUnknown            outcome_unknown      no   a put may have reached Directo but
│                                                              no answer came back: look the
│                                                              document up by number first
├── DirectoAuthError                                      no
│   ├── DirectoUnauthorized          unauthorized         no   <result type="5" …/>: bad token,
│   │                                                          or feed not licensed for it
│   └── DirectoTokenMissing          token_missing        no   <err>token required</err>
├── DirectoResponseError             unexpected_response  no   well-formed but not what was asked,
│   │                                                          or an error answer (<error>, <err>,
│   │                                                          <results error="1">) with Directo's
│   │                                                          own text, which it keeps
│   ├── DirectoInvalidUrl            invalid_url          no   <result type="404" desc="Invalid url
│   │                                                          given"/>: the request was not routed
│   ├── DirectoDateFormatMismatch    date_format_mismatch no   Directo could not read a date filter
│   └── DirectoDecodeError           decode_error         no   malformed or hostile XML
│       └── DirectoTruncatedError    truncated_response   yes  the body ended before the document
└── DirectoPutRejected               put_rejected / kind  no   a <Result> with a failing Type
```

After a put was sent, only answers that say what happened count: a result, an auth
refusal, or ``Invalid url given`` (not routed, so nothing stored). The client turns every
other `DirectoError` of a put's answer into `DirectoOutcomeUnknown`, keeping Directo's
words in ``directo_text`` when the answer was an error text (Directo answered; only a
look-up tells whether it stored the document).

Only ``retryable`` errors should become job retries; Directo asks for ≥ 60 s between tries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from app.directo.schemas import PutResult

REGENERATE_KEY_HINT = (
    "The token is invalid, expired, revoked, belongs to another company, or this feed is "
    "not licensed for it: regenerate the key in Directo: Personal → Employees → the "
    "integration user → Admin tab, and check which feeds the key may use."
)


class DirectoError(Exception):
    """Base of every Directo failure; ``code`` is stable, ``hint`` is for people."""

    code: ClassVar[str] = "directo_error"
    default_hint: ClassVar[str] = "Try again later; if it persists, contact support."
    retryable: bool = False
    # Directo's own words, when the error is an answer that carried some (an error text).
    directo_text: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class DirectoTransportError(DirectoError):
    """The request or the response stream failed on the network."""

    code = "directo_unavailable"
    default_hint = "Directo could not be reached; the call will be retried later."
    retryable = True


class DirectoTimeout(DirectoTransportError):
    """Connecting or waiting for the next bytes took longer than the configured timeout."""

    code = "timeout"
    default_hint = "Directo did not answer in time; the call will be retried later."


class DirectoUpstreamError(DirectoError):
    """Directo (or a proxy in front of it) answered with HTTP 5xx or 429."""

    code = "directo_unavailable"
    default_hint = "Directo is having problems right now; the call will be retried later."
    retryable = True

    def __init__(self, message: str, *, status_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class DirectoOutcomeUnknown(DirectoError):
    """A put was sent but no complete answer came back; it may or may not have been stored.

    Never resend blindly: read the invoice feed filtered by the document number first.
    """

    code = "outcome_unknown"
    default_hint = (
        "Directo may or may not have stored the document: it is looked up by number "
        "before anything is sent again."
    )

    def __init__(
        self, message: str, *, hint: str | None = None, directo_text: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        # Set when Directo answered, in words only (an error text): it has finished with
        # the put, and a look-up tells whether those words were a refusal.
        self.directo_text = directo_text


class DirectoAuthError(DirectoError):
    """Directo refused the credentials."""

    code = "unauthorized"
    default_hint = REGENERATE_KEY_HINT


class DirectoUnauthorized(DirectoAuthError):
    """``<result type="5" desc="Unauthorized"/>``: bad token, or the feed is not licensed."""


class DirectoTokenMissing(DirectoAuthError):
    """``<err>token required</err>``: the request reached Directo without a token."""

    code = "token_missing"
    default_hint = "The connection has no token: paste the XML Direct key again."


class DirectoResponseError(DirectoError):
    """Directo answered something well-formed that is not the answer to this request."""

    code = "unexpected_response"
    default_hint = "Directo answered in an unexpected way; contact support with the job id."


class DirectoInvalidUrl(DirectoResponseError):
    """``<result type="404" desc="Invalid url given"/>``: Directo did not route the request.

    Nothing was read or stored. Seen when the URL is wrong, and reported by a live client
    when ``get``/``put``/``what`` were not in the query string (the gateway sends them in
    the query string and the body).
    """

    code = "invalid_url"
    default_hint = (
        "Directo did not recognise the request's address: check GATEWAY_DIRECTO__BASE_URL "
        "(scheme and host only) and the connection's database code."
    )


DATE_FORMAT_SETTING = "GATEWAY_DIRECTO__DATE_FORMAT"


class DirectoDateFormatMismatch(DirectoResponseError):
    """Directo refused a date in the request's filters ("Invalid date"-style answer).

    The gateway writes filter dates as ``dd.mm.yyyy`` (``dmy``) or ``yyyy-mm-dd``
    (``iso``); a server that reads the other order refuses a day above 12 and silently
    misreads the rest, so this answer means the setting must change. ``suggested`` is
    the setting's other value when the client knows which one it used.
    """

    code = "date_format_mismatch"
    default_hint = (
        f"Directo could not read a date the gateway sent: set {DATE_FORMAT_SETTING} to the "
        "other form (dmy = dd.mm.yyyy, iso = yyyy-mm-dd) and test the connection again."
    )

    def __init__(
        self, message: str, *, suggested: str | None = None, hint: str | None = None
    ) -> None:
        if hint is None and suggested is not None:
            hint = (
                f"Directo could not read a date the gateway sent: set {DATE_FORMAT_SETTING}="
                f"{suggested} and test the connection again."
            )
        super().__init__(message, hint=hint)
        self.suggested = suggested


class DirectoDecodeError(DirectoResponseError):
    """The body is not acceptable XML: malformed, declares a DTD/entities, or too deep."""

    code = "decode_error"
    default_hint = "Directo sent data that could not be read; contact support with the job id."


class DirectoTruncatedError(DirectoDecodeError):
    """The body ended before its document did: nothing of it was used."""

    code = "truncated_response"
    default_hint = "Directo's answer was cut short; the call will be retried later."
    retryable = True


class DirectoPutRejected(DirectoError):
    """Directo answered a put with a failing ``Type`` for one document.

    ``code`` is the result's kind (``duplicate``, ``article_unknown``, …) so callers can map
    it without parsing ``Desc``; ``result`` keeps Directo's own ``Type``/``Desc``.
    """

    code = "put_rejected"
    default_hint = "Directo refused the document; see Directo's message."

    def __init__(self, result: PutResult) -> None:
        super().__init__(
            f"Directo refused the document: Type {result.type} {result.desc!r}",
            hint=result.hint,
        )
        self.result = result
        self.kind_code = result.kind.value

    def __repr__(self) -> str:
        return f"DirectoPutRejected(kind={self.kind_code!r}, message={self.message!r})"
