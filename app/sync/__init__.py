"""Pulling customers and articles from Directo into PostgreSQL: the import flow
(`catalogue`), the rows it builds (`catalogue_rows`), starting imports (`imports`,
`refresh`) and their thin job adapters (`jobs`)."""
