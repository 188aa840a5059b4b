"""Every notification rule fires exactly once although the notifier is killed between
the events and the delivery, and again between a delivery's claim and its result.

The world produces one event (or more) for each rule of `application.notify.rules`:
dispatch, transfer, SLA breach, notice, overdue, a failed re-check (-> the circular),
an inspection graded E, a survey improvement action. Then:

1. the notifier crashes in the middle of its batch (after inserting its rows, before the
   commit): nothing of the batch stays;
2. the service is killed and started again (a new container on the same database): the
   notifier derives everything, once;
3. the delivery loop claims deliveries and dies before recording any result; after the
   lease, a restarted loop sends them: at least once on the wire, and the outbox shows one
   `sent` row per (subscription, event, kind).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.tokens import TokenStore
from application.notify.rules import KINDS
from qualtrace.bootstrap import bootstrap
from qualtrace.settings import Settings
from store.delivery import Outbox
from tests.receiver import Receiver

PEOPLE = {
    # user: (role, projects, region)
    "pm1": ("project_manager", ["P1"], None),
    "sup1": ("supervisor", ["P1"], None),
    "rqm": ("quality_manager", [], "SH"),
    "staff-7": ("staff", ["P1"], None),
    "staff-8": ("staff", ["P1"], None),
    "fd": ("front_desk", ["P1"], None),
    "qm": ("quality_manager", [], None),
    "insp": ("inspector", [], None),
    "admin": ("admin", [], None),
}
TEMPLATE = {
    "name": "月度品质检查表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {
                    "code": "CS-01",
                    "requirement": "前台接待礼貌",
                    "max_points": 10,
                    "critical": False,
                }
            ],
        }
    ],
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        pool_size=4,
        read_wait_seconds=0.2,
        webhook_timeout_seconds=1.0,
        delivery_backoff_seconds=0.05,
        delivery_backoff_cap_seconds=0.1,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


class World:
    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def post(self, who: str, path: str, body: Any = None, status: int = 200) -> dict[str, Any]:
        r = self.client.post(
            path, json=body or {}, headers={"Authorization": f"Bearer {self.tokens[who]}"}
        )
        assert r.status_code == status, r.text
        return r.json()


def produce(w: World, c: Any, clock: Any, hook_url: str) -> None:
    w.post("admin", "/regions", {"code": "SH", "name": "上海"}, 201)
    w.post("admin", "/projects", {"code": "P1", "name": "P1", "region": "SH"}, 201)
    w.post("admin", "/webhooks", {"url": hook_url, "notification_kinds": list(KINDS)}, 201)
    # Tickets: dispatched to staff-7, transferred to staff-8.
    t = w.post(
        "fd",
        "/tickets",
        {
            "project": "P1",
            "kind": "repair",
            "channel": "phone",
            "priority": "high",
            "category": "水电维修",
            "description": "厨房水管漏水",
            "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        },
        201,
    )["id"]
    w.post("fd", f"/tickets/{t}/dispatch", {"department": "engineering", "assignee": "staff-7"})
    w.post(
        "fd",
        f"/tickets/{t}/transfer",
        {"department": "cleaning", "assignee": "staff-8", "reason": "不属于工程部"},
    )
    # A nonconformance noticed to staff-7 (it will be overdue).
    nc = {
        "project": "P1",
        "source": {"type": "audit", "ref": "IA-1"},
        "severity": "major",
        "description": "消防通道堆放杂物",
        "department": "security",
    }
    late = w.post("insp", "/nonconformances", nc, 201)["id"]
    notice = {"responsible_department": "security", "responsible_person": "staff-7"}
    w.post("qm", f"/nonconformances/{late}/notice", notice)
    # A survey improvement action (a nonconformance raised from survey feedback).
    w.post(
        "qm",
        "/nonconformances",
        {**nc, "source": {"type": "survey"}, "description": "业主对保洁不满意"},
        201,
    )
    # A re-check that finds the rectification not done: the circular.
    failed = w.post("insp", "/nonconformances", nc, 201)["id"]
    w.post("qm", f"/nonconformances/{failed}/notice", notice)
    w.post("pm1", f"/nonconformances/{failed}/root-cause", {"analysis": "巡查制度未落实"})
    w.post(
        "pm1",
        f"/nonconformances/{failed}/plan",
        {"corrective_actions": ["清理"], "preventive_actions": ["巡查"]},
    )
    w.post("qm", f"/nonconformances/{failed}/plan-decision", {"approved": True})
    w.post("pm1", f"/nonconformances/{failed}/rectified", {"summary": "已清理"})
    w.post("insp", f"/nonconformances/{failed}/verification", {"effective": False})
    # An inspection graded E.
    tpl = w.post("qm", "/checklist-templates", TEMPLATE, 201)
    w.post("qm", f"/checklist-templates/{tpl['id']}/publish")
    ins = w.post(
        "insp",
        "/inspections",
        {
            "project": "P1",
            "kind": "regional_monthly",
            "template_id": tpl["number"],
            "planned_for": "2026-03-05",
            "inspectors": ["insp"],
        },
        201,
    )["id"]
    w.post("insp", f"/inspections/{ins}/start")
    w.post(
        "insp",
        f"/inspections/{ins}/scores",
        {"item": "CS-01", "points": 0, "result": "fail", "finding": "无人接待"},
    )
    assert w.post("insp", f"/inspections/{ins}/submit")["grade"] == "E"
    # An early warning (风险预警) on P1, as the warning watcher records it.
    raise_warning(c, "P1", "SH")
    # Time passes: the ticket's SLA is breached, the notice overdue.
    for g in c.groups:  # the read side (the watcher reads it), not yet the notifier
        if g.name != "notifications":
            g.run_once()
    clock.advance(days=20)
    report = c.deadline_watcher.run_once()
    assert report.sla_breaches >= 1 and report.overdue >= 1, report


def raise_warning(c: Any, project: str, region: str) -> None:
    from domain.base import SYSTEM, Ctx
    from domain.warnings import DEFAULT_RULES, EarlyWarning, validate_rules

    svc = c.app.service
    rule = validate_rules(DEFAULT_RULES)[0]
    warning = EarlyWarning.raise_warning(
        Ctx(SYSTEM, svc.clock(), "notify-test"),
        number=svc.next_number("warning"),
        rule=rule,
        subject=project,
        subject_label=project,
        project=project,
        region=region,
        period="2026-02",
        figures={"month": "2026-02", "inspections": 1, "average_score": 70.0},
        message=f"{project} 2026-02: mean inspection score 70",
    )
    svc.record(warning)


def test_every_rule_fires_exactly_once_across_crashes_and_restarts(
    settings: Settings, clock: Any, receiver: Receiver
) -> None:
    c = bootstrap(settings, clock=clock, setup=True)
    store = TokenStore(c.url)
    tokens = {
        user: store.create(user, user, role, projects, region)[1]
        for user, (role, projects, region) in PEOPLE.items()
    }
    with TestClient(create_app(c)) as client:
        produce(World(client, tokens), c, clock, receiver.url)
    deriver_group = next(g for g in c.groups if g.name == "notifications")
    deriver = deriver_group.projections[0]

    # 1. The notifier dies in the middle of its batch: its rows roll back with the batch.
    real = deriver.handle
    seen: list[str] = []

    def dying(cur: Any, rec: Any, schema: str) -> None:
        real(cur, rec, schema)
        seen.append(rec.type)
        if rec.aggregate == "Circular":
            raise RuntimeError("killed")

    deriver.handle = dying  # type: ignore[method-assign]
    for g in c.groups:
        if g is not deriver_group:
            g.run_once()
    with pytest.raises(RuntimeError, match="killed"):
        deriver_group.run_once()
    assert "Raised" in seen
    with psycopg.connect(c.url) as conn:
        assert conn.execute("SELECT count(*) FROM qt_notifications").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM qt_deliveries").fetchone() == (0,)
    c.close()

    # 2. Restarted: everything is derived once; running again adds nothing.
    c2 = bootstrap(settings, clock=clock, setup=False)
    c2.run_projections_once()
    c2.run_projections_once()
    with psycopg.connect(c2.url) as conn:
        rows = conn.execute(
            "SELECT position, rule, recipient FROM qt_notifications ORDER BY id"
        ).fetchall()
        n_deliveries = conn.execute("SELECT count(*) FROM qt_deliveries").fetchone()[0]
    assert rows and max(Counter(rows).values()) == 1
    got = {(rule, recipient) for _, rule, recipient in rows}
    everyone = set(PEOPLE)
    expected = {
        ("ticket.dispatched", "staff-7"),
        ("ticket.transferred", "staff-8"),
        ("ticket.sla_breached", "sup1"),
        ("ticket.sla_breached", "pm1"),
        ("nonconformance.noticed", "staff-7"),
        ("nonconformance.noticed", "pm1"),
        ("nonconformance.overdue", "staff-7"),
        ("nonconformance.overdue", "pm1"),
        ("nonconformance.overdue", "rqm"),
        *(("circular.raised", u) for u in everyone),
        ("inspection.low_grade", "pm1"),
        ("inspection.low_grade", "rqm"),
        ("survey.improvement_action", "sup1"),
        ("warning.raised", "pm1"),
        ("warning.raised", "rqm"),
    }
    assert got == expected
    assert {k for k, _ in got} == set(KINDS)  # every rule fired
    # One delivery per (event, kind) to the subscription.
    assert n_deliveries == len({(p, rule) for p, rule, _ in rows})
    circulars = [r for r in rows if r[1] == "circular.raised"]
    assert len({p for p, _, _ in circulars}) == 1  # one circular
    c2.close()

    # 3. The delivery loop claims and dies before recording: after the lease, a new loop
    # sends them all; the outbox holds one `sent` row each.
    c3 = bootstrap(settings, clock=clock, setup=False)
    try:
        with psycopg.connect(c2.url, autocommit=True) as conn:
            lost = Outbox(c2.url, lease_seconds=2.0).claim(conn)
        leased_until = time.monotonic() + 2.0
        # A run of the subscription's deliveries from its oldest one, in position order.
        assert lost and lost[0].position == min(p for p, _, _ in rows)
        assert [(d.position, d.id) for d in lost] == sorted((d.position, d.id) for d in lost)
        assert c3.deliveries is not None
        assert c3.deliveries.run_once() == 0  # the head is leased: the rest waits behind it
        time.sleep(max(0.0, leased_until - time.monotonic()) + 0.1)
        c3.deliveries.run_once()
        c3.run_projections_once()
        c3.deliveries.run_once()
        wire = receiver.wait_for(n_deliveries)
        ids = Counter(g.headers["X-Qualtrace-Delivery"] for g in wire)
        assert len(ids) == n_deliveries and max(ids.values()) == 1
        with psycopg.connect(c3.url) as conn:
            status = dict(
                conn.execute("SELECT status, count(*) FROM qt_deliveries GROUP BY status")
            )
            relost = conn.execute(
                "SELECT attempts FROM qt_deliveries WHERE id = ANY(%s)", ([d.id for d in lost],)
            ).fetchall()
        assert status == {"sent": n_deliveries}
        assert [a for (a,) in relost] == [2] * len(lost)  # the lost attempt counted, then sent
        pairs = Counter((g.json["position"], g.json["notification"]["kind"]) for g in wire)
        assert max(pairs.values()) == 1
    finally:
        c3.close()
