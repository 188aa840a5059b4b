"""Inspections on PostgreSQL: submission and its nonconformances are one transaction,
the grading policy is configurable and recorded, and the inspection views rebuild
identically from the events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from application.base import Call, Idempotency
from application.errors import Forbidden
from application.security import Principal
from domain.errors import IllegalStep
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from qualtrace.settings import Settings

ADMIN = Principal("admin-1", "Admin", "admin")
QM = Principal("qm-1", "Zhou Min", "quality_manager")
INSPECTOR = Principal("insp-1", "Chen Jie", "inspector")
PM = Principal("pm-1", "Liu Yang", "project_manager", projects=("P1",))

SECTIONS = [
    {
        "code": "CS",
        "name": "客户服务",
        "items": [
            {"code": "CS-01", "requirement": "前台接待礼貌", "max_points": 10, "critical": False},
            {
                "code": "CS-02",
                "requirement": "投诉24小时内回复",
                "max_points": 10,
                "critical": True,
            },
        ],
    },
]
STRICT = [
    {"min_score": 98, "grade": "优秀", "pay_adjustment_pct": 8},
    {"min_score": 60, "grade": "合格", "pay_adjustment_pct": 0},
    {"min_score": 0, "grade": "不合格", "pay_adjustment_pct": -20},
]


def call(p: Principal, key: str | None = None) -> Call:
    idem = Idempotency(key, "fingerprint") if key else None
    return Call(principal=p, correlation_id=str(uuid.uuid4()), idempotency=idem)


@pytest.fixture
def strict_container(db_url: str, clock: Any) -> Iterator[Any]:
    from qualtrace.bootstrap import bootstrap

    c = bootstrap(
        Settings(database_url=db_url, pool_size=2, grading_policy=STRICT), clock=clock, setup=True
    )
    yield c
    c.close()


def scored_inspection(app: Any) -> str:
    app.org.register_region(call(ADMIN), "SH", "上海")
    app.org.register_project(call(ADMIN), "P1", "一号项目", "SH", 500)
    t = app.templates.draft(call(QM), "月检表", SECTIONS)
    app.templates.publish(call(QM), t.number)
    ins = app.inspections.schedule(
        call(INSPECTOR),
        project="P1",
        kind="regional_monthly",
        template_id=t.id,
        planned_for="2026-03-05",
        inspectors=["Chen Jie"],
    )
    app.inspections.start(call(INSPECTOR), ins.number)
    app.inspections.score_item(call(INSPECTOR), ins.number, "CS-01", 9, "pass")
    app.inspections.score_item(
        call(INSPECTOR), ins.number, "CS-02", 3, "fail", "投诉未回复", ["a.jpg"]
    )
    return ins.number


def test_the_configured_grading_policy_grades_the_result_and_is_recorded_with_it(
    strict_container: Any,
) -> None:
    app = strict_container.app
    ref = scored_inspection(app)
    result = app.inspections.submit(call(INSPECTOR), ref)
    # (9 + 3) / 20 = 60 → 合格 under the configured policy (it would be E, −10% by default).
    assert (result.extra["score"], result.extra["grade"], result.extra["pay_adjustment_pct"]) == (
        60.0,
        "合格",
        0,
    )
    ins = app.load(Inspection, ref)
    assert ins.grading_policy == STRICT


def test_a_submission_and_its_nonconformances_are_saved_together_exactly_once(
    container: Any,
) -> None:
    app = container.app
    ref = scored_inspection(app)
    first = app.inspections.submit(call(INSPECTOR, key="k-1"), ref)
    # A retry with the same Idempotency-Key answers the same and records nothing new.
    again = app.inspections.submit(call(INSPECTOR, key="k-1"), ref)
    assert again.as_dict() == first.as_dict()
    # A second submission is an illegal step; no second nonconformance appears.
    with pytest.raises(IllegalStep):
        app.inspections.submit(call(QM), ref)
    ins = app.load(Inspection, ref)
    [raised] = ins.raised_nonconformances
    nc = app.load(Nonconformance, raised["number"])
    assert (
        nc.severity == "major" and nc.source["item"] == "CS-02" and nc.source["id"] == str(ins.id)
    )
    with psycopg.connect(container.url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, notification_id FROM qualtrace_events"
            " WHERE originator_id IN (%s, %s) ORDER BY notification_id",
            (ins.id, nc.id),
        ).fetchall()
        # The NC's Raised event directly follows the Submitted event in the store.
        submitted_pos = next(r[2] for r in rows if r[0] == ins.id and r[1] == ins.version)
        raised_pos = next(r[2] for r in rows if r[0] == nc.id)
        assert raised_pos == submitted_pos + 1
        count = conn.execute(
            "SELECT count(*) FROM qualtrace_events WHERE topic LIKE %s",
            ("%Nonconformance.Raised%",),
        ).fetchone()
    assert count is not None and count[0] == 1


def test_a_project_manager_runs_only_self_checks(container: Any) -> None:
    app = container.app
    ref = scored_inspection(app)
    with pytest.raises(Forbidden):
        app.inspections.submit(call(PM), ref)


def test_the_inspection_views_rebuild_to_identical_content(container: Any) -> None:
    app = container.app
    ref = scored_inspection(app)
    app.inspections.submit(call(INSPECTOR), ref)
    app.inspections.appeal(call(PM), ref, ["CS-02"], "已回复")
    app.inspections.decide_appeal(call(QM), ref, True, [{"item": "CS-02", "points": 10}], "核实")
    container.run_projections_once()
    queries = [
        "SELECT * FROM qt_read.inspections ORDER BY id",
        "SELECT * FROM qt_read.inspection_items ORDER BY inspection_id, item",
        "SELECT * FROM qt_read.checklist_templates ORDER BY id",
        "SELECT * FROM qt_read.checklist_template_versions ORDER BY template_id, template_version",
    ]

    def snapshot() -> list[Any]:
        with psycopg.connect(container.url) as conn:
            return [conn.execute(q).fetchall() for q in queries]

    before = snapshot()
    assert before[0][0][5] == "appeal_decided" and len(before[1]) == 2
    container.rebuild("inspections")
    assert snapshot() == before
