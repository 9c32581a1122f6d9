"""A Directo XML Direct look-alike: seeded EE/LV data, faults, puts, admin routes.

Run it with ``directo-gateway sandbox --port 8765`` (or `run_sandbox`) and point the
gateway's ``GATEWAY_DIRECTO__BASE_URL`` at ``http://127.0.0.1:8765``.

Default databases and tokens:

```text
token                    database  legacy URL code  may use
sandbox-token-ee         demo_ee   demo_ee          every component (get and put)
sandbox-token-lv         demo_lv   demo_lv          every component (get and put)
sandbox-token-ee-cards   demo_ee   demo_ee          get customer, get item only
sandbox-token-revoked    demo_ee   demo_ee          nothing: answers Unauthorized
```

Each database holds 500 customers, 60 items and 18 months (up to today) of invoices,
receipts, purchases and transactions; see `data` for the rules tests may rely on, `app`
for how requests are answered (and `config.ServerMode` for the stricter readings of
routing and filter dates some sources report), `puts` for put result types and `admin`
for the ``/_sandbox/…`` routes. Receipts come in the shape Directo's output schema has
(dated on their rows; header dates with ``DatabaseSpec.receipt_header_dates``). Example::

    curl -d token=sandbox-token-ee -d get=1 -d what=customer -d ts=01.06.2025 \\
         http://127.0.0.1:8765/xmlcore/cap_xml_direct/xmlcore.asp
"""

from app.directo.sandbox.app import create_sandbox_app
from app.directo.sandbox.config import DatabaseSpec, Faults, ServerMode, Sizes, TokenSpec
from app.directo.sandbox.server import run_sandbox, serve_in_thread
from app.directo.sandbox.state import SandboxState
from app.directo.sandbox.store import SandboxDatabase

__all__ = [
    "DatabaseSpec",
    "Faults",
    "SandboxDatabase",
    "SandboxState",
    "ServerMode",
    "Sizes",
    "TokenSpec",
    "create_sandbox_app",
    "run_sandbox",
    "serve_in_thread",
]
