"""Payment-term codes of a Directo connection (company or client): day count → code."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import UnitOfWorkDep
from app.api.params import ClientId, CompanyId
from app.api.responses import problems
from app.exports import terms
from app.exports.schemas import (
    PaymentTermsIn,
    PaymentTermsOut,
)

router = APIRouter(tags=["invoice export"])

# A register code: no surrounding whitespace, nothing XML or PostgreSQL cannot carry
# (control characters, lone surrogates).


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
