"""HTTP API: thin routers, one per resource. No SQL and no XML here."""
