"""Secrets at rest (AES-GCM with key rotation) and API-key authentication."""
