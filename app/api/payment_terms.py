"""Payment-term codes of a Directo connection (company or client): day count → code."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.api.deps import UnitOfWorkDep
from app.api.params import ClientId, CompanyId
from app.api.responses import problems
from app.db.models import Connection
from app.exports import terms

router = APIRouter(tags=["invoice export"])

Days = Annotated[int, Field(ge=0, le=3650)]
# A register code: no surrounding whitespace, nothing XML or PostgreSQL cannot carry
# (control characters, lone surrogates).
_NOT_IN_A_CODE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _storable(code: str) -> str:
    if code != code.strip() or _NOT_IN_A_CODE.search(code):
        raise ValueError("a code has no surrounding spaces and no control characters")
    return code


TermCode = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_storable)]
_CODES_DESCRIPTION = (
    "Payment term in days (as a JSON object key) → the Directo database's payment-term "
    'code, e.g. {"14": "N14", "30": "30P"}; a term not listed is sent as its day count'
)


class PaymentTermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: dict[Days, TermCode] = Field(max_length=500, description=_CODES_DESCRIPTION)


class PaymentTermsOut(BaseModel):
    connection_id: uuid.UUID
    codes: dict[int, str] = Field(description=_CODES_DESCRIPTION)

    @classmethod
    def of(cls, connection: Connection, codes: dict[int, str]) -> PaymentTermsOut:
        return cls(connection_id=connection.id, codes=codes)


@router.get(
    "/companies/{company_id}/directo/connection/payment-terms",
    response_model=PaymentTermsOut,
    responses=problems(404, 422),
)
async def get_company_terms(company_id: CompanyId, uow: UnitOfWorkDep) -> PaymentTermsOut:
    """The company connection's payment-term codes."""
    return PaymentTermsOut.of(*await terms.codes_for(uow.session, company_id, None))


@router.put(
    "/companies/{company_id}/directo/connection/payment-terms",
    response_model=PaymentTermsOut,
    responses=problems(404, 422),
)
async def put_company_terms(
    company_id: CompanyId, body: PaymentTermsIn, uow: UnitOfWorkDep
) -> PaymentTermsOut:
    """Replace the company connection's payment-term codes (used by exports validated
    from now on; `{"codes": {}}` sends day counts again)."""
    connection, codes = await terms.replace(uow.session, company_id, None, body.codes)
    return PaymentTermsOut.of(connection, codes)


@router.get(
    "/companies/{company_id}/clients/{client_id}/directo/connection/payment-terms",
    response_model=PaymentTermsOut,
    responses=problems(404, 422),
)
async def get_client_terms(
    company_id: CompanyId, client_id: ClientId, uow: UnitOfWorkDep
) -> PaymentTermsOut:
    """The payment-term codes of the client's own connection."""
    return PaymentTermsOut.of(*await terms.codes_for(uow.session, company_id, client_id))


@router.put(
    "/companies/{company_id}/clients/{client_id}/directo/connection/payment-terms",
    response_model=PaymentTermsOut,
    responses=problems(404, 422),
)
async def put_client_terms(
    company_id: CompanyId, client_id: ClientId, body: PaymentTermsIn, uow: UnitOfWorkDep
) -> PaymentTermsOut:
    """Replace the payment-term codes of the client's own connection (its own database)."""
    connection, codes = await terms.replace(uow.session, company_id, client_id, body.codes)
    return PaymentTermsOut.of(connection, codes)
