"""Rebuilding KPI views: a rebuilt view equals the incrementally built one row for row
(for a known mixed history and for random command sequences), and the API keeps
answering, losing no request and no event, while `qualtrace projections rebuild` runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from application.base import Call
from application.errors import ApplicationError
from application.security import Principal
from domain.errors import DomainError
from projections import registry
from projections.kpis.facts import FactProjection
from projections.kpis.query import kpi_query
from qualtrace import cli

ADMIN = Call(Principal("admin", "Admin", "admin"), "c-admin")
DESK = Call(Principal("li.na", "Li Na", "front_desk"), "c-desk")
SUP = Call(Principal("zhao", "Zhao Lei", "supervisor"), "c-sup")
STAFF = Call(Principal("wang", "Wang Wei", "staff"), "c-staff")
QM = Call(Principal("zhou", "Zhou Min", "quality_manager"), "c-qm")
PM = Call(Principal("liu", "Liu Yang", "project_manager"), "c-pm")

KPI_NAMES = ["kpi_tickets", "kpi_inspections", "kpi_nonconformances", "kpi_surveys"]
GROUPINGS = [[], ["project", "month"], ["region", "quarter"], ["year"]]


def org(app: Any) -> None:
    app.org.register_region(ADMIN, "SH", "上海")
    app.org.register_project(ADMIN, "P1", "绿地花园", "SH", 800)
    app.org.register_project(ADMIN, "P2", "滨江苑", "SH", 600)


def ticket(app: Any, project: str, priority: str = "normal", kind: str = "repair") -> str:
    return app.tickets.receive(
        DESK,
        project=project,
        kind=kind,
        channel="phone",
        priority=priority,
        category="水电",
        description="漏水",
        reporter={"name": "张三", "unit": "1-101", "phone": "13812345678"},
    ).number


def snapshot(c: Any, names: list[str]) -> dict[str, Any]:
    """Every fact row and the KPI figures of some groupings, per KPI projection."""
    out: dict[str, Any] = {}
    with psycopg.connect(c.url) as conn:
        for name in names:
            p = registry.by_name(name)
            assert isinstance(p, FactProjection) and p.SPEC is not None
            for table, key in p.FACTS.items():
                out[f"{name}.{table}"] = conn.execute(
                    f"SELECT * FROM qt_read.{table} ORDER BY {', '.join(key)}"
                ).fetchall()
            for g in GROUPINGS:
                out[f"{name}.kpis.{g}"] = conn.execute(kpi_query(p.SPEC, g)).fetchall()
    return out


def mixed_history(c: Any, clock: Any, tickets: int = 12) -> None:
    """Tickets in every state, an escalation, an inspection with a failed item, NCs and a survey."""
    app = c.app
    org(app)
    for i in range(tickets):
        clock.advance(minutes=37)
        t = ticket(app, "P1" if i % 3 else "P2", ("urgent", "high", "normal", "low")[i % 4])
        if i % 5 == 4:
            app.tickets.cancel(DESK, t, "重复")
            continue
        clock.advance(minutes=10 + i)
        app.tickets.dispatch(SUP, t, "engineering", "wang")
        if i % 4 == 3:
            continue
        app.tickets.accept(STAFF, t)
        clock.advance(hours=i)
        app.tickets.resolve(STAFF, t, "修好")
        app.tickets.callback(DESK, t, True, i % 3 != 0, 2 + i % 4, None)
        if i % 3 == 0:
            if i % 2:
                app.tickets.reopen(SUP, t, "仍漏水")
        else:
            app.tickets.close(DESK, t, None)
        if i == 7:
            app.tickets.escalate(SUP, t, "反复", "major")
        c.run_projections_once()  # incremental: small, uneven batches
    tpl = app.templates.draft(
        QM,
        "检查表",
        [
            {
                "code": "CS",
                "name": "客户服务",
                "items": [
                    {"code": "CS-01", "requirement": "礼貌", "max_points": 10, "critical": False},
                    {"code": "CS-02", "requirement": "回复", "max_points": 10, "critical": True},
                ],
            }
        ],
    )
    app.templates.publish(QM, tpl.id)
    ins = app.inspections.schedule(
        QM,
        project="P1",
        kind="regional_monthly",
        template_id=tpl.number,
        template_version=None,
        planned_for="2026-03-10",
        inspectors=["王"],
    ).number
    app.inspections.start(QM, ins)
    app.inspections.score_item(QM, ins, "CS-01", 9, "pass", None, None, None)
    app.inspections.score_item(QM, ins, "CS-02", 3, "fail", "超时", None, None)
    app.inspections.submit(QM, ins)
    c.run_projections_once()
    nc = app.nonconformances.raise_(
        QM,
        project="P2",
        source={"type": "audit", "ref": "ISO-1"},
        severity="minor",
        description="记录不全",
    ).number
    app.nonconformances.notice(QM, nc, "administration", "王工", None)
    sv = app.surveys.draft(
        QM,
        title="满意度",
        objectives="了解",
        party="first_party",
        methods=["phone"],
        segments=["owner"],
        projects=["P1", "P2"],
        period={"start": "2026-03-01", "end": "2026-03-31"},
        target_sample=5,
        target_csi=85,
        questions=[
            {"code": "Q1", "text": "服务", "dimension": "service", "weight": 1, "overall": False},
            {"code": "OV", "text": "总体", "dimension": "overall", "weight": 1, "overall": True},
        ],
    ).number
    app.surveys.submit(QM, sv)
    app.surveys.decide(Call(Principal("wu", "Wu Lei", "quality_manager"), "c-qm2"), sv, True, None)
    app.surveys.open(QM, sv)
    for n, (q1, ov) in enumerate([(5, 4), (2, 1), (4, 4)]):
        app.survey_responses.record(
            DESK,
            sv,
            respondent_ref=f"R{n}",
            project=("P1", "P2")[n % 2],
            segment="owner",
            method="phone",
            answers={"Q1": q1, "OV": ov},
        )
    c.run_projections_once()


def test_a_rebuilt_kpi_view_equals_the_incrementally_built_one_row_for_row(
    container: Any, clock: Any
) -> None:
    mixed_history(container, clock)
    before = snapshot(container, KPI_NAMES)
    # Every family has facts to compare.
    assert all(before[f"{n}.kpis.[]"] for n in KPI_NAMES)
    assert (
        len(before["kpi_tickets.ticket_facts"]) == 12 and before["kpi_surveys.survey_action_facts"]
    )
    for name in KPI_NAMES:
        result = container.rebuild(name)
        assert result["generation"] == 2 and result["projection"] == name
    assert snapshot(container, KPI_NAMES) == before
    with psycopg.connect(container.url) as conn:
        schemas = {
            r[0]
            for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'qt_kpi_%'")
        }
        unanalysed = conn.execute(
            "SELECT schemaname, relname FROM pg_stat_user_tables"
            " WHERE schemaname LIKE 'qt_kpi_%_g2' AND last_analyze IS NULL"
        ).fetchall()
        facts = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'qt_kpi_tickets_g2.ticket_facts'::regclass"
        ).fetchone()
    # The old generations are gone; the new ones serve the views.
    assert schemas == {f"qt_{n}_g2" for n in KPI_NAMES}
    # Each new generation's tables were analysed before readers switched to them.
    assert unanalysed == []
    assert facts is not None and facts[0] == 12  # the planner knows the real row count


def test_the_api_keeps_answering_while_the_cli_rebuilds_and_loses_no_event(
    api: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = api.container
    org(c.app)
    for i in range(60):
        t = ticket(c.app, ("P1", "P2")[i % 2])
        c.app.tickets.dispatch(SUP, t, "engineering", "wang")
        c.app.tickets.accept(STAFF, t)
    c.run_projections_once()
    before = api.get(
        "/kpis/tickets", role="reporting", params={"group_by": "project,month"}
    ).json()["rows"]
    monkeypatch.setenv("DATABASE_URL", c.url)

    failures: list[str] = []
    answered = [0]
    written: list[int] = []
    rebuilding = threading.Event()
    done = threading.Event()

    def read(path: str, params: dict[str, Any], user: str) -> None:
        # Each reader its own BI user, paced under the per-principal rate limit (20/s): a
        # 429 would be a right answer to a client that reads faster, not what this tests.
        while not done.is_set():
            r = api.get(path, role="reporting", params=params, user=user)
            if r.status_code != 200:
                failures.append(f"{path}: {r.status_code} {r.text[:200]}")
            elif rebuilding.is_set():
                answered[0] += 1
            time.sleep(0.06)

    def read_sql() -> None:
        """A BI tool reading the reporting schema as qualtrace_reporting throughout."""
        with psycopg.connect(c.url, autocommit=True) as conn:
            conn.execute("SET ROLE qualtrace_reporting")
            while not done.is_set():
                try:
                    conn.execute("SELECT * FROM reporting.ticket_kpis_project_month").fetchall()
                except psycopg.Error as e:
                    failures.append(f"SQL: {e}")

    def write() -> None:
        while not done.is_set():
            r = api.post(
                "/tickets",
                {
                    "project": "P1",
                    "kind": "inquiry",
                    "channel": "app",
                    "priority": "low",
                    "category": "咨询",
                    "description": "停车",
                    "reporter": {"name": "李四", "unit": "2-202", "phone": "13900001111"},
                },
                role="front_desk",
            )
            if r.status_code != 201:
                failures.append(f"POST /tickets: {r.status_code} {r.text[:200]}")
            else:
                written.append(r.json()["position"])
            time.sleep(0.06)  # under the per-principal rate limit, as the readers

    threads = [
        threading.Thread(
            target=read, args=("/kpis/tickets", {"group_by": "project,month"}, "bi-1")
        ),
        threading.Thread(
            target=read,
            args=("/kpis/tickets", {"group_by": "region,kind", "format": "csv"}, "bi-2"),
        ),
        threading.Thread(target=read, args=("/kpis/tickets", {}, "bi-3")),
        threading.Thread(target=write),
        threading.Thread(target=read_sql),
    ]
    for t in threads:
        t.start()
    try:
        rebuilding.set()
        for _ in range(2):  # two rebuilds back to back: generations 2 and 3
            assert cli.main(["projections", "rebuild", "kpi_tickets"]) == 0
        rebuilding.clear()
    finally:
        done.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert answered[0] > 0 and written
    # The live view (generation 3) has every ticket: the 60 and each one written during the rebuilds.
    c.run_projections_once()
    (company,) = api.get(
        "/kpis/tickets", role="reporting", params={"min_position": max(written)}
    ).json()["rows"]
    assert company["received"] == 60 + len(written)
    with psycopg.connect(c.url) as conn:
        gens = conn.execute(
            "SELECT generation, live FROM qt_projection_tracking WHERE name = 'kpi_tickets'"
        ).fetchall()
    assert gens == [(3, True)]
    # The figures of the 60 tickets did not change (the new ones are inquiries at P1, received later).
    after = api.get(
        "/kpis/tickets", role="reporting", params={"group_by": "project,month", "kind": "repair"}
    ).json()
    assert after["rows"] == [{**r} for r in before]


# -- property: random command sequences, incrementally projected vs rebuilt ---------------

TICKET_OPS = (
    "receive",
    "dispatch",
    "accept",
    "resolve",
    "callback",
    "reopen",
    "close",
    "cancel",
    "transfer",
    "escalate",
    "watch",
    "flush",
)
NC_OPS = ("nc_raise", "nc_notice", "nc_rectify", "nc_verify", "nc_cancel")

op = st.tuples(
    st.sampled_from(TICKET_OPS + NC_OPS),
    st.integers(0, 7),  # which issue
    st.integers(0, 3),  # a choice (priority, department, batch size ...)
    st.integers(1, 600),  # minutes that pass first
)


def apply_op(c: Any, clock: Any, state: dict[str, list[str]], o: tuple[str, int, int, int]) -> None:
    name, which, choice, minutes = o
    app = c.app
    clock.advance(minutes=minutes)
    tickets, ncs = state["tickets"], state["ncs"]
    t = tickets[which % len(tickets)] if tickets else None
    nc = ncs[which % len(ncs)] if ncs else None
    dept = ("engineering", "cleaning", "security", "customer_service")[choice]
    try:
        if name == "receive":
            tickets.append(
                ticket(
                    app,
                    ("P1", "P2")[which % 2],
                    ("urgent", "high", "normal", "low")[choice],
                    ("repair", "complaint")[which % 2],
                )
            )
        elif name == "flush":
            for r in c.runners:
                r.BATCH = choice + 1
            c.run_projections_once()
        elif name == "watch":
            c.run_projections_once()
            c.deadline_watcher.run_once()
        elif name == "nc_raise":
            ncs.append(
                app.nonconformances.raise_(
                    QM,
                    project=("P1", "P2")[which % 2],
                    source={"type": "self_report"},
                    severity=("minor", "major", "critical")[choice % 3],
                    description="问题",
                ).number
            )
        elif t is not None and name in TICKET_OPS:
            {
                "dispatch": lambda: app.tickets.dispatch(SUP, t, dept, "wang"),
                "accept": lambda: app.tickets.accept(STAFF, t),
                "resolve": lambda: app.tickets.resolve(STAFF, t, "处理"),
                "callback": lambda: app.tickets.callback(
                    DESK, t, choice > 0, choice > 1, choice + 1, None
                ),
                "reopen": lambda: app.tickets.reopen(SUP, t, "未解决"),
                "close": lambda: app.tickets.close(DESK, t, None),
                "cancel": lambda: app.tickets.cancel(DESK, t, "重复"),
                "transfer": lambda: app.tickets.transfer(SUP, t, dept, None, "转派"),
                "escalate": lambda: app.tickets.escalate(SUP, t, "升级", "minor"),
            }[name]()
        elif nc is not None:
            if name == "nc_notice":
                app.nonconformances.notice(QM, nc, dept, "王工", None)
            elif name == "nc_rectify":
                app.nonconformances.analyse(PM, nc, "原因")
                app.nonconformances.plan(PM, nc, ["整改"], [])
                app.nonconformances.decide_plan(QM, nc, True, None)
                app.nonconformances.rectify(PM, nc, "完成", None)
            elif name == "nc_verify":
                app.nonconformances.verify(QM, nc, choice > 0, None, None, None)
            elif name == "nc_cancel":
                app.nonconformances.cancel(QM, nc, "误报")
    except (DomainError, ApplicationError):
        pass  # a step the state does not allow records nothing


@pytest.fixture
def world(container: Any, clock: Any) -> dict[str, Any]:
    org(container.app)
    return {"tickets": [], "ncs": []}


# Bounded and fast: 10 sequences of up to 25 commands; no shrinking (each example is a
# database history, so shrinking is slow; a failure prints its full sequence).
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(ops=st.lists(op, min_size=3, max_size=25))
def test_random_command_sequences_give_the_same_kpis_incrementally_and_rebuilt(
    container: Any, clock: Any, world: dict[str, Any], ops: list[tuple[str, int, int, int]]
) -> None:
    for o in ops:
        apply_op(container, clock, world, o)
    container.run_projections_once()
    names = ["kpi_tickets", "kpi_nonconformances"]
    incremental = snapshot(container, names)
    for name in names:
        container.rebuild(name)
    assert snapshot(container, names) == incremental
    # The rebuilt generation carries on incrementally like the old one.
    clock.advance(minutes=5)
    world["tickets"].append(ticket(container.app, "P1"))
    container.run_projections_once()
    with psycopg.connect(container.url) as conn:
        (n,) = conn.execute("SELECT count(*) FROM qt_read.ticket_facts").fetchone() or (0,)
    assert n == len(incremental["kpi_tickets.ticket_facts"]) + 1


def test_the_cli_names_the_known_projections_for_an_unknown_name(
    container: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", container.url)
    assert cli.main(["projections", "rebuild", "kpi_colours"]) == 2
    err = capsys.readouterr().err
    assert "unknown projection 'kpi_colours'" in err and all(n in err for n in KPI_NAMES)
