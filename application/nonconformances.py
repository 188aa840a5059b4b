"""Nonconformance use cases (DOMAIN.md §3): verbs in, ids and positions out.

Raising or cancelling one passes the recurrence index's hook to the commit
(`application.processes.NonconformanceIndex`): the index is written in the same
transaction as the events. Those an inspection or an escalation calls for are raised by
`application.processes.Processes`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from application.attachments import AttachmentService
from application.base import Call, CommandResult, parse_ref
from application.errors import UnknownReference
from application.processes import NonconformanceIndex
from application.service import CommandService
from domain.assessment_policy import validate_policy
from domain.base import Ctx
from domain.nonconformances import DEFAULT_NOTICE_DAYS, Nonconformance
from domain.vocabulary import NONCONFORMANCE_SOURCES

#: source.type -> the kind of issue its `ref` names (others are free-text references).
LINKED_SOURCES = {"ticket": "ticket", "inspection": "inspection", "survey": "survey"}


class NonconformanceService:
    def __init__(
        self, service: CommandService, index: NonconformanceIndex, attachments: AttachmentService
    ) -> None:
        self.service = service
        self.index = index
        self.attachments = attachments

    @property
    def notice_days(self) -> int:
        return int(self.service.policies.get("nc_notice_days", DEFAULT_NOTICE_DAYS))

    @property
    def deductions(self) -> dict[str, Any]:
        """The assessment policy's deduction table (points per failed re-check, ...)."""
        return validate_policy(self.service.policies.get("assessment") or {})["deductions"]

    # -- raising -------------------------------------------------------------------
    def raise_(
        self,
        call: Call,
        *,
        project: str,
        source: dict[str, Any],
        severity: str,
        description: str,
        department: str | None = None,
    ) -> CommandResult:
        self.service.require_project_for(call, "nonconformance.raise", "project", project)
        resolved = self._resolve_source(project, source)

        def build(ctx: Ctx) -> list[Nonconformance]:
            nc = Nonconformance.raise_(
                ctx,
                number=self.service.next_number("nonconformance"),
                project=project,
                source=resolved,
                severity=severity,
                description=description,
                department=department,
            )
            return [nc]

        return self.service.create(
            call, "nonconformance.raise", project, build, hooks=self.index.hooks
        )

    def _resolve_source(self, project: str, source: dict[str, Any]) -> dict[str, Any]:
        """Resolve `source.ref` to the issue it names (ticket, inspection, survey)."""
        if not isinstance(source, dict) or source.get("type") not in NONCONFORMANCE_SOURCES:
            return (
                dict(source) if isinstance(source, dict) else {}
            )  # the domain names the bad field
        out = {k: v for k, v in source.items() if v is not None}
        kind = LINKED_SOURCES.get(out["type"])
        ref = out.get("ref")
        if kind is None or not ref:
            return out
        agg = self._find_issue(kind, str(ref))
        if agg is None:
            raise UnknownReference("source.ref", f"unknown {kind} '{ref}'")
        if getattr(agg, "project", None) not in (None, project) and kind != "survey":
            raise UnknownReference(
                "source.ref", f"{agg.number} belongs to project {agg.project}, not {project}"
            )
        out.update(
            {
                "id": str(agg.id),
                "number": str(getattr(agg, "number", ref)),
                "kind": kind,
                "ref": str(ref),
            }
        )
        return out

    def _find_issue(self, kind: str, ref: str) -> Any:
        try:
            agg: Any = self.service.store.repository.get(parse_ref(kind, ref))
        except (AggregateNotFoundError, ValueError):
            return None
        return agg if getattr(agg, "KIND", None) == kind else None

    # -- the lifecycle ---------------------------------------------------------------
    def notice(
        self,
        call: Call,
        ref: str,
        responsible_department: str,
        responsible_person: str,
        due_date: datetime | date | None = None,
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.notice",
            Nonconformance,
            ref,
            lambda n, c: n.notice(
                c,
                responsible_department,
                responsible_person,
                due_date,
                self.service.store.tz,
                self.notice_days,
            ),
        )

    def analyse(self, call: Call, ref: str, analysis: str) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.root_cause",
            Nonconformance,
            ref,
            lambda n, c: n.analyse(c, analysis),
        )

    def plan(
        self, call: Call, ref: str, corrective_actions: list[str], preventive_actions: list[str]
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.plan",
            Nonconformance,
            ref,
            lambda n, c: n.plan(c, corrective_actions, preventive_actions),
        )

    def decide_plan(
        self, call: Call, ref: str, approved: bool, reason: str | None
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.plan_decision",
            Nonconformance,
            ref,
            lambda n, c: n.decide_plan(c, approved, reason),
        )

    def rectify(
        self,
        call: Call,
        ref: str,
        summary: str,
        evidence: list[str] | None,
        attachments: list[str] | None = None,
    ) -> CommandResult:
        """Report the rectification; `attachments` are its photos, by digest."""
        files: list[str] = []

        def step(n: Nonconformance, c: Ctx) -> None:
            files[:] = self.attachments.require(call, attachments)
            n.rectify(c, summary, evidence, files)

        return self.service.execute(
            call,
            "nonconformance.rectify",
            Nonconformance,
            ref,
            step,
            hooks=lambda n: self.attachments.hooks(n, "rectify", files),
        )

    def verify(
        self,
        call: Call,
        ref: str,
        effective: bool,
        notes: str | None,
        due_date: datetime | date | None = None,
        inspection: str | None = None,
        attachments: list[str] | None = None,
    ) -> CommandResult:
        """Record the re-inspection; `attachments` are its photos, by digest."""
        reinspection: dict[str, str] | None = None
        if inspection is not None:
            found = self._find_issue("inspection", inspection)
            if found is None:
                raise UnknownReference("inspection", f"unknown inspection '{inspection}'")
            reinspection = {"id": str(found.id), "number": str(found.number)}
        files: list[str] = []

        def step(n: Nonconformance, c: Ctx) -> None:
            files[:] = self.attachments.require(call, attachments)
            n.verify(
                c,
                effective,
                notes,
                self.service.store.tz,
                due_date,
                self.notice_days,
                reinspection,
                self.deductions,
                files,
            )

        return self.service.execute(
            call,
            "nonconformance.verify",
            Nonconformance,
            ref,
            step,
            hooks=lambda n: self.attachments.hooks(n, "verify", files),
        )

    def request_extension(
        self,
        call: Call,
        ref: str,
        new_due_date: datetime | date,
        reason: str,
        remedial_measures: str,
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.extension",
            Nonconformance,
            ref,
            lambda n, c: n.request_extension(
                c, new_due_date, reason, remedial_measures, self.service.store.tz
            ),
        )

    def decide_extension(
        self, call: Call, ref: str, approved: bool, reason: str | None
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.extension_decision",
            Nonconformance,
            ref,
            lambda n, c: n.decide_extension(c, approved, reason),
        )

    def dispose(
        self, call: Call, ref: str, disposition: str, notes: str | None, reason: str | None
    ) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.disposition",
            Nonconformance,
            ref,
            lambda n, c: n.decide_disposition(c, disposition, notes, reason),
        )

    def cancel(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self.service.execute(
            call,
            "nonconformance.cancel",
            Nonconformance,
            ref,
            lambda n, c: n.cancel(c, reason),
            hooks=lambda n: self.index.hooks([n]),
        )

    # -- reads ---------------------------------------------------------------------
    def get(self, call: Call, ref: str | UUID, version: int | None = None) -> Nonconformance:
        nc = self.service.load(Nonconformance, ref, version)
        self.service.authorize(call, "nonconformance.read", nc.project)
        return nc
