"""Directo for a company: the integration switch, credentials per company or client,
connection tests, and connection health."""
