"""A bootstrapped Qualtrace container on a scratch database, for the benchmarks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from qualtrace.bootstrap import bootstrap
from qualtrace.settings import Settings


def with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@contextmanager
def bench_container(
    admin_url: str | None = None, url: str | None = None, pool_size: int = 2
) -> Iterator[Any]:
    """A container (no projection threads) on `url` as is, or on a scratch database
    created on `admin_url` (default TEST_DATABASE_URL / DATABASE_URL) and dropped afterwards."""
    scratch = None
    if url is None:
        admin_url = (
            admin_url or os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
        )
        if not admin_url:
            raise SystemExit("give --admin-url (or TEST_DATABASE_URL / DATABASE_URL)")
        scratch = f"qt_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        url = with_db(admin_url, scratch)
    c = bootstrap(
        Settings(database_url=url, pool_size=pool_size, run_projections=False), setup=True
    )
    try:
        yield c
    finally:
        c.close()
        if scratch and admin_url:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
