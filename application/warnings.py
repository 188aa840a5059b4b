"""Early warnings (风险预警): the commands on a warning, and the watcher that evaluates
the rules over the KPI facts and raises each warning once.

The watcher is a background pass on the service's (injectable) clock, like the deadline
watcher (`application.deadlines`). Each rule kind is one query over the KPI fact views
(`qt_read.*_facts`, kept by `projections/kpis/`) that yields findings: a subject (a
project, a campaign, a project's checklist item), a period and the figures. A finding
becomes a `WarningRaised` whose id is `warning_id(rule, subject, period)`:
- a warning already recorded is seen by loading that id from the event store (not the
  read side), so a lagging projection can never repeat one;
- two watchers racing on the same finding both try to append version 1 of the same id;
  the store refuses the second (`IntegrityError`), which is then skipped. A crash before
  the append leaves nothing; the next pass finds the same finding and raises it once.
"""

from __future__ import annotations

import logging
import statistics
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.base import Call
from application.errors import NotFound
from application.service import CommandResult, CommandService
from domain.base import SYSTEM, Ctx
from domain.warnings import DEFAULT_RULES, EarlyWarning, validate_rules, warning_id
from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.warnings")


@dataclass(frozen=True)
class Finding:
    """What one rule found about one subject in one period."""

    subject: str
    label: str
    project: str | None
    period: str
    figures: dict[str, Any]
    message: str


@dataclass
class WarningRun:
    at: datetime
    correlation_id: str
    findings: int = 0
    raised: list[str] = field(default_factory=list)  # numbers
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "correlation_id": self.correlation_id,
            "findings": self.findings,
            "raised": list(self.raised),
            "errors": list(self.errors),
        }


def _month_bounds(local_now: datetime, months_back: int = 1) -> tuple[datetime, datetime, str]:
    """[start, end) of the complete calendar month `months_back` before now (naive local)."""
    first = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    start = first
    for _ in range(months_back):
        start = (start - timedelta(days=1)).replace(day=1)
    end = first if months_back == 1 else (start + timedelta(days=32)).replace(day=1)
    return start, end, f"{start:%Y-%m}"


def _r(x: Any, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits)


# -- the rule kinds: each a query over the KPI facts ------------------------------------------
Sql = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


def inspection_average_below(sql: Sql, rule: dict[str, Any], now: datetime) -> Iterator[Finding]:
    start, end, month = _month_bounds(now)
    rows = sql(
        """SELECT project, count(*) AS n, avg(score) AS avg FROM qt_read.inspection_facts
            WHERE submitted_at IS NOT NULL AND cancelled_at IS NULL
              AND planned_local >= %(start)s AND planned_local < %(end)s
            GROUP BY project HAVING count(*) >= %(min)s AND avg(score) < %(threshold)s
            ORDER BY project""",
        {"start": start, "end": end, "min": rule["min_count"], "threshold": rule["threshold"]},
    )
    for r in rows:
        avg = _r(r["avg"])
        yield Finding(
            subject=r["project"],
            label=r["project"],
            project=r["project"],
            period=month,
            figures={
                "month": month,
                "inspections": r["n"],
                "average_score": avg,
                "threshold": rule["threshold"],
            },
            message=f"{r['project']} {month}: mean inspection score {avg} over {r['n']} "
            f"inspection(s), below {rule['threshold']:g}",
        )


def campaign_csi_drop(sql: Sql, rule: dict[str, Any], now: datetime) -> Iterator[Finding]:
    rows = sql(
        """WITH p AS (
             SELECT campaign_id, number, title, party, published_csi,
                    lag(published_csi) OVER w AS prev_csi, lag(number) OVER w AS prev_number
               FROM qt_read.survey_campaign_facts
              WHERE published_at IS NOT NULL AND published_csi IS NOT NULL
             WINDOW w AS (PARTITION BY party ORDER BY published_at, number))
           SELECT * FROM p WHERE prev_csi IS NOT NULL AND prev_csi - published_csi > %(points)s
           ORDER BY number""",
        {"points": rule["points"]},
    )
    for r in rows:
        drop = _r(r["prev_csi"] - r["published_csi"])
        yield Finding(
            subject=str(r["campaign_id"]),
            label=f"{r['number']} {r['title']}",
            project=None,
            period=r["number"],
            figures={
                "campaign": r["number"],
                "csi": _r(r["published_csi"]),
                "previous_campaign": r["prev_number"],
                "previous_csi": _r(r["prev_csi"]),
                "drop": drop,
                "points": rule["points"],
            },
            message=f"{r['number']}: CSI {_r(r['published_csi'])}, down {drop} from "
            f"{_r(r['prev_csi'])} ({r['prev_number']}), more than {rule['points']:g}",
        )


