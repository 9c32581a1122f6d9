"""The mapping's rules for the invoice header's own values — pure functions:

* **number** — the digits of the Uku number in order (`INV-2026-0042` → `20260042`); no
  digits, zero, or a digit other than 0–9 (`INV-2026-١٢`: dropping it would silently
  change the number) is `invoice_number_invalid`; more than 9 digits is
  `invoice_number_too_long` (Directo's input schemas type document numbers as an int of
  length 9, PROTOCOL §7);
* **payment term** — days from invoice date to due date (else the client's payment
  period; before the invoice date: `payment_term_invalid`, neither: `payment_term_missing`),
  sent as the connection's code for that day count if mapped, else as the count.

A rule that cannot map its value raises `MappingProblem` (`mapping.py` collects them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from app.errors import ProblemItem

# Directo's input schemas: `number` is `xsd:int` "length: 9" (PROTOCOL §4.2, §7).
DIRECTO_MAX_DIGITS = 9
DIRECTO_MAX_NUMBER = 10**DIRECTO_MAX_DIGITS - 1


class MappingProblem(Exception):
    """A rule's verdict that the invoice cannot be mapped as it is; `item` says why."""

    def __init__(self, item: ProblemItem) -> None:
        super().__init__(item.message)
        self.item = item


def _number_problem(uku_number: str, code: str, message: str, fix: str) -> MappingProblem:
    return MappingProblem(
        ProblemItem(
            code=code,
            message=f"Invoice number {uku_number!r} {message}",
            loc=["number"],
            fix=fix,
            context={"number": uku_number},
        )
    )


def directo_number(uku_number: str) -> int:
    """The digits of `uku_number` as Directo's integer number; raises MappingProblem."""
    # A digit of another script (Arabic-Indic, full-width, superscript …) is a digit to the
    # reader: dropping it would send another number than the one on the invoice.
    foreign = [c for c in uku_number if c.isnumeric() and not ("0" <= c <= "9")]
    if foreign:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in dict.fromkeys(foreign))
        raise _number_problem(
            uku_number,
            "invoice_number_invalid",
            f"holds digits other than 0–9: {shown}. Directo numbers are made of the "
            "invoice number's digits 0–9 only.",
            "Write the invoice number with the digits 0–9 (e.g. INV-2026-0042).",
        )
    digits = "".join(c for c in uku_number if "0" <= c <= "9")
    if not digits or int(digits) == 0:
        raise _number_problem(
            uku_number,
            "invoice_number_invalid",
            "has no digits: Directo numbers are integers."
            if not digits
            else f"gives {digits}, which is zero: Directo numbers start at 1.",
            "Use an invoice number series whose digits form a number from 1 up to 999999999.",
        )
    value = int(digits)
    if value > DIRECTO_MAX_NUMBER:
        raise _number_problem(
            uku_number,
            "invoice_number_too_long",
            f"gives {value}, {len(str(value))} digits: Directo's document numbers have at "
            f"most {DIRECTO_MAX_DIGITS}.",
            "Use a shorter number series in Uku, e.g. a two-digit year or fewer leading "
            "zeros (INV-26-0042 → 260042), so the digits form at most 9 digits.",
        )
    return value


def payment_term_days(
    invoice_date: dt.date, due_date: dt.date | None, *, default_days: int | None
) -> int:
    """Days between invoice and due date (or the client's payment period); raises MappingProblem."""
    if due_date is None:
        if default_days is None:
            raise MappingProblem(
                ProblemItem(
                    code="payment_term_missing",
                    message="The invoice has no due date and the client has no payment period.",
                    loc=["due_date"],
                    fix="Set a due date, or a payment period in the client's billing settings.",
                )
            )
        return default_days
    days = (due_date - invoice_date).days
    if days < 0:
        raise MappingProblem(
            ProblemItem(
                code="payment_term_invalid",
                message=f"The due date {due_date} is before the invoice date {invoice_date}.",
                loc=["due_date"],
                fix="Set a due date on or after the invoice date.",
            )
        )
    return days


def payment_term_code(days: int, codes: Mapping[int, str]) -> str:
    """What `paymentterm` carries: the connection's code for `days`, else the day count."""
    return codes.get(days, str(days))
