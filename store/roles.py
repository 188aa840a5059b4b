"""Database rights: the service runs as `qualtrace_app`, which may INSERT and SELECT
events but never UPDATE, DELETE or TRUNCATE them; reporting tools use
`qualtrace_reporting` (its grants on the `reporting` schema come from
`projections.kpis.reporting`, handed in as `reporting_role`).

`qualtrace db setup-roles` runs these statements as the database's owner (an admin
login, not the service). It is idempotent: run it again after an upgrade that adds
tables or projections.

- The events table stays owned by the admin: `qualtrace_app` gets SELECT and INSERT
  on it (and the sequence behind `notification_id`), nothing else.
- `qualtrace_app` owns the read side (`qt_read`, every projection generation schema
  `qt_<name>_g<N>`, `reporting`) because rebuilding a projection creates and drops
  schemas; it may create schemas in the database and sequences in `public` (the
  yearly human-number sequences).
- Service tables (idempotency keys, API tokens, revoked JWTs, ...) get SELECT,
  INSERT, UPDATE, DELETE; the append-only ones (`personal_data_reads`) SELECT and
  INSERT only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors, sql

from store.schema import EVENTS_TABLE

APP_ROLE = "qualtrace_app"
#: Tables the service may only append to.
APPEND_ONLY = (EVENTS_TABLE, "personal_data_reads", "qt_attachment_refs")  # attach: references
READ_SIDE_PREFIXES = ("qt_",)
EXTRA_OWNED_SCHEMAS = ("reporting",)


def _ensure_role(conn: psycopg.Connection[Any], role: str, password: str | None) -> str:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        except (errors.DuplicateObject, errors.UniqueViolation):
            pass  # created meanwhile by a setup of another database on this server
    if password:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    return "created" if not exists else "exists"


def setup_roles(
    url: str,
    app_password: str | None = None,
    reporting_password: str | None = None,
    *,
    reporting_role: Callable[[psycopg.Connection[Any], str | None], bool] | None = None,
) -> list[str]:
    """Create or update the roles and their grants; return a report, one line per step.

    `reporting_role(conn, password)` sets up the read-only reporting role (the read side
    owns it: `projections.kpis.reporting.ensure_role`, passed by the composition root)."""
    report: list[str] = []
    app = sql.Identifier(APP_ROLE)
    with psycopg.connect(url, autocommit=True) as conn:
        report.append(f"role {APP_ROLE}: {_ensure_role(conn, APP_ROLE, app_password)}")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('qt_setup_roles'))")
            # The admin must be a member to hand objects over (needed when it is not a superuser).
            is_super = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if not (is_super and is_super[0]):
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(app))
            db = sql.Identifier(conn.info.dbname)
            conn.execute(
                sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(db, app)
            )
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(app))
            # Service tables and sequences in public: full DML ...
            conn.execute(
                sql.SQL(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
                ).format(app)
            )
            conn.execute(
                sql.SQL(
                    "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}"
                ).format(app)
            )
            conn.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
                ).format(app)
            )
            conn.execute(
                sql.SQL(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}"
                ).format(app)
            )
            # ... except the append-only ones: SELECT and INSERT, never UPDATE/DELETE/TRUNCATE.
            for table in APPEND_ONLY:
                found = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
                if found is None or found[0] is None:
                    continue
                t = sql.Identifier("public", table)
                conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(t, app))
                conn.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(t))
                conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(t, app))
                report.append(f"{table}: {APP_ROLE} may SELECT, INSERT only")
            # The read side belongs to the service: rebuilds create and drop schemas.
            schemas = [
                r[0]
                for r in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qt\\_%%' OR nspname = ANY(%s)",
                    (list(EXTRA_OWNED_SCHEMAS),),
                ).fetchall()
            ]
            for schema in schemas:
                conn.execute(
                    sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), app)
                )
                rels = conn.execute(
                    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p')",
                    (schema,),
                ).fetchall()
                for name, kind in rels:
                    what = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(kind, "TABLE")
                    conn.execute(
                        sql.SQL("ALTER {} {} OWNER TO {}").format(
                            sql.SQL(what), sql.Identifier(schema, name), app
                        )
                    )
                # Sequences behind serial columns moved with their tables; any other, usable.
                conn.execute(
                    sql.SQL(
                        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}"
                    ).format(sql.Identifier(schema), app)
                )
            report.append(
                f"read-side schemas owned by {APP_ROLE}: {', '.join(sorted(schemas)) or 'none yet'}"
            )
        if reporting_role is not None:
            ok = reporting_role(conn, reporting_password)
            report.append(
                "role qualtrace_reporting: " + ("ready" if ok else "not created (no CREATEROLE)")
            )
    return report
