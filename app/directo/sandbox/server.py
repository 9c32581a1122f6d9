"""Serving the sandbox: `run_sandbox` for the CLI, `serve_in_thread` for tests/benchmarks."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from app.directo.sandbox.app import create_sandbox_app
from app.directo.sandbox.state import SandboxState


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    state: SandboxState | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox with uvicorn until interrupted (blocks)."""
    uvicorn.run(create_sandbox_app(state), host=host, port=port, log_level=log_level)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(
    state: SandboxState | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_level: str = "critical",
) -> Iterator[str]:
    """Run the sandbox on a background thread over real HTTP; yields its base URL.

    The server is stopped (and the thread joined) on exit. Raises ``RuntimeError`` if it
    does not start within 10 s.
    """
    port = port or free_port(host)
    config = uvicorn.Config(
        create_sandbox_app(state), host=host, port=port, log_level=log_level, access_log=False,
        lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
