"""Repositories: every SQL statement of the gateway. They flush, never commit."""
