"""Paid status: reading exported invoices' balances back from Directo."""
