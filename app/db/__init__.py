"""Persistence: SQLAlchemy models, the session factory, and repositories (all SQL lives here)."""
