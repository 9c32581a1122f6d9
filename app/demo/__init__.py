"""`directo-gateway demo`: the whole flow against a running gateway and the sandbox.

Enable, connect with the sandbox token, import customers and articles, link a client,
summary settings, reload, export an invoice, pay it through the sandbox's receipt route,
and receive the signed `invoice.paid` on a loopback webhook receiver — printing each
step, what came back and where the operations console shows it. Only HTTP: it uses the
API as Uku's backend would, so it is also a working example of the order of calls.
"""

from app.demo.flow import DemoFailed, DemoOptions, run_demo

__all__ = ["DemoFailed", "DemoOptions", "run_demo"]
