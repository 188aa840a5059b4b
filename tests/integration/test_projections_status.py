"""`qualtrace projections status` as a health check, on a real database: it exits 0 when
every projection is caught up, and non-zero when one is behind and not moving (here: no
projection worker runs at all)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from application.base import Call
from application.security import Principal
from qualtrace import cli

ADMIN = Principal("admin", "Admin", "admin")


def status(capsys: Any) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli.main(["projections", "status", "--json", "--interval", "0.3"])
    return code, json.loads(capsys.readouterr().out)


def test_status_exits_0_when_caught_up_and_1_when_a_projection_is_stuck_behind(
    container: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DATABASE_URL", container.url)
    app = container.app
    # Events in the store, and no projection worker running: every projection is behind
    # the head and does not move between the two samples.
    app.org.register_region(Call(ADMIN, "t"), "SH", "上海")
    last = app.org.register_project(Call(ADMIN, "t"), "P1", "绿地花园", "SH")
    code, report = status(capsys)
    assert code == 1
    assert report["healthy"] is False and report["head"] >= last.position
    org = report["projections"]["org"]
    assert org["state"] == "stuck" and org["lag"] == report["head"] - org["position"] > 0

    # A worker catches up once: every projection at the head, lag 0, exit 0.
    container.run_projections_once()
    code, report = status(capsys)
    assert code == 0, report
    assert report["healthy"] is True
    assert {p["state"] for p in report["projections"].values()} == {"caught up"}
    assert all(p["position"] == report["head"] for p in report["projections"].values())

    # One more event and still no worker: stuck again, one event behind.
    app.org.register_region(Call(ADMIN, "t"), "BJ", "北京")
    code, report = status(capsys)
    assert code == 1 and report["projections"]["org"]["lag"] == 1
