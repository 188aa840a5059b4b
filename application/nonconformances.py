"""Nonconformance use cases (DOMAIN.md §3): verbs in, ids and positions out.

Recurrence (same project and checklist item within 90 days) needs a lookup across
issues. It reads `qt_nc_recurrence`, a small table written in the SAME transaction as
the events that raise (or cancel) a nonconformance, through the recorder's
`after_insert` hook — so it is never behind the event store, unlike a projection.
`save()` is wrapped so that every path that raises a nonconformance with a
`source.item` (an inspection's submit, a manual raise) is covered, whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import Call, CommandResult, QualtraceBase, parse_ref
from application.errors import UnknownReference
from application.org import OrgCommands
from application.recorder import EXTRA_DDL
from domain.base import SYSTEM, Ctx, event_id
from domain.nonconformances import (
    DEFAULT_NOTICE_DAYS,
    RECURRENCE_WINDOW_DAYS,
    SOURCES,
    Nonconformance,
)

RECURRENCE_DDL = [
    """CREATE TABLE IF NOT EXISTS {schema}.qt_nc_recurrence (
        nc_id uuid PRIMARY KEY,
        number text NOT NULL,
        project text NOT NULL,
        item text NOT NULL,
        raised_at timestamptz NOT NULL,
        cancelled boolean NOT NULL DEFAULT false)""",
    "CREATE INDEX IF NOT EXISTS qt_nc_recurrence_item ON {schema}.qt_nc_recurrence (project, item, raised_at)",
]
for _ddl in RECURRENCE_DDL:
    if _ddl not in EXTRA_DDL:
        EXTRA_DDL.append(_ddl)

#: source.type -> the kind of issue its `ref` names (others are free-text references).
LINKED_SOURCES = {"ticket": "ticket", "inspection": "inspection", "survey": "survey"}

AfterInsert = Callable[[Cursor[DictRow], Sequence[int]], None]


def _chain(first: AfterInsert | None, second: AfterInsert) -> AfterInsert:
    def both(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
        if first is not None:
            first(cur, ids)
        second(cur, ids)

    return both


def _has_pending(agg: Nonconformance, event_class: type) -> bool:
    return any(isinstance(e, event_class) for e in agg.pending_events)


class NonconformanceCommands(OrgCommands, QualtraceBase):
    @property
    def notice_days(self) -> int:
        return int(self.policies.get("nc_notice_days", DEFAULT_NOTICE_DAYS))

    # -- raising -------------------------------------------------------------------
    def raise_nonconformance(
        self,
        call: Call,
        *,
        project: str,
        source: dict[str, Any],
        severity: str,
        description: str,
        department: str | None = None,
    ) -> CommandResult:
        self.require_project("project", project)
        resolved = self._resolve_source(project, source)

        def build(ctx: Ctx) -> list[Nonconformance]:
            nc = Nonconformance.raise_(
                ctx, number=self.next_number("nonconformance"), project=project, source=resolved,
                severity=severity, description=description, department=department,
            )
            self.mark_recurrence(nc)
            return [nc]

        return self.create(call, "nonconformance.raise", project, build)

    def _resolve_source(self, project: str, source: dict[str, Any]) -> dict[str, Any]:
        """Resolve `source.ref` to the issue it names (ticket, inspection, survey)."""
        if not isinstance(source, dict) or source.get("type") not in SOURCES:
            return dict(source) if isinstance(source, dict) else {}  # the domain names the bad field
        out = {k: v for k, v in source.items() if v is not None}
        kind = LINKED_SOURCES.get(out["type"])
        ref = out.get("ref")
        if kind is None or not ref:
            return out
        agg = self._find_issue(kind, str(ref))
        if agg is None:
            raise UnknownReference("source.ref", f"unknown {kind} '{ref}'")
        if getattr(agg, "project", None) not in (None, project) and kind != "survey":
            raise UnknownReference("source.ref", f"{agg.number} belongs to project {agg.project}, not {project}")
        out.update({"id": str(agg.id), "number": str(getattr(agg, "number", ref)), "kind": kind, "ref": str(ref)})
        return out

    def _find_issue(self, kind: str, ref: str) -> Any:
        try:
            agg: Any = self.repository.get(parse_ref(kind, ref))
        except (AggregateNotFoundError, ValueError):
            return None
        return agg if getattr(agg, "KIND", None) == kind else None

    # -- recurrence ----------------------------------------------------------------
    def mark_recurrence(self, nc: Nonconformance) -> None:
        """Mark a newly raised NC as a recurrence of the latest earlier, uncancelled NC of
        the same project and checklist item raised within the window (system's judgement)."""
        if nc.item_key is None or nc.recurrence_of is not None or nc.version != 1:
            return
        window = int(self.policies.get("nc_recurrence_days", RECURRENCE_WINDOW_DAYS))
        rows = self.sql(
            """SELECT nc_id, number, raised_at FROM qt_nc_recurrence
               WHERE project = %s AND item = %s AND NOT cancelled AND nc_id <> %s
                 AND raised_at >= %s AND raised_at <= %s
               ORDER BY raised_at DESC LIMIT 1""",
            (nc.project, nc.item_key, nc.id, nc.raised_at - timedelta(days=window), nc.raised_at),
        )
        if not rows:
            return
        raised = nc.pending_events[0]
        ctx = Ctx(SYSTEM, nc.raised_at, getattr(raised, "correlation_id", "") or "recurrence", event_id(nc.id, 1))
        row = rows[0]
        nc.mark_recurrence(ctx, str(row["nc_id"]), row["number"], row["raised_at"])

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Save, keeping the recurrence index in the same transaction as the events."""
        ncs = [o for o in objs if isinstance(o, Nonconformance)]
        raised = [nc for nc in ncs if nc.item_key and _has_pending(nc, Nonconformance.Raised)]
        cancelled = [nc for nc in ncs if nc.item_key and _has_pending(nc, Nonconformance.Cancelled)]
        if raised or cancelled:
            for nc in raised:
                self.mark_recurrence(nc)
            rows = [(nc.id, nc.number, nc.project, nc.item_key, nc.raised_at) for nc in raised]
            gone = [nc.id for nc in cancelled]

            def index(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
                for row in rows:
                    cur.execute(
                        "INSERT INTO qt_nc_recurrence (nc_id, number, project, item, raised_at)"
                        " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (nc_id) DO NOTHING",
                        row,
                    )
                for nc_id in gone:
                    cur.execute("UPDATE qt_nc_recurrence SET cancelled = true WHERE nc_id = %s", (nc_id,))

            kwargs["after_insert"] = _chain(kwargs.get("after_insert"), index)
        return super().save(*objs, **kwargs)

    # -- the lifecycle ---------------------------------------------------------------
    def notice_nonconformance(
        self, call: Call, ref: str, responsible_department: str, responsible_person: str,
        due_date: datetime | date | None = None,
    ) -> CommandResult:
        return self.execute(
            call, "nonconformance.notice", Nonconformance, ref,
            lambda n, c: n.notice(c, responsible_department, responsible_person, due_date, self.tz, self.notice_days),
        )

    def analyse_nonconformance(self, call: Call, ref: str, analysis: str) -> CommandResult:
        return self.execute(call, "nonconformance.root_cause", Nonconformance, ref, lambda n, c: n.analyse(c, analysis))

    def plan_nonconformance(
        self, call: Call, ref: str, corrective_actions: list[str], preventive_actions: list[str]
    ) -> CommandResult:
        return self.execute(
            call, "nonconformance.plan", Nonconformance, ref,
            lambda n, c: n.plan(c, corrective_actions, preventive_actions),
        )

    def decide_nonconformance_plan(self, call: Call, ref: str, approved: bool, reason: str | None) -> CommandResult:
        return self.execute(
            call, "nonconformance.plan_decision", Nonconformance, ref, lambda n, c: n.decide_plan(c, approved, reason)
        )

    def rectify_nonconformance(self, call: Call, ref: str, summary: str, evidence: list[str] | None) -> CommandResult:
        return self.execute(
            call, "nonconformance.rectify", Nonconformance, ref, lambda n, c: n.rectify(c, summary, evidence)
        )

    def verify_nonconformance(
        self, call: Call, ref: str, effective: bool, notes: str | None,
        due_date: datetime | date | None = None, inspection: str | None = None,
    ) -> CommandResult:
        reinspection: dict[str, str] | None = None
        if inspection is not None:
            found = self._find_issue("inspection", inspection)
            if found is None:
                raise UnknownReference("inspection", f"unknown inspection '{inspection}'")
            reinspection = {"id": str(found.id), "number": str(found.number)}
        return self.execute(
            call, "nonconformance.verify", Nonconformance, ref,
            lambda n, c: n.verify(c, effective, notes, self.tz, due_date, self.notice_days, reinspection),
        )

    def request_nonconformance_extension(
        self, call: Call, ref: str, new_due_date: datetime | date, reason: str, remedial_measures: str
    ) -> CommandResult:
        return self.execute(
            call, "nonconformance.extension", Nonconformance, ref,
            lambda n, c: n.request_extension(c, new_due_date, reason, remedial_measures, self.tz),
        )

    def decide_nonconformance_extension(self, call: Call, ref: str, approved: bool, reason: str | None) -> CommandResult:
        return self.execute(
            call, "nonconformance.extension_decision", Nonconformance, ref,
            lambda n, c: n.decide_extension(c, approved, reason),
        )

    def dispose_nonconformance(
        self, call: Call, ref: str, disposition: str, notes: str | None, reason: str | None
    ) -> CommandResult:
        return self.execute(
            call, "nonconformance.disposition", Nonconformance, ref,
            lambda n, c: n.decide_disposition(c, disposition, notes, reason),
        )

    def cancel_nonconformance(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.execute(call, "nonconformance.cancel", Nonconformance, ref, lambda n, c: n.cancel(c, reason))

    # -- reads ---------------------------------------------------------------------
    def get_nonconformance(self, call: Call, ref: str | UUID, version: int | None = None) -> Nonconformance:
        nc = self.load(Nonconformance, ref, version)
        self.authorize(call, "nonconformance.read", nc.project)
        return nc
