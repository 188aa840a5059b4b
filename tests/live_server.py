"""The composed service behind a real uvicorn on 127.0.0.1, in a thread, on its own
database made from the suite's template (for tests that need real sockets: streaming,
a browser)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from tests.conftest import _with_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_service(
    pg_admin_url: str, template_db: str, name: str, **settings: Any
) -> Iterator[tuple[Any, str]]:
    """(container, base URL) of a started service with its projections running; stopped
    and its database dropped afterwards. `name` names the server thread."""
    import uvicorn

    from api.app import create_app
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    dbname = f"qt_l_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template_db}"')
    container = bootstrap(
        Settings(database_url=_with_db(pg_admin_url, dbname), **settings), setup=True
    )
    container.start_projections()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)
        yield container, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        container.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
