"""Inspection plans and assessments at their edges (issue #15): bad input is refused with
the field named and nothing recorded; a retried plan schedules nothing twice; racing
deadline watchers record a missed inspection once; a late submission records the miss
first; a quarter sums its published months; an undecided inspection appeal or an empty
month blocks the close."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from application.deadlines import DeadlineWatcher

QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
QM_BJ = {"role": "quality_manager", "user": "bj.qm", "name": "BJ QM", "region": "BJ"}
GM = {"role": "general_manager", "user": "wang.gm", "name": "Wang Zong"}
PM1 = {"role": "project_manager", "user": "liu.yang", "name": "Liu Yang", "projects": ("P1",)}
INSPECTOR = {"role": "inspector", "user": "chen.jie", "name": "Chen Jie"}
AUDITOR = {"role": "auditor", "user": "audit-1", "name": "Sun Li"}

TEMPLATE = {
    "name": "月检表",
    "sections": [
        {
            "code": "CS",
            "name": "客户服务",
            "items": [
                {"code": "CS-01", "requirement": "礼貌", "max_points": 10, "critical": False}
            ],
        }
    ],
}
PEOPLE = [{"name": "Liu Yang", "role": "project_manager"}]


def ok(r: Any, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()


def setup(api: Any) -> str:
    api.setup_org()
    t = ok(api.post("/checklist-templates", TEMPLATE, **QM), 201)
    ok(api.post(f"/checklist-templates/{t['id']}/publish", **QM))
    return str(t["number"])


def body(template: str, **over: Any) -> dict[str, Any]:
    return {
        "name": "月检计划",
        "kind": "regional_monthly",
        "recurrence": {"type": "monthly", "by_day": 20},
        "start_month": "2026-03",
        "months": 3,
        "projects": ["P1"],
        "template_id": template,
        "inspectors": ["Chen Jie"],
        **over,
    }


def head(api: Any) -> int:
    return int(api.container.app.recorder.max_notification_id() or 0)


def submit(api: Any, number: str, points: int = 10) -> dict[str, Any]:
    ok(api.post(f"/inspections/{number}/start", **INSPECTOR))
    result = "pass" if points else "fail"
    score = {"item": "CS-01", "points": points, "result": result, "finding": "ok"}
    ok(api.post(f"/inspections/{number}/scores", score, **INSPECTOR))
    return ok(api.post(f"/inspections/{number}/submit", **INSPECTOR))


def test_a_plan_that_cannot_be_satisfied_is_refused_naming_the_field(api: Any) -> None:
    t = setup(api)
    cases = [
        ({"recurrence": {"type": "monthly", "by_day": 30}}, 422, "recurrence.by_day"),
        ({"recurrence": {"type": "rate", "per_month": 2}}, 422, "recurrence.type"),
        ({"kind": "night_check", "recurrence": {"type": "monthly", "by_day": 3}}, 422, "type"),
        (
            {"recurrence": {"type": "quarterly"}, "start_month": "2026-04", "months": 2},
            422,
            "months",
        ),
        ({"start_month": "2026-02"}, 422, "start_month"),  # February's 20th has passed
        ({"months": 13}, 422, "months"),
        ({"projects": ["NOPE"]}, 422, "projects.0"),
        ({"projects": ["P1", "P1"]}, 422, "projects"),
        ({"projects": None, "region": "XX"}, 422, "region"),
        ({"projects": None}, 422, "projects"),
        ({"template_id": "CT-2026-999999"}, 422, "template_id"),
        ({"inspectors": []}, 422, "inspectors"),
    ]
    before = head(api)
    for over, status, field in cases:
        r = api.post("/inspection-plans", body(t, **over), **QM)
        assert r.status_code == status and field in r.text, (over, r.text)
    assert head(api) == before  # nothing recorded
    assert api.post("/inspection-plans", body(t), **PM1).status_code == 403
    # P1 is SH's: outside the caller's scope answers like an unknown project (no oracle)
    assert api.post("/inspection-plans", body(t), **QM_BJ).status_code == 422
    assert head(api) == before


def test_a_retried_plan_schedules_its_inspections_once(api: Any) -> None:
    t = setup(api)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = ok(
        api.post("/inspection-plans", body(t, projects=["P1", "P2"]), headers=key, **QM), 201
    )
    after = head(api)
    again = ok(
        api.post("/inspection-plans", body(t, projects=["P1", "P2"]), headers=key, **QM), 201
    )
    assert again == first and head(api) == after
    assert len(first["inspections"]) == 6  # 2 projects × March, April, May
    listed = ok(
        api.get("/inspections", params={"kind": "regional_monthly", "min_position": after}, **QM)
    )["items"]
    assert sorted(i["number"] for i in listed) == sorted(first["inspections"])
    plans = ok(api.get("/inspection-plans", params={"min_position": after}, **AUDITOR))["items"]
    assert [(p["number"], p["inspections"]) for p in plans] == [(first["number"], 6)]
    # A project manager of P1 sees the plan (it covers P1), one of another region does not.
    assert len(ok(api.get("/inspection-plans", **PM1))["items"]) == 1
    other = {"role": "project_manager", "user": "bj.pm", "name": "BJ PM", "region": "BJ"}
    assert ok(api.get("/inspection-plans", **other))["items"] == []


def test_racing_watchers_record_a_missed_inspection_once(api: Any, clock: Any) -> None:
    t = setup(api)
    plan = ok(
        api.post(
            "/inspection-plans",
            body(t, kind="self_check", recurrence={"type": "second_monday"}, months=1),
            **QM,
        ),
        201,
    )
    clock.advance(days=9)  # past Monday 2026-03-09 in Shanghai
    watchers = [DeadlineWatcher(api.container.app) for _ in range(4)]
    counts: list[int] = []
    barrier = threading.Barrier(len(watchers))

    def run(w: DeadlineWatcher) -> None:
        barrier.wait()
        counts.append(w.run_once().inspections_missed)

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sum(counts) == 1, counts
    (number,) = plan["inspections"]
    events = ok(api.get(f"/audit/{number}", params={"min_position": head(api)}, **AUDITOR))
    assert [e["type"] for e in events["events"]].count("InspectionMissed") == 1


def test_a_late_submission_records_the_miss_first_and_is_not_on_time(api: Any, clock: Any) -> None:
    t = setup(api)
    plan = ok(api.post("/inspection-plans", body(t, months=1), **QM), 201)
    (number,) = plan["inspections"]
    clock.advance(days=20)  # 2026-03-22: after the 20th, the watcher has not run
    r = submit(api, number)
    types = [
        e["type"]
        for e in ok(api.get(f"/audit/{number}", params={"min_position": r["position"]}, **AUDITOR))[
            "events"
        ]
    ]
    assert types[-2:] == ["InspectionMissed", "Submitted"]
    assert DeadlineWatcher(api.container.app).run_once().inspections_missed == 0
    kpis = ok(api.get("/kpis/inspection-plans", params={"project": "P1"}, **AUDITOR))["rows"]
    assert [(k["month"], k["planned"], k["done"], k["missed"], k["on_time"]) for k in kpis] == [
        ("2026-03", 1, 1, 1, 0)
    ]


def close(api: Any, project: str, period: str) -> Any:
    return api.post(
        "/assessments", {"project": project, "period": period, "responsible": PEOPLE}, **QM
    )


def publish(api: Any, ref: str) -> None:
    ok(api.post(f"/assessments/{ref}/review", **QM))
    ok(api.post(f"/assessments/{ref}/approve", **GM))
    ok(api.post(f"/assessments/{ref}/publish", **QM))


def test_a_quarter_sums_its_published_months(api: Any, clock: Any) -> None:
    t = setup(api)
    scores = {"2026-04": 10, "2026-05": 9, "2026-06": 8}  # of 10 → 100, 90, 80
    plan = ok(api.post("/inspection-plans", body(t, start_month="2026-04"), **QM), 201)
    for number, points in zip(plan["inspections"], scores.values(), strict=True):
        submit(api, number, points)
    clock.advance(days=125)  # 2026-07-05
    assert close(api, "P1", "2026-Q2").status_code == 409  # the months are not closed
    months = [ok(close(api, "P1", m), 201) for m in scores]
    assert [m["score"] for m in months] == [100, 90, 80]
    publish(api, months[0]["id"])
    publish(api, months[1]["id"])
    r = close(api, "P1", "2026-Q2")
    assert r.status_code == 409 and "2026-06 is draft" in r.text
    publish(api, months[2]["id"])
    q = ok(close(api, "P1", "2026-Q2"), 201)
    view = ok(api.get(f"/assessments/{q['number']}", **AUDITOR))
    # 以季度为单位进行分数总和: 100 + 90 + 80 = 270, mean 90 → B
    assert (view["score"], view["result"]["mean_score"], view["grade"]) == (270, 90, "B")
    assert [i["period"] for i in view["inputs"]] == list(scores)


def test_an_open_inspection_appeal_or_an_empty_month_blocks_the_close(api: Any, clock: Any) -> None:
    t = setup(api)
    plan = ok(api.post("/inspection-plans", body(t, months=1), **QM), 201)
    (number,) = plan["inspections"]
    submit(api, number, 5)
    ok(api.post(f"/inspections/{number}/appeal", {"items": ["CS-01"], "reason": "有误"}, **PM1))
    clock.advance(days=31)  # 2026-04-02
    before = head(api)
    r = close(api, "P1", "2026-03")
    assert r.status_code == 409 and "appeal" in r.text, r.text
    empty = close(api, "P2", "2026-03")
    assert empty.status_code == 409 and "no submitted inspection" in empty.text
    assert close(api, "P1", "2026-13").status_code == 422
    assert head(api) == before
    ok(
        api.post(
            f"/inspections/{number}/appeal-decision", {"accepted": False, "reason": "维持"}, **QM
        )
    )
    assert ok(close(api, "P1", "2026-03"), 201)["score"] == 50


def test_the_cli_makes_a_general_manager_token(api: Any, monkeypatch: Any, capsys: Any) -> None:
    from qualtrace import cli

    api.setup_org()
    monkeypatch.setenv("DATABASE_URL", api.container.url)
    args = ["token", "create", "--user", "gm", "--name", "王总", "--role", "general_manager"]
    assert cli.main(args) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    gm = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/assessments", headers=gm).status_code == 200
    body = {"project": "P1", "period": "2026-02", "responsible": PEOPLE}
    assert api.client.post("/assessments", json=body, headers=gm).status_code == 403


def test_two_quality_managers_closing_the_same_month_record_one_assessment(
    api: Any, clock: Any
) -> None:
    t = setup(api)
    plan = ok(api.post("/inspection-plans", body(t, months=1), **QM), 201)
    submit(api, plan["inspections"][0])
    clock.advance(days=31)
    api.token(**QM)  # tokens made before the race
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        statuses.append(close(api, "P1", "2026-03").status_code)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(statuses) == [201, 409, 409, 409], statuses
    listed = ok(api.get("/assessments", params={"min_position": head(api)}, **AUDITOR))["items"]
    assert [(a["project"], a["period"]) for a in listed] == [("P1", "2026-03")]
