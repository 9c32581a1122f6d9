"""The operations console at `/ops`: server-rendered pages for support and operations people.

A composition root beside `app.api`: it reads and acts through the same services and
repositories the API uses (connections, jobs, reloads, exports, webhooks) and renders them
as HTML (Jinja2 templates, a little plain JavaScript for live progress, every asset served
from `app/console/static`). It is off — every `/ops` path 404 — until
`GATEWAY_OPS__KEYS` names at least one operations key.

Security, in one place (`session.py`, `deps.py`): sign-in with an operations key compared
in constant time; a signed, expiring, HttpOnly, SameSite=Strict session cookie (Secure
behind https); a per-session CSRF token checked on every POST; each action logged with the
operator's key fingerprint (never the key). No token, secret or key is ever rendered.
"""
