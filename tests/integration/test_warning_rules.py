"""Early-warning rules over known sets of KPI facts, each with a hand count, and the
watcher raising each warning exactly once (repeated passes, a restart, a race).

The facts are written straight into the KPI fact tables (through their `qt_read` views):
they are the rules' input, and a hand-made set is what lets each boundary be named."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from application.warnings import WarningWatcher
from domain.errors import InvalidValue
from domain.warnings import DEFAULT_RULES, EarlyWarning, validate_rules, warning_id

SH = timezone(timedelta(hours=8))
RULES = {r["id"]: r for r in validate_rules(DEFAULT_RULES)}


def local(s: str) -> datetime:
    """A company-local wall-clock time (naive, as the `*_local` fact columns hold)."""
    return datetime.fromisoformat(s)


def at(container: Any, clock: Any, s: str) -> datetime:
    """Set the service clock to local time `s` (Asia/Shanghai); the local now."""
    clock.now = datetime.fromisoformat(s).replace(tzinfo=SH).astimezone(timezone.utc)
    return container.app.service.local_now()


def insert(conn: psycopg.Connection[Any], view: str, **cols: Any) -> None:
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    conn.execute(f"INSERT INTO qt_read.{view} ({names}) VALUES ({marks})", list(cols.values()))


def inspection(conn: Any, project: str, planned: str, score: float | None, **kw: Any) -> None:
    t = local(planned)
    row = dict(
        inspection_id=uuid.uuid4(),
        number=f"INS-{uuid.uuid4().hex[:8]}",
        project=project,
        region="SH",
        kind="routine",
        template_number="CT-2026-000001",
        template_version=1,
        status="finalized",
        planned_for=t.date(),
        planned_local=t,
        scheduled_at=t.replace(tzinfo=SH),
        submitted_at=t.replace(tzinfo=SH),
        score=score,
    )
    row.update(kw)
    insert(conn, "inspection_facts", **row)


def item(conn: Any, project: str, item_id: str, planned: str, result: str, counted: bool = True):
    insert(
        conn,
        "inspection_item_facts",
        inspection_id=uuid.uuid4(),
        item=item_id,
        number=f"INS-{planned}-{uuid.uuid4().hex[:4]}",
        project=project,
        region="SH",
        kind="routine",
        planned_local=local(planned),
        section="A",
        section_name="环境",
        requirement=f"{item_id} 要求",
        critical=False,
        max_points=10,
        points=0 if result == "fail" else 10,
        result=result,
        counted=counted,
    )


def ticket(conn: Any, project: str, received: str, kind: str = "complaint", **kw: Any) -> None:
    t = local(received)
    row = dict(
        ticket_id=uuid.uuid4(),
        number=f"TK-{uuid.uuid4().hex[:8]}",
        project=project,
        region="SH",
        kind=kind,
        channel="phone",
        priority="normal",
        status="received",
        received_at=t.replace(tzinfo=SH),
        received_local=t,
        response_due=t.replace(tzinfo=SH) + timedelta(hours=2),
        resolution_due=t.replace(tzinfo=SH) + timedelta(days=3),
    )
    row.update(kw)
    insert(conn, "ticket_facts", **row)


def campaign(conn: Any, number: str, party: str, published: str | None, csi: float | None):
    insert(
        conn,
        "survey_campaign_facts",
        campaign_id=uuid.uuid4(),
        number=number,
        title=f"调查 {number}",
        party=party,
        status="published" if published else "open",
        target_sample=100,
        target_csi=80,
        questions="[]",
        loyalty_mapping="{}",
        drafted_at=datetime(2025, 12, 1, tzinfo=SH),
        published_at=local(published).replace(tzinfo=SH) if published else None,
        published_csi=csi,
    )


@pytest.fixture
def facts(container: Any) -> Any:
    with psycopg.connect(container.url, autocommit=True) as conn:
        yield conn


def found(container: Any, rule_id: str, now: datetime) -> list[Any]:
    return WarningWatcher(container.app.service).findings(RULES[rule_id], now)


# -- each rule, a hand count -----------------------------------------------------------------
def test_monthly_inspection_average_below_80(container: Any, clock: Any, facts: Any) -> None:
    now = at(container, clock, "2026-04-03T10:00:00")
    inspection(facts, "P1", "2026-03-05T09:00:00", 70)
    inspection(facts, "P1", "2026-03-25T09:00:00", 85)  # P1 March: (70 + 85) / 2 = 77.5 < 80
    inspection(facts, "P2", "2026-03-10T09:00:00", 80)
    inspection(facts, "P2", "2026-03-11T09:00:00", 80)  # P2: exactly 80, not below
    inspection(facts, "P2", "2026-03-12T09:00:00", 10, submitted_at=None)  # not submitted
    inspection(facts, "P3", "2026-03-12T09:00:00", 90)
    inspection(
        facts, "P3", "2026-03-13T09:00:00", 50, cancelled_at=datetime(2026, 3, 14, tzinfo=SH)
    )  # cancelled: P3 stays at 90
    inspection(facts, "P4", "2026-04-01T09:00:00", 60)  # April: not a complete month yet
    inspection(facts, "P5", "2026-02-27T09:00:00", 40)  # February: not the last month
    out = found(container, "inspection-average-below-80", now)
    assert [(f.subject, f.period) for f in out] == [("P1", "2026-03")]
    assert out[0].figures == {
        "month": "2026-03",
        "inspections": 2,
        "average_score": 77.5,
        "threshold": 80.0,
    }


def test_campaign_csi_down_more_than_5_against_the_previous(
    container: Any, clock: Any, facts: Any
) -> None:
    now = at(container, clock, "2026-04-03T10:00:00")
    campaign(facts, "SV-2026-000001", "third_party", "2026-01-20T10:00:00", 82.0)
    campaign(facts, "SV-2026-000002", "third_party", "2026-02-20T10:00:00", 76.5)  # -5.5
    campaign(facts, "SV-2026-000003", "third_party", "2026-03-20T10:00:00", 72.0)  # -4.5
    campaign(
        facts, "SV-2026-000004", "first_party", "2026-03-01T10:00:00", 60.0
    )  # first of its party
    campaign(facts, "SV-2026-000005", "third_party", None, None)  # not published
    out = found(container, "campaign-csi-down-5", now)
    assert [f.period for f in out] == ["SV-2026-000002"]
    assert out[0].project is None
    assert out[0].figures["previous_campaign"] == "SV-2026-000001"
    assert out[0].figures["drop"] == 5.5


def test_complaints_this_week_above_twice_the_8_week_median(
    container: Any, clock: Any, facts: Any
) -> None:
    now = at(container, clock, "2026-04-08T15:00:00")  # a Wednesday; the week began 6 April
    monday = local("2026-04-06T10:00:00")
    # P1, the 8 weeks before (newest first): 1,2,1,0,3,1,2,1 -> median 1; this week 3 > 2.
    for k, n in enumerate([1, 2, 1, 0, 3, 1, 2, 1], start=1):
        for _ in range(n):
            ticket(facts, "P1", (monday - timedelta(weeks=k)).isoformat())
    for _ in range(3):
        ticket(facts, "P1", "2026-04-07T09:00:00")
    ticket(facts, "P1", "2026-02-02T09:00:00")  # nine weeks back: outside the window
    # P2: 2 a week before -> median 2; this week 4 (not above 4); a cancelled complaint
    # and a repair this week do not count.
    for k in range(1, 9):
        for _ in range(2):
            ticket(facts, "P2", (monday - timedelta(weeks=k)).isoformat())
    for _ in range(4):
        ticket(facts, "P2", "2026-04-06T11:00:00")
    ticket(facts, "P2", "2026-04-07T11:00:00", cancelled_at=datetime(2026, 4, 7, 12, tzinfo=SH))
    ticket(facts, "P2", "2026-04-07T11:00:00", kind="repair")
    # P3: no history, 2 this week: above 2 x 0 but under the rule's minimum of 3.
    for _ in range(2):
        ticket(facts, "P3", "2026-04-08T09:00:00")
    out = found(container, "complaints-week-2x-median", now)
    assert [(f.subject, f.period) for f in out] == [("P1", "2026-W15")]
    assert out[0].figures["complaints"] == 3
    assert out[0].figures["previous_weeks"] == [1, 2, 1, 0, 3, 1, 2, 1]
    assert out[0].figures["median"] == 1.0


def test_same_checklist_item_failed_3_times_in_90_days(
    container: Any, clock: Any, facts: Any
) -> None:
    now = at(container, clock, "2026-04-08T10:00:00")  # 90 days back: 8 January
    for day in ("2026-01-20", "2026-02-15", "2026-03-30"):
        item(facts, "P1", "A1", f"{day}T09:00:00", "fail")
    item(facts, "P1", "A1", "2026-03-01T09:00:00", "pass")
    for day in ("2025-12-01", "2026-02-01", "2026-03-01"):  # the first is 128 days back
        item(facts, "P1", "A2", f"{day}T09:00:00", "fail")
    item(facts, "P2", "A1", "2026-02-01T09:00:00", "fail")
    item(facts, "P2", "A1", "2026-03-01T09:00:00", "fail")
    item(facts, "P2", "A1", "2026-03-02T09:00:00", "fail", counted=False)  # not submitted
    out = found(container, "checklist-item-3-in-90-days", now)
    assert [(f.subject, f.period) for f in out] == [("P1/A1", "2026-03-30")]
    assert out[0].figures["failures"] == 3


def test_sla_met_below_90_percent_for_a_month(container: Any, clock: Any, facts: Any) -> None:
    now = at(container, clock, "2026-04-03T10:00:00")
    for i in range(10):  # P1 March: 8 of 10 decided met -> 80%
        met = i < 8
        ticket(
            facts,
            "P1",
            f"2026-03-{i + 1:02d}T09:00:00",
            "repair",
            response_met=True,
            resolution_met=met,
        )
    ticket(facts, "P1", "2026-03-31T09:00:00", "repair")  # undecided: not counted
    for i in range(10):  # P2 March: 9 of 10 -> 90%, not below
        ticket(
            facts,
            "P2",
            f"2026-03-{i + 1:02d}T09:00:00",
            "repair",
            response_met=i != 0,
            resolution_met=True,
        )
    ticket(facts, "P3", "2026-04-01T09:00:00", "repair", response_met=False, resolution_met=False)
    out = found(container, "sla-met-below-90", now)
    assert [(f.subject, f.period) for f in out] == [("P1", "2026-03")]
    assert out[0].figures == {
        "month": "2026-03",
        "decided": 10,
        "met": 8,
        "sla_met_pct": 80.0,
        "threshold": 90.0,
    }


# -- exactly once ------------------------------------------------------------------------------
def test_each_warning_is_raised_once_across_passes_restarts_and_a_race(
    container: Any, clock: Any, facts: Any
) -> None:
    container.app.org  # noqa: B018 - the app is up
    at(container, clock, "2026-04-03T10:00:00")
    inspection(facts, "P1", "2026-03-05T09:00:00", 70)
    inspection(facts, "P2", "2026-03-05T09:00:00", 60)
    watcher = container.warning_watcher
    first = watcher.run_once()
    assert len(first.raised) == 2 and not first.errors
    assert all(n.startswith("YJ-2026-") for n in first.raised)
    assert watcher.run_once().raised == []
    assert WarningWatcher(container.app.service).run_once().raised == []  # a restart
    # A new finding raced by four watchers: one warning.
    inspection(facts, "P3", "2026-03-05T09:00:00", 50)
    watchers = [WarningWatcher(container.app.service) for _ in range(4)]
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def go(w: WarningWatcher) -> None:
        barrier.wait()
        results.append(w.run_once())

    threads = [threading.Thread(target=go, args=(w,)) for w in watchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.raised) for r in results) == 1
    assert all(not r.errors for r in results)
    wid = warning_id("inspection-average-below-80", "P3", "2026-03")
    w = container.app.service.load(EarlyWarning, wid)
    assert w.version == 1 and w.figures["average_score"] == 50.0
    # Next month, March is no longer "the last month": nothing new.
    at(container, clock, "2026-05-03T10:00:00")
    assert watcher.run_once().raised == []


def test_rules_are_validated() -> None:
    with pytest.raises(InvalidValue, match=r"warning_rules\[0\].kind"):
        validate_rules([{"id": "x", "kind": "nope"}])
    with pytest.raises(InvalidValue, match=r"warning_rules\[0\].threshold"):
        validate_rules([{"id": "x", "kind": "sla_met_below", "threshold": "high"}])
    with pytest.raises(InvalidValue, match="used twice"):
        validate_rules([{"id": "x", "kind": "sla_met_below"}] * 2)
    with pytest.raises(InvalidValue, match="unknown parameters"):
        validate_rules([{"id": "x", "kind": "sla_met_below", "factor": 2}])
    custom = validate_rules([{"id": "sla-95", "kind": "sla_met_below", "threshold": 95}])
    assert custom[0]["threshold"] == 95.0 and custom[0]["min_count"] == 1


def test_the_cli_runs_one_pass_with_rules_from_the_environment(container: Any, facts: Any) -> None:
    import json
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    for _ in range(2):
        ticket(facts, "P1", now.isoformat())
    rules = [{"id": "complaints-2", "kind": "complaints_spike", "min_count": 2}]
    env = {
        "DATABASE_URL": container.url,
        "PATH": "/usr/bin:/bin",
        "QUALTRACE_WARNING_RULES": json.dumps(rules),
    }
    runs = [
        subprocess.run(
            [sys.executable, "-m", "qualtrace.cli", "warnings", "run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    reports = []
    for r in runs:
        assert r.returncode == 0, r.stderr
        reports.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert reports[0]["findings"] == 1 and len(reports[0]["raised"]) == 1
    assert reports[1]["findings"] == 1 and reports[1]["raised"] == []
    bad = subprocess.run(
        [sys.executable, "-m", "qualtrace.cli", "warnings", "run"],
        env={**env, "QUALTRACE_WARNING_RULES": json.dumps([{"id": "x", "kind": "nope"}])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "warning_rules[0].kind" in bad.stderr
