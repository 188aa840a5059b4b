"""Withdrawing an inspection plan (撤销计划, docs/assessment.md): the plan and its
not-yet-due scheduled inspections in one transaction; inspections under way or past
their due time stay, and the plan KPIs stop counting what was cancelled."""

from __future__ import annotations

import threading
from typing import Any

from application.deadlines import DeadlineWatcher
from tests.e2e.test_inspection_plans_api import AUDITOR, INSPECTOR, QM, QM_BJ, body, head, ok, setup


def read(api: Any, path: str, **params: Any) -> dict[str, Any]:
    return ok(api.get(path, params={"min_position": head(api), **params}, **AUDITOR))


def status(api: Any, number: str) -> str:
    return str(read(api, f"/inspections/{number}")["status"])


def test_withdrawal_cancels_what_has_not_started_and_is_not_yet_due(api: Any, clock: Any) -> None:
    t = setup(api)
    # March, April and May (due the 20th); the clock is at 2026-03-02.
    plan = ok(api.post("/inspection-plans", body(t), **QM), 201)
    march, april, may = plan["inspections"]
    ok(api.post(f"/inspections/{march}/start", **INSPECTOR))  # under way
    clock.advance(days=50)  # 2026-04-21: March's and April's are past due, both missed
    assert DeadlineWatcher(api.container.app).run_once().inspections_missed == 2
    before = read(api, "/kpis/inspection-plans", project="P1")["rows"]

    r = ok(api.post(f"/inspection-plans/{plan['id']}/withdraw", {"reason": "项目撤场"}, **QM))
    assert r["cancelled"] == [may]
    assert (status(api, march), status(api, april), status(api, may)) == (
        "in_progress",
        "scheduled",
        "cancelled",
    )
    # The cancellation carries the plan's reason and is part of the same command.
    events = read(api, f"/audit/{may}")["events"]
    assert events[-1]["type"] == "Cancelled"
    assert events[-1]["reason"] == f"plan {plan['number']} withdrawn: 项目撤场"
    withdrawn = read(api, f"/audit/{plan['id']}")["events"][-1]
    assert withdrawn["type"] == "Withdrawn" and withdrawn["reason"] == "项目撤场"
    assert events[-1]["correlation_id"] == withdrawn["correlation_id"]
    plans = read(api, "/inspection-plans")["items"]
    assert [p["status"] for p in plans if p["number"] == plan["number"]] == ["withdrawn"]
    # May is no longer planned; March and April (missed) still count.
    after = read(api, "/kpis/inspection-plans", project="P1")["rows"]
    months = {row["month"]: row for row in after}
    assert sorted(months) == ["2026-03", "2026-04"]
    assert (months["2026-03"]["missed"], months["2026-04"]["missed"]) == (1, 1)
    assert [row["month"] for row in before] == ["2026-03", "2026-04", "2026-05"]
    # Once is enough: a second withdrawal is 409 and records nothing.
    at = head(api)
    r2 = api.post(f"/inspection-plans/{plan['id']}/withdraw", {"reason": "again"}, **QM)
    assert r2.status_code == 409, r2.text
    assert head(api) == at


def test_withdrawal_can_leave_the_inspections_and_is_refused_outside_reach(api: Any) -> None:
    t = setup(api)
    plan = ok(api.post("/inspection-plans", body(t), **QM), 201)
    at = head(api)
    # Another region's quality manager: 404, as for a plan that does not exist.
    r = api.post(f"/inspection-plans/{plan['id']}/withdraw", {"reason": "x"}, **QM_BJ)
    assert r.status_code == 404, r.text
    # An inspector may not withdraw plans: 403; no reason: 422 naming it.
    r = api.post(f"/inspection-plans/{plan['id']}/withdraw", {"reason": "x"}, **INSPECTOR)
    assert r.status_code == 403, r.text
    r = api.post(f"/inspection-plans/{plan['id']}/withdraw", {}, **QM)
    assert r.status_code == 422 and "reason" in r.text
    assert head(api) == at
    # cancel_scheduled=false: the plan only; its inspections stay scheduled.
    r = ok(
        api.post(
            f"/inspection-plans/{plan['number']}/withdraw",
            {"reason": "改为逐项取消", "cancel_scheduled": False},
            **QM,
        )
    )
    assert r["cancelled"] == []
    assert {status(api, n) for n in plan["inspections"]} == {"scheduled"}


def race_once(api: Any, template: str) -> str:
    """A start and a withdrawal of a one-inspection plan at once; which one won."""
    plan = ok(api.post("/inspection-plans", body(template, months=1), **QM), 201)
    (number,) = plan["inspections"]
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}

    def start() -> None:
        barrier.wait()
        answers["start"] = api.post(f"/inspections/{number}/start", **INSPECTOR)

    def withdraw() -> None:
        barrier.wait()
        answers["withdraw"] = api.post(
            f"/inspection-plans/{plan['id']}/withdraw", {"reason": "撤场"}, **QM
        )

    threads = [threading.Thread(target=f) for f in (start, withdraw)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert answers["withdraw"].status_code == 200, answers["withdraw"].text
    cancelled = answers["withdraw"].json()["cancelled"]
    final = status(api, number)
    kinds = [e["type"] for e in read(api, f"/audit/{number}")["events"]]
    assert not ("Started" in kinds and "Cancelled" in kinds), kinds
    if answers["start"].status_code == 200:  # the start won: the withdrawal left it
        assert cancelled == [] and final == "in_progress"
        return "started"
    # the withdrawal won: the start met a cancelled inspection
    assert answers["start"].status_code == 409, answers["start"].text
    assert cancelled == [number] and final == "cancelled"
    return "cancelled"


def test_a_start_racing_the_withdrawal_either_wins_or_is_cancelled_never_both(
    api: Any,
) -> None:
    t = setup(api)
    outcomes = [race_once(api, t) for _ in range(4)]
    # every round was judged (which side wins is the scheduler's choice)
    assert len(outcomes) == 4 and set(outcomes) <= {"started", "cancelled"}
