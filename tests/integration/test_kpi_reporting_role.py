"""The reporting schema: documented views a read-only role can read, and nothing else."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from application.base import Call
from application.security import Principal

DESK = Call(Principal("li.na", "Li Na", "supervisor"), "corr-1")


def seed(c: Any) -> None:
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
    c.app.tickets.dispatch(DESK, t.id, "engineering", "wang")
    c.run_projections_once()


@pytest.fixture
def org(api: Any) -> Any:
    api.setup_org()
    return api.container


def as_reporting(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET ROLE qualtrace_reporting")
    return conn


def test_the_reporting_role_reads_kpi_views_and_nothing_else(org: Any) -> None:
    seed(org)
    with as_reporting(org.url) as conn:
        (received,) = conn.execute(
            "SELECT received FROM reporting.ticket_kpis_project_month WHERE project = 'P1'"
        ).fetchone() or (None,)
        assert received == 1
        assert conn.execute("SELECT count(*) FROM reporting.ticket_facts").fetchone() == (1,)
        for forbidden in (
            "qualtrace_events",
            "qt_read.tickets",
            "qt_read.ticket_facts",
            "api_tokens",
            "qt_projection_tracking",
            "idempotency_keys",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {forbidden} LIMIT 1")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE VIEW reporting.mine AS SELECT 1")


def test_every_reporting_view_and_column_is_documented_and_free_of_personal_data(org: Any) -> None:
    with psycopg.connect(org.url) as conn:
        views = conn.execute(
            """SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'reporting'"""
        ).fetchall()
        assert len(views) >= 10 and all(doc for _, doc in views), views
        undocumented = conn.execute(
            """SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'reporting' AND a.attnum > 0 AND NOT a.attisdropped
                 AND col_description(c.oid, a.attnum) IS NULL"""
        ).fetchall()
        assert undocumented == []
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'reporting'"
            ).fetchall()
        }
        assert not columns & {
            "reporter",
            "name",
            "phone",
            "unit",
            "assignee",
            "respondent_ref",
            "actor_name",
        }


def test_reporting_views_survive_a_rebuild_with_the_same_figures(org: Any) -> None:
    seed(org)
    with as_reporting(org.url) as conn:
        before = conn.execute("SELECT * FROM reporting.ticket_kpis_region_month").fetchall()
    org.rebuild("kpi_tickets")
    with as_reporting(org.url) as conn:
        assert conn.execute("SELECT * FROM reporting.ticket_kpis_region_month").fetchall() == before
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT 1 FROM qualtrace_events LIMIT 1")


def test_a_login_password_lets_a_bi_tool_connect_as_the_reporting_role(
    settings: Any, clock: Any
) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from qualtrace.bootstrap import bootstrap

    c = bootstrap(settings.model_copy(update={"reporting_password": "s3cret-bi"}), clock=clock)
    try:
        params = conninfo_to_dict(c.url)
        params.update(user="qualtrace_reporting", password="s3cret-bi")
        with psycopg.connect(make_conninfo(**params)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("qualtrace_reporting",)
            assert (
                conn.execute("SELECT count(*) FROM reporting.ticket_kpis_company_year").fetchone()
                is not None
            )
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT 1 FROM api_tokens")
    finally:
        with psycopg.connect(c.url, autocommit=True) as conn:
            conn.execute("ALTER ROLE qualtrace_reporting NOLOGIN PASSWORD NULL")
        c.close()


#: DOMAIN.md's KPI lines, as columns of the company-by-month reporting views.
DOMAIN_KPIS = {
    "ticket_kpis_company_month": {
        "received",
        "closed",
        "backlog",
        "response_median_minutes",
        "response_p90_minutes",
        "resolution_median_hours",
        "resolution_p90_hours",
        "sla_met_pct",
        "callback_rate_pct",
        "satisfaction_pct",
        "reopen_rate_pct",
        "escalations",
    },
    "inspection_kpis_company_month": {
        "score_avg",
        "score_rank",
        "grade_a",
        "grade_e",
        "planned",
        "done",
        "done_pct",
        "self_checks_on_time_pct",
        "items_failed",
    },
    "inspection_failed_items_month": {"section", "item", "items_failed", "fail_rank"},
    "inspection_grades_project_month": {"grade", "planned"},
    "nonconformance_kpis_company_month": {
        "open",
        "overdue",
        "closed_on_time_pct",
        "days_to_close_median",
        "days_to_close_p90",
        "re_notice_rate_pct",
        "recurrence_rate_pct",
    },
    "nonconformance_kpis_project_source_month": {"source", "severity", "raised"},
    "nonconformance_kpis_department_month": {"department", "open"},
    "survey_kpis_campaign": {
        "campaign",
        "party",
        "csi",
        "cli",
        "csi_gap",
        "response_rate_pct",
        "improvement_actions",
        "improvement_actions_closed",
        "csi_ci95_low",
    },
    "survey_kpis_campaign_project": {"project", "csi", "cli"},
    "survey_kpis_campaign_segment": {"segment", "csi", "cli"},
    "survey_kpis_party_year": {"party", "year", "csi"},
}


def test_a_bi_tool_as_the_reporting_role_sees_every_kpi_family_of_the_domain(org: Any) -> None:
    seed(org)
    with as_reporting(org.url) as conn:
        for view, columns in DOMAIN_KPIS.items():
            cur = conn.execute(f"SELECT * FROM reporting.{view}")
            cur.fetchall()
            have = {d.name for d in cur.description or ()}
            assert columns <= have, (view, columns - have)
        for level in ("project", "region", "company"):
            for period in ("month", "quarter", "year"):
                for prefix in ("ticket", "inspection", "nonconformance", "survey"):
                    conn.execute(
                        f"SELECT * FROM reporting.{prefix}_kpis_{level}_{period} LIMIT 1"
                    ).fetchall()
        for forbidden in (
            "qt_read.inspection_facts",
            "qt_read.nonconformance_facts",
            "qt_read.survey_response_facts",
            "qt_read.nonconformances",
            "survey_response_ids",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {forbidden} LIMIT 1")
