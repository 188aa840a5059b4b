"""Residents' personal data (DOMAIN.md "Roles"): shown in full only to front desk,
supervisor and the ticket's assignee; masked (`138****5678`) for everyone else; every
unmasked read is recorded (who, when, which issue) and visible to auditors."""

from __future__ import annotations

from typing import Any

PHONE = "13812345678"
TICKET = {
    "project": "P1",
    "kind": "repair",
    "channel": "phone",
    "priority": "high",
    "category": "水电维修",
    "description": "厨房水管漏水",
    "reporter": {"name": "张三丰", "unit": "3-1201", "phone": PHONE},
}
ASSIGNEE = {"role": "staff", "user": "wang.wei", "name": "Wang Wei"}
OTHER_STAFF = {"role": "staff", "user": "li.lei", "name": "Li Lei"}


def received_and_dispatched(api: Any) -> dict[str, Any]:
    api.setup_org()
    t = api.post("/tickets", TICKET, role="front_desk").json()
    d = api.post(
        f"/tickets/{t['id']}/dispatch",
        {"department": "engineering", "assignee": "wang.wei"},
        role="supervisor",
    )
    assert d.status_code == 200, d.text
    return {**t, "position": d.json()["position"]}


def reads(api: Any, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/audit/personal-data-reads", role="auditor", params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_only_front_desk_supervisor_and_the_assignee_see_name_and_phone_and_each_such_read_is_recorded(
    api: Any,
) -> None:
    t = received_and_dispatched(api)
    unmasked = [{"role": "front_desk"}, {"role": "supervisor"}, ASSIGNEE]
    masked = [
        OTHER_STAFF,
        {"role": "project_manager"},
        {"role": "inspector"},
        {"role": "quality_manager"},
        {"role": "auditor"},
    ]
    for who in unmasked:
        body = api.get(f"/tickets/{t['id']}", **who).json()
        assert body["reporter"] == TICKET["reporter"] and body["personal_data"] == "unmasked", who
    for who in masked:
        r = api.get(f"/tickets/{t['id']}", **who)
        assert r.status_code == 200, who
        body = r.json()
        assert body["reporter"] == {"name": "张**", "unit": "3-1201", "phone": "138****5678"}, who
        assert PHONE not in r.text and "张三丰" not in r.text, who
    # Exactly the three unmasked reads are recorded: who, when, which issue, and how.
    log = reads(api, issue=t["number"])
    assert [(row["principal_role"], row["principal_id"]) for row in log] == [
        ("front_desk", "front_desk-1"),
        ("supervisor", "supervisor-1"),
        ("staff", "wang.wei"),
    ]
    for row in log:
        assert (
            row["issue_number"] == t["number"]
            and row["issue_id"] == t["id"]
            and row["project"] == "P1"
        )
        assert (
            row["read_at"]
            and row["correlation_id"]
            and row["fields"] == ["reporter.name", "reporter.phone"]
        )


def test_lists_kpis_and_the_auditors_trail_never_carry_the_phone(api: Any) -> None:
    t = received_and_dispatched(api)
    p = {"min_position": t["position"]}
    for path, role in (
        ("/tickets", "supervisor"),
        ("/kpis/tickets", "reporting"),
        (f"/audit/{t['id']}", "auditor"),
        ("/audit/events", "auditor"),
        (f"/audit/{t['id']}/pack", "auditor"),
    ):
        r = api.get(path, role=role, params=p)
        assert r.status_code == 200, (path, r.text)
        assert PHONE not in r.text and "张三丰" not in r.text, path
    assert reads(api) == []


def test_an_unmasked_read_through_the_audit_views_is_recorded_too(api: Any) -> None:
    t = received_and_dispatched(api)
    p = {"min_position": t["position"]}
    # A supervisor (audit.read, unmasked) reading the history, the trail and a pack sees the phone ...
    for path in (f"/audit/{t['number']}", "/audit/events", f"/audit/{t['number']}/pack"):
        r = api.get(path, role="supervisor", params=p)
        assert r.status_code == 200 and PHONE in r.text, path
    # ... and each of those reads is on the record.
    assert [row["via"] for row in reads(api, issue=t["id"])] == [
        "GET /audit/{id}",
        "GET /audit/events",
        "audit pack",
    ]


def test_the_read_log_is_for_auditors_and_stays_within_their_scope(api: Any) -> None:
    api.setup_org()
    for project in ("P1", "P2"):
        t = api.post("/tickets", {**TICKET, "project": project}, role="front_desk").json()
        assert api.get(f"/tickets/{t['id']}", role="front_desk").status_code == 200
    assert {row["project"] for row in reads(api)} == {"P1", "P2"}
    scoped = api.get(
        "/audit/personal-data-reads", role="auditor", user="aud-p1", projects=("P1",)
    ).json()
    assert {row["project"] for row in scoped["items"]} == {"P1"}
    for role in ("supervisor", "quality_manager", "front_desk"):
        assert api.get("/audit/personal-data-reads", role=role).status_code == 403


def test_the_read_log_cannot_be_edited(api: Any) -> None:
    import psycopg
    import pytest

    t = received_and_dispatched(api)
    api.get(f"/tickets/{t['id']}", role="front_desk")
    with psycopg.connect(api.container.url, autocommit=True) as conn:
        for statement in (
            "UPDATE personal_data_reads SET principal_id = 'x'",
            "DELETE FROM personal_data_reads",
            "TRUNCATE personal_data_reads",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
    assert len(reads(api)) == 1