def complaints_spike(sql: Sql, rule: dict[str, Any], now: datetime) -> Iterator[Finding]:
    local = now.replace(tzinfo=None)
    week = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    weeks = int(rule["weeks"])
    rows = sql(
        """SELECT project, date_trunc('week', received_local) AS wk, count(*) AS n
             FROM qt_read.ticket_facts
            WHERE kind = 'complaint' AND cancelled_at IS NULL
              AND received_local >= %(since)s AND received_local < %(until)s
            GROUP BY project, wk""",
        {"since": week - timedelta(weeks=weeks), "until": week + timedelta(weeks=1)},
    )
    counts: dict[str, dict[datetime, int]] = {}
    for r in rows:
        counts.setdefault(r["project"], {})[r["wk"]] = int(r["n"])
    iso = week.isocalendar()
    period = f"{iso.year}-W{iso.week:02d}"
    for project in sorted(counts):
        by_week = counts[project]
        n = by_week.get(week, 0)
        before = [by_week.get(week - timedelta(weeks=k), 0) for k in range(1, weeks + 1)]
        median = float(statistics.median(before))
        if n < rule["min_count"] or n <= rule["factor"] * median:
            continue
        yield Finding(
            subject=project,
            label=project,
            project=project,
            period=period,
            figures={
                "week": period,
                "complaints": n,
                "previous_weeks": before,
                "median": median,
                "factor": rule["factor"],
            },
            message=f"{project} {period}: {n} complaints, above {rule['factor']:g} x the "
            f"median {median:g} of the {weeks} weeks before",
        )


def item_recurrence(sql: Sql, rule: dict[str, Any], now: datetime) -> Iterator[Finding]:
    local = now.replace(tzinfo=None)
    rows = sql(
        """SELECT project, item, max(requirement) AS requirement, count(*) AS n,
                  max(planned_local) AS last, array_agg(number ORDER BY planned_local, number) AS numbers
             FROM qt_read.inspection_item_facts
            WHERE counted AND result = 'fail'
              AND planned_local > %(since)s AND planned_local <= %(until)s
            GROUP BY project, item HAVING count(*) >= %(count)s
            ORDER BY project, item""",
        {"since": local - timedelta(days=rule["days"]), "until": local, "count": rule["count"]},
    )
    for r in rows:
        last = f"{r['last']:%Y-%m-%d}"
        yield Finding(
            subject=f"{r['project']}/{r['item']}",
            label=f"{r['project']} {r['item']} {r['requirement']}",
            project=r["project"],
            # Raised again only when a further failure keeps the count at the threshold.
            period=last,
            figures={
                "item": r["item"],
                "requirement": r["requirement"],
                "failures": r["n"],
                "days": rule["days"],
                "inspections": list(r["numbers"]),
                "last_failure": last,
            },
            message=f"{r['project']}: checklist item {r['item']} failed {r['n']} times in "
            f"{rule['days']} days (last {last})",
        )


def sla_met_below(sql: Sql, rule: dict[str, Any], now: datetime) -> Iterator[Finding]:
    start, end, month = _month_bounds(now)
    rows = sql(
        """SELECT project,
                  count(*) FILTER (WHERE (response_met AND resolution_met) IS NOT NULL) AS decided,
                  count(*) FILTER (WHERE response_met AND resolution_met) AS met
             FROM qt_read.ticket_facts
            WHERE received_local >= %(start)s AND received_local < %(end)s
            GROUP BY project ORDER BY project""",
        {"start": start, "end": end},
    )
    for r in rows:
        decided, met = int(r["decided"]), int(r["met"])
        if decided < rule["min_count"] or decided == 0:
            continue
        pct = round(100.0 * met / decided, 2)
        if pct >= rule["threshold"]:
            continue
        yield Finding(
            subject=r["project"],
            label=r["project"],
            project=r["project"],
            period=month,
            figures={
                "month": month,
                "decided": decided,
                "met": met,
                "sla_met_pct": pct,
                "threshold": rule["threshold"],
            },
            message=f"{r['project']} {month}: SLA met {pct}% ({met}/{decided}), "
            f"below {rule['threshold']:g}%",
        )


