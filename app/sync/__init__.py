"""Pulling from Directo into PostgreSQL: flows (`service`-style modules, no arq), their thin
job adapters, and the import-day schedule."""
