"""The staff register's lifecycle over HTTP (docs/dispatch.md): 调岗 `move` to another
project or department, 离职 `leave`, and `rejoin`; each an attributed event in the
person's audit history, and dispatch suggestions follow: a person who left or moved away
is no longer suggested for the old project's tickets, one who moved in or came back is."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_dispatch_suggestions import ticket

PM1 = {"role": "project_manager", "user": "pm.1", "name": "Qian Li", "projects": ("P1",)}


class Register:
    def __init__(self, api: Any) -> None:
        self.api = api
        self.position = 0

    def ok(self, r: Any, status: int = 200) -> dict[str, Any]:
        assert r.status_code == status, r.text
        body: dict[str, Any] = r.json()
        self.position = max(self.position, int(body.get("position", 0)))
        return body

    def post(self, path: str, body: Any, status: int = 200, **who: Any) -> dict[str, Any]:
        return self.ok(self.api.post(path, body, **(who or {"role": "admin"})), status)

    def read(self, path: str, role: str = "auditor", **params: Any) -> dict[str, Any]:
        """GET after the read side has this test's last command: `min_position` waits a
        few seconds at most, so on a busy machine ask again until the answer says so."""
        deadline = time.monotonic() + 60
        while True:
            r = self.api.get(path, role=role, params={"min_position": self.position, **params})
            assert r.status_code == 200, r.text
            if int(r.headers["X-Read-Position"]) >= self.position:
                body: dict[str, Any] = r.json()
                return body
            assert time.monotonic() < deadline, f"the read side never reached {self.position}"

    def candidates(self, ticket_id: str) -> list[tuple[str, str]]:
        items = self.read(f"/tickets/{ticket_id}/dispatch-suggestions", "supervisor")["items"]
        return [(i["staff_id"], i["department"]) for i in items]

    def listed(self, **params: Any) -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in self.read("/staff", **params)["items"]}

    def head(self) -> int:
        return int(self.api.container.app.recorder.max_notification_id() or 0)


@pytest.fixture
def reg(api: Any) -> Register:
    api.setup_org()
    r = Register(api)
    for user, project, skills in (
        ("wang.wei", "P1", ["engineering.plumbing_electrical"]),
        ("li.qiang", "P1", ["engineering"]),
        ("chen.jie", "P2", ["cleaning"]),
    ):
        body = {"id": user, "name": user, "project": project, "department": "engineering"}
        r.post("/staff", {**body, "skills": skills}, 201)
    return r


def test_move_leave_and_rejoin_are_attributed_events_and_suggestions_follow(
    reg: Register, api: Any
) -> None:
    t1 = reg.post("/tickets", ticket(project="P1"), 201, role="supervisor")["id"]
    t2 = reg.post("/tickets", ticket(project="P2"), 201, role="supervisor")["id"]
    assert reg.candidates(t1) == [("wang.wei", "engineering"), ("li.qiang", "engineering")]
    assert reg.candidates(t2) == [("chen.jie", "engineering")]

    # 调岗: li.qiang moves to P2's cleaning department.
    moved = reg.post(
        "/staff/li.qiang/move", {"project": "P2", "department": "cleaning", "reason": "支援 P2"}
    )
    assert [i for i, _ in reg.candidates(t1)] == ["wang.wei"]
    # (li.qiang first: his engineering skill matches the leak, chen.jie's cleaning does not)
    assert reg.candidates(t2) == [("li.qiang", "cleaning"), ("chen.jie", "engineering")]
    li = reg.listed()["li.qiang"]
    assert (li["project"], li["department"], li["status"]) == ("P2", "cleaning", "active")
    assert li["skills"] == ["engineering"]  # skills go with the person

    # 离职: wang.wei leaves; P1 has nobody to suggest; the record is still listed.
    reg.post("/staff/wang.wei/leave", {"reason": "合同到期"})
    assert reg.candidates(t1) == []
    assert reg.listed()["wang.wei"]["status"] == "left"
    assert list(reg.listed(status="left")) == ["wang.wei"]
    assert sorted(reg.listed(status="active")) == ["chen.jie", "li.qiang"]

    # Back (返聘) at P1, in engineering again, with the skills kept: suggested again.
    reg.post(
        "/staff/wang.wei/rejoin",
        {"project": "P1", "department": "engineering", "reason": "返聘"},
    )
    assert reg.candidates(t1) == [("wang.wei", "engineering")]
    wang = reg.listed()["wang.wei"]
    assert (wang["status"], wang["skills"]) == ("active", ["engineering.plumbing_electrical"])

    # Each step is an event in the person's history, attributed, with its reason.
    history = reg.read(f"/audit/{moved['id']}")
    assert [e["type"] for e in history["events"]] == ["Registered", "Moved"]
    step = history["events"][1]
    assert step["actor"]["role"] == "admin" and step["reason"] == "支援 P2"
    assert (step["data"]["previous_project"], step["data"]["previous_department"]) == (
        "P1",
        "engineering",
    )
    assert step["summary"].startswith("Moved to cleaning at P2 (was engineering at P1) by ")
    wang_id = reg.listed()["wang.wei"]["uuid"]
    history = reg.read(f"/audit/{wang_id}")
    assert [e["type"] for e in history["events"]] == ["Registered", "Left", "Rejoined"]
    assert "合同到期" in history["events"][1]["summary"]


def test_steps_a_state_does_not_allow_and_bad_input_record_nothing(reg: Register, api: Any) -> None:
    reg.post("/staff/wang.wei/leave", {"reason": "离职"})
    head = reg.head()
    # Left: no skills change, no second leave, no move (rejoin is the way back): 409.
    for path, body in (
        ("/staff/wang.wei/skills", {"skills": ["engineering"]}),
        ("/staff/wang.wei/leave", {"reason": "again"}),
        ("/staff/wang.wei/move", {"project": "P1", "department": "cleaning", "reason": "x"}),
    ):
        r = api.post(path, body)
        assert r.status_code == 409, (path, r.text)
        assert "rejoin" in r.text
    # Active: rejoin is 409; a move to where they already are is 409 and says so.
    r = api.post(
        "/staff/li.qiang/rejoin", {"project": "P1", "department": "engineering", "reason": "x"}
    )
    assert r.status_code == 409, r.text
    same = {"project": "P1", "department": "engineering", "reason": "no change"}
    r = api.post("/staff/li.qiang/move", same)
    assert r.status_code == 409 and "already works in engineering at P1" in r.text
    # Bad input names the field: an unknown department, no reason, an unknown project.
    r = api.post("/staff/li.qiang/move", {"project": "P2", "department": "kitchen", "reason": "x"})
    assert r.status_code == 422 and "department" in r.text
    r = api.post("/staff/li.qiang/leave", {})
    assert r.status_code == 422 and "reason" in r.text
    r = api.post("/staff/li.qiang/move", {"project": "P9", "department": "cleaning", "reason": "x"})
    assert r.status_code == 422 and "unknown project code 'P9'" in r.text
    assert reg.head() == head  # nothing was recorded


def test_scope_and_roles(reg: Register, api: Any) -> None:
    head = reg.head()
    # P1's project manager may not move someone into P2: 422, as if P2 did not exist.
    r = api.post(
        "/staff/li.qiang/move", {"project": "P2", "department": "cleaning", "reason": "x"}, **PM1
    )
    assert r.status_code == 422 and "unknown project code 'P2'" in r.text
    # ... nor touch P2's staff at all: 404, like a missing person.
    r = api.post("/staff/chen.jie/leave", {"reason": "x"}, **PM1)
    assert r.status_code == 404, r.text
    # A supervisor may set skills but not move or dismiss anyone: 403.
    for path, body in (
        ("/staff/li.qiang/leave", {"reason": "x"}),
        ("/staff/li.qiang/move", {"project": "P1", "department": "cleaning", "reason": "x"}),
    ):
        assert api.post(path, body, role="supervisor").status_code == 403
    assert reg.head() == head
    # Within scope it works.
    reg.post(
        "/staff/li.qiang/move",
        {"project": "P1", "department": "cleaning", "reason": "转保洁"},
        **PM1,
    )
    assert reg.listed()["li.qiang"]["department"] == "cleaning"
