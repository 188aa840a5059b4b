"""Database rights: `qualtrace db setup-roles` creates `qualtrace_app`, which appends and
reads events but can never UPDATE, DELETE or TRUNCATE them; the service runs as it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.base import Call
from application.security import Principal
from qualtrace.bootstrap import setup_roles
from store.roles import APP_ROLE

PASSWORD = "app-secret-for-tests"
ADMIN = Call(Principal("admin", "Admin", "admin"), "corr-1")
DESK = Call(Principal("li.na", "Li Na", "supervisor"), "corr-2")


def as_app(url: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "user": APP_ROLE, "password": PASSWORD})


def seed(c: Any) -> str:
    c.app.org.register_region(ADMIN, "SH", "上海")
    c.app.org.register_project(ADMIN, "P1", "绿地花园", "SH")
    t = c.app.tickets.receive(
        DESK,
        project="P1",
        kind="repair",
        channel="phone",
        priority="high",
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    )
    c.app.personal_data.record_read(DESK.principal, c.app.tickets.get(DESK, t.id))
    return t.id


def test_setup_roles_via_the_cli_is_idempotent_and_reports_what_it_did(
    container: Any, monkeypatch: Any, capsys: Any
) -> None:
    from qualtrace import cli

    monkeypatch.setenv("DATABASE_URL", container.url)
    for _ in range(2):
        assert cli.main(["db", "setup-roles", "--app-password", PASSWORD]) == 0
        out = capsys.readouterr().out
        assert f"qualtrace_events: {APP_ROLE} may SELECT, INSERT only" in out
        assert "read-side schemas owned by qualtrace_app" in out


def test_the_app_role_appends_and_reads_events_but_cannot_update_delete_or_truncate_them(
    container: Any,
) -> None:
    seed(container)
    setup_roles(container.url, app_password=PASSWORD)
    with psycopg.connect(as_app(container.url), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        (count,) = conn.execute("SELECT count(*) FROM qualtrace_events").fetchone() or (0,)
        assert count >= 3
        assert conn.execute("SELECT count(*) FROM personal_data_reads").fetchone() == (1,)
        refused = [
            "UPDATE qualtrace_events SET topic = topic",
            "DELETE FROM qualtrace_events",
            "TRUNCATE qualtrace_events",
            "UPDATE personal_data_reads SET via = 'x'",
            "DELETE FROM personal_data_reads",
            "TRUNCATE personal_data_reads",
            # Nor can it get around the append-only triggers or drop the table: it is not the owner.
            "ALTER TABLE qualtrace_events DISABLE TRIGGER ALL",
            "DROP TABLE qualtrace_events",
        ]
        for statement in refused:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(container.url) as conn:
        assert conn.execute("SELECT count(*) FROM qualtrace_events").fetchone() == (count,)


def test_the_service_runs_as_the_app_role_commands_projections_and_rebuilds(container: Any) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.tokens import TokenStore
    from qualtrace.bootstrap import bootstrap
    from qualtrace.settings import Settings

    seed(container)
    setup_roles(container.url, app_password=PASSWORD)
    url = as_app(container.url)
    c = bootstrap(Settings(database_url=url, pool_size=2, setup_schema=False), setup=False)
    try:
        _, token = TokenStore(url).create("sup", "Zhao Lei", "supervisor")
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(c)) as client:
            t = client.post(
                "/tickets",
                headers=headers,
                json={
                    "project": "P1",
                    "kind": "complaint",
                    "channel": "app",
                    "priority": "low",
                    "category": "噪音",
                    "description": "楼上装修噪音",
                    "reporter": {"name": "李四", "unit": "2-302", "phone": "13900001111"},
                },
            )
            assert t.status_code == 201, t.text
            key = {"Idempotency-Key": "3b7e0c1e-0a51-4d1c-9d0c-1f2a3b4c5d6e"}
            r = client.post(
                f"/tickets/{t.json()['id']}/dispatch",
                headers={**headers, **key},
                json={"department": "engineering", "assignee": "wang"},
            )
            assert r.status_code == 200, r.text
            assert c.run_projections_once() > 0
            listed = client.get("/tickets", headers=headers).json()["items"]
            assert {i["status"] for i in listed} == {"received", "dispatched"}
            # Reading personal data unmasked is recorded by the app role too.
            assert client.get(f"/tickets/{t.json()['id']}", headers=headers).status_code == 200
        # A rebuild creates a new generation schema and drops the old one: the app role owns the read side.
        rebuilt = c.rebuild("tickets")
        assert rebuilt["generation"] >= 2 and rebuilt["position"] > 0
    finally:
        c.close()
    with psycopg.connect(container.url) as conn:
        assert conn.execute("SELECT count(*) FROM personal_data_reads").fetchone() == (2,)
