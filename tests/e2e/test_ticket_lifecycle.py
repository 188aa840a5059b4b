"""A ticket's whole life over HTTP, each step attributed and in its audit history."""

from __future__ import annotations

from typing import Any

TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def test_a_ticket_goes_from_received_to_closed_and_its_history_names_every_actor(api: Any) -> None:
    api.setup_org()
    # The front desk receives the call.
    r = api.post("/tickets", TICKET, role="front_desk", user="li.na", name="Li Na")
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["number"].startswith("TK-2026-") and t["status"] == "received" and t["version"] == 1
    # A supervisor dispatches it to engineering.
    r = api.post(
        f"/tickets/{t['number']}/dispatch",
        {"department": "engineering", "assignee": "wang.wei"},
        role="supervisor",
    )
    assert r.status_code == 200 and r.json()["status"] == "dispatched", r.text
    # The engineer accepts and resolves it.
    assert (
        api.post(
            f"/tickets/{t['id']}/accept", role="staff", user="wang.wei", name="Wang Wei"
        ).json()["status"]
        == "in_progress"
    )
    r = api.post(
        f"/tickets/{t['id']}/resolve",
        {"resolution": "更换水管接头"},
        role="staff",
        user="wang.wei",
        name="Wang Wei",
    )
    assert r.json()["status"] == "resolved"
    # The front desk calls back: satisfied; then closes.
    r = api.post(
        f"/tickets/{t['id']}/callback",
        {"reached": True, "satisfied": True, "rating": 5},
        role="front_desk",
        user="li.na",
        name="Li Na",
    )
    assert r.json()["status"] == "called_back"
    r = api.post(f"/tickets/{t['id']}/close", {}, role="front_desk", user="li.na", name="Li Na")
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["version"] == 6
    position = r.json()["position"]
    # The auditor reads the history, oldest first, each step attributed.
    h = api.get(f"/audit/{t['number']}", role="auditor", params={"min_position": position})
    assert h.status_code == 200, h.text
    assert int(h.headers["X-Read-Position"]) >= position
    events = h.json()["events"]
    assert [e["type"] for e in events] == [
        "Received",
        "Dispatched",
        "Accepted",
        "Resolved",
        "CallbackRecorded",
        "Closed",
    ]
    assert [e["actor"]["name"] for e in events] == [
        "Li Na",
        "Supervisor",
        "Wang Wei",
        "Wang Wei",
        "Li Na",
        "Li Na",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e["correlation_id"] for e in events)
    # The auditor sees the reporter's phone masked.
    assert events[0]["data"]["reporter"]["phone"] == "138****5678"


def test_an_unsatisfied_callback_reopens_the_ticket(api: Any) -> None:
    api.setup_org()
    t = api.post("/tickets", TICKET, role="front_desk").json()
    api.post(
        f"/tickets/{t['id']}/dispatch",
        {"department": "engineering", "assignee": "wang.wei"},
        role="supervisor",
    )
    api.post(f"/tickets/{t['id']}/accept", role="staff")
    api.post(f"/tickets/{t['id']}/resolve", {"resolution": "done"}, role="staff")
    r = api.post(
        f"/tickets/{t['id']}/callback",
        {"reached": True, "satisfied": False, "rating": 2, "comment": "还在漏"},
        role="front_desk",
    )
    assert r.status_code == 200 and r.json()["status"] == "reopened"
    detail = api.get(f"/tickets/{t['id']}", role="supervisor").json()
    assert detail["reopen_count"] == 1 and detail["status"] == "reopened"
    # Closing is now refused, naming the state and allowed steps.
    r = api.post(f"/tickets/{t['id']}/close", {}, role="front_desk")
    assert r.status_code == 409
    body = r.json()
    assert body["state"] == "reopened" and "dispatch" in body["allowed_steps"]
    assert r.headers["content-type"].startswith("application/problem+json")