EVALUATORS: dict[str, Callable[[Sql, dict[str, Any], datetime], Iterator[Finding]]] = {
    "inspection_average_below": inspection_average_below,
    "campaign_csi_drop": campaign_csi_drop,
    "complaints_spike": complaints_spike,
    "item_recurrence": item_recurrence,
    "sla_met_below": sla_met_below,
}


# -- commands --------------------------------------------------------------------------------
class WarningService:
    """Reading, acknowledging and resolving warnings (raising is the watcher's)."""

    def __init__(self, service: CommandService) -> None:
        self.service = service

    def _id(self, ref: str) -> UUID:
        """A warning by UUID or by its number (`YJ-2026-000001`, found on the read side)."""
        try:
            return UUID(str(ref))
        except ValueError:
            rows = self.service.sql(
                "SELECT id FROM qt_read.warnings WHERE upper(number) = upper(%s)", (ref.strip(),)
            )
            if not rows:
                raise NotFound("warning", ref) from None
            return UUID(str(rows[0]["id"]))

    def get(self, call: Call, ref: str) -> EarlyWarning:
        warning = self.service.load(EarlyWarning, self._id(ref))
        self.service.authorize(call, "warning.read", warning.project)
        return warning

    def acknowledge(self, call: Call, ref: str, note: str | None) -> CommandResult:
        return self.service.execute(
            call,
            "warning.acknowledge",
            EarlyWarning,
            self._id(ref),
            lambda w, ctx: w.acknowledge(ctx, note),
        )

    def resolve(self, call: Call, ref: str, note: str) -> CommandResult:
        return self.service.execute(
            call,
            "warning.resolve",
            EarlyWarning,
            self._id(ref),
            lambda w, ctx: w.resolve(ctx, note),
        )


# -- the watcher -----------------------------------------------------------------------------
class WarningWatcher(BackgroundLoop):
    """Evaluates every rule and raises what it finds, once. `run_once()` for one pass;
    `start()` runs a pass every `interval` seconds."""

    thread_name = "warning-watcher"

    def __init__(
        self,
        service: CommandService,
        rules: list[dict[str, Any]] | None = None,
        interval: float = 300.0,
    ) -> None:
        super().__init__()
        self.service = service
        self.rules = validate_rules(rules if rules is not None else DEFAULT_RULES)
        self.interval = interval
        self.last_run: WarningRun | None = None

    def findings(self, rule: dict[str, Any], now: datetime) -> list[Finding]:
        """What `rule` finds at `now` (company-local time)."""
        return list(EVALUATORS[rule["kind"]](self.service.sql, rule, now))

    def run_once(self) -> WarningRun:
        at = self.service.clock()
        run = WarningRun(at=at, correlation_id=f"warning-watcher:{uuid.uuid4()}")
        local = self.service.local_now()
        for rule in self.rules:
            try:
                found = self.findings(rule, local)
            except Exception as e:  # one bad rule must not stop the others
                log.exception("warning rule %s", rule["id"])
                run.errors.append(f"{rule['id']}: {e}")
                continue
            run.findings += len(found)
            for f in found:
                try:
                    number = self.raise_once(rule, f, Ctx(SYSTEM, at, run.correlation_id))
                except Exception as e:
                    log.exception("warning rule %s, subject %s", rule["id"], f.subject)
                    run.errors.append(f"{rule['id']} {f.subject}: {e}")
                    continue
                if number:
                    run.raised.append(number)
        self.last_run = run
        return run

    def raise_once(self, rule: dict[str, Any], f: Finding, ctx: Ctx) -> str | None:
        """Record the finding's warning unless it is recorded already; its number, or None."""
        wid = warning_id(rule["id"], f.subject, f.period)
        if self.service.exists(EarlyWarning, str(wid)):
            return None
        warning = EarlyWarning.raise_warning(
            ctx,
            number=self.service.next_number("warning"),
            rule=rule,
            subject=f.subject,
            subject_label=f.label,
            project=f.project,
            region=self.service.project_region(f.project) if f.project else None,
            period=f.period,
            figures=f.figures,
            message=f.message,
        )
        try:
            self.service.record(warning)
        except IntegrityError:
            return None  # another watcher recorded it first
        return str(warning.number)

    def _session(self) -> None:
        while not self._stop.wait(self.interval):
            run = self.run_once()
            if run.raised or run.errors:
                log.info("warning watcher: raised %s, errors %s", run.raised, run.errors)

    def _failed(self, error: BaseException) -> None:
        log.exception("warning watcher pass failed; retrying next interval")

    def _retry_seconds(self) -> float:
        return 0.0
