"""Nonconformances and corrective/preventive action (不合格项 / 纠正预防措施), DOMAIN.md §3.

raised → noticed (整改通知: responsible department and person, due date) → analysed (root
cause) → planned (corrective and preventive actions) → plan_approved (or sent back to
analysed) → rectified (with evidence) → verified by re-inspection (复检): effective →
closed; not effective → a new notice (count + 1), one escalation level up (project →
region → company 全公司通报) and a deduction flag for the next assessment.

Due dates: a date without a time means the END of that calendar day in the company's
time zone (23:59:59 local); the default is the end of the 7th day after the notice.
An `Overdue` event is recorded once per due date that passes without rectification
(a pending, timely extension request suspends it until it is decided).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from domain import nonconformance_events as events
from domain.assessment_policy import DEFAULT_DEDUCTIONS
from domain.attachments import require_digests
from domain.base import SYSTEM, Ctx, QAggregate, id_for, require_choice, require_text
from domain.due_dates import resolve_due
from domain.errors import InvalidValue, RuleViolation
from domain.vocabulary import (
    DEPARTMENTS,
    DISPOSITIONS,
    ESCALATION_LEVELS,
    NONCONFORMANCE_SOURCES,
    NUMBER_PREFIXES,
    SEVERITIES,
)

DEFAULT_NOTICE_DAYS = 7
RECURRENCE_WINDOW_DAYS = 90

_OPEN = ("disposition", "cancel")
_EXT = ("extension", "extension_decision")

#: States in which rectification is still owed (the due date can pass).
PENDING_RECTIFICATION = ("noticed", "analysed", "planned", "plan_approved")


def _actions(field: str, items: Any) -> list[str]:
    if not isinstance(items, list):
        raise InvalidValue(field, "must be a list of actions")
    return [require_text(f"{field}.{i}", item, 2000) for i, item in enumerate(items)]


class Nonconformance(QAggregate):
    KIND = "nonconformance"
    PREFIX = NUMBER_PREFIXES["nonconformance"]
    STATES = {
        "raised": ("notice", *_OPEN),
        "noticed": ("root_cause", *_EXT, *_OPEN),
        "analysed": ("root_cause", "plan", *_EXT, *_OPEN),
        "planned": ("plan_decision", *_EXT, *_OPEN),
        "plan_approved": ("rectify", *_EXT, *_OPEN),
        "rectified": ("verify", "extension_decision", *_OPEN),
        "closed": (),
        "cancelled": (),
    }

    # -- events (domain/nonconformance_events.py) ---
    Raised = events.Raised
    RecurrenceMarked = events.RecurrenceMarked
    NoticeIssued = events.NoticeIssued
    RootCauseAnalysed = events.RootCauseAnalysed
    PlanSubmitted = events.PlanSubmitted
    PlanApproved = events.PlanApproved
    PlanSentBack = events.PlanSentBack
    RectificationReported = events.RectificationReported
    Verified = events.Verified
    Closed = events.Closed
    ExtensionRequested = events.ExtensionRequested
    ExtensionApproved = events.ExtensionApproved
    ExtensionRejected = events.ExtensionRejected
    Overdue = events.Overdue
    DispositionDecided = events.DispositionDecided
    Cancelled = events.Cancelled
    DeductionRecorded = events.DeductionRecorded  # loop (issue #15)

    # -- state -------------------------------------------------------------------
    def __init__(
        self,
        number: str,
        project: str,
        source: dict[str, Any],
        severity: str,
        description: str,
        department: str | None,
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.number = number
        self.project = project
        self.source = dict(source)
        self.severity = severity
        self.description = description
        self.department = department
        self.status = "raised"
        self.raised_at = timestamp
        self.links: list[dict[str, str]] = []
        if source.get("id"):
            self.links.append(
                {
                    "rel": "raised_from",
                    "kind": str(source.get("kind") or source["type"]),
                    "id": str(source["id"]),
                    "number": str(source.get("number") or source.get("ref") or ""),
                }
            )
        self.recurrence_of: dict[str, Any] | None = None
        self.notice_count = 0
        self.responsible_department: str | None = None
        self.responsible_person: str | None = None
        self.due_date: datetime | None = None
        self.due_set_by: str | None = None
        self.escalation_level: str | None = None
        self.deduction = False
        self.noticed_at: datetime | None = None
        self.root_cause: str | None = None
        self.corrective_actions: list[str] = []
        self.preventive_actions: list[str] = []
        self.plan_status: str | None = None
        self.rectification: dict[str, Any] | None = None
        self.rectified_at: datetime | None = None
        self.verifications: list[dict[str, Any]] = []
        self.extension_request: dict[str, Any] | None = None
        self.extensions = 0
        self.overdue = False
        self.overdue_dues: list[str] = []
        self.disposition: str | None = None
        self.closed_at: datetime | None = None
        self.closed_on_time: bool | None = None
        self.cancelled_at: datetime | None = None
        self.deductions: list[dict[str, Any]] = []

    # -- commands ----------------------------------------------------------------
    @classmethod
    def raise_(
        cls,
        ctx: Ctx,
        *,
        number: str,
        project: str,
        source: dict[str, Any],
        severity: str,
        description: str,
        department: str | None = None,
    ) -> Nonconformance:
        if not isinstance(source, dict):
            raise InvalidValue("source", "is required")
        require_choice("source.type", source.get("type"), NONCONFORMANCE_SOURCES)
        require_choice("severity", severity, SEVERITIES)
        if department is not None:
            require_choice("department", department, DEPARTMENTS)
        description = require_text("description", description, 4000)
        return cls._create(
            cls.Raised,
            id=id_for("nonconformance", number),
            number=number,
            project=project,
            source=dict(source),
            severity=severity,
            description=description,
            department=department,
            **cls.meta(ctx),
        )

    @property
    def item_key(self) -> str | None:
        """The checklist item this NC is about (for recurrence), if any."""
        item = self.source.get("item")
        return str(item) if item else None

    def mark_recurrence(
        self, ctx: Ctx, earlier_id: str, earlier_number: str, earlier_raised_at: datetime
    ) -> None:
        """Mark this NC as a recurrence of an earlier one (same project and item, within 90 days)."""
        if self.recurrence_of is not None:
            return
        self.record(
            self.RecurrenceMarked,
            ctx,
            recurrence_of={
                "id": earlier_id,
                "number": earlier_number,
                "raised_at": earlier_raised_at.isoformat(),
                "item": self.item_key,
                "window_days": RECURRENCE_WINDOW_DAYS,
            },
            links=[
                {
                    "rel": "recurrence_of",
                    "kind": "nonconformance",
                    "id": earlier_id,
                    "number": earlier_number,
                }
            ],
        )

    def notice(
        self,
        ctx: Ctx,
        responsible_department: str,
        responsible_person: str,
        due_date: datetime | date | None,
        tz: tzinfo,
        default_days: int = DEFAULT_NOTICE_DAYS,
    ) -> None:
        """Issue the rectification notice (整改通知)."""
        self.check_step("notice")
        require_choice("responsible_department", responsible_department, DEPARTMENTS)
        person = require_text("responsible_person", responsible_person, 100)
        due = resolve_due("due_date", ctx.now, tz, due_date, default_days)
        self.record(
            self.NoticeIssued,
            ctx,
            notice_no=1,
            responsible_department=responsible_department,
            responsible_person=person,
            due_date=due,
            escalation_level=ESCALATION_LEVELS[0],
            deduction=False,
        )

    def analyse(self, ctx: Ctx, analysis: str) -> None:
        self.check_step("root_cause")
        self.record(self.RootCauseAnalysed, ctx, analysis=require_text("analysis", analysis, 4000))

    def plan(self, ctx: Ctx, corrective_actions: list[str], preventive_actions: list[str]) -> None:
        self.check_step("plan")
        corrective = _actions("corrective_actions", corrective_actions)
        preventive = _actions("preventive_actions", preventive_actions)
        if not corrective:
            raise InvalidValue("corrective_actions", "needs at least one corrective action")
        self.record(
            self.PlanSubmitted, ctx, corrective_actions=corrective, preventive_actions=preventive
        )

    def decide_plan(self, ctx: Ctx, approved: bool, reason: str | None) -> None:
        self.check_step("plan_decision")
        if not isinstance(approved, bool):
            raise InvalidValue("approved", "must be true or false")
        if approved:
            self.record(
                self.PlanApproved, ctx, require_text("reason", reason, 2000) if reason else None
            )
        else:
            self.record(self.PlanSentBack, ctx, require_text("reason", reason, 2000))

    def rectify(
        self,
        ctx: Ctx,
        summary: str,
        evidence: list[str] | None,
        attachments: list[str] | None = None,
    ) -> None:
        """Report the rectification done. A report after the due date first records the
        `Overdue` fact for that due date if the watcher has not yet done so."""
        self.check_step("rectify")
        summary = require_text("summary", summary, 4000)
        refs = [require_text(f"evidence.{i}", e, 500) for i, e in enumerate(evidence or [])]
        files = require_digests("attachments", attachments)
        self.record_overdue(ctx)
        self.record(
            self.RectificationReported, ctx, summary=summary, evidence=refs, attachments=files
        )

    def verify(
        self,
        ctx: Ctx,
        effective: bool,
        notes: str | None,
        tz: tzinfo,
        due_date: datetime | date | None = None,
        default_days: int = DEFAULT_NOTICE_DAYS,
        inspection: dict[str, str] | None = None,
        deduction: dict[str, Any] | None = None,
        attachments: list[str] | None = None,
    ) -> None:
        """Record the re-inspection (复检), optionally naming the inspection that re-checked it.
        Effective closes; not effective — at once, from the first failure — issues a new
        notice to the same responsible party, one escalation level up, and records the
        deduction (`DeductionRecorded`, points from `deduction`, the assessment policy's
        `deductions` table) that the project's next assessment applies. The company-wide
        circular (全公司通报) is raised by a process from the `Verified` event."""
        self.check_step("verify")
        if not isinstance(effective, bool):
            raise InvalidValue("effective", "must be true or false")
        if notes is not None:
            notes = require_text("notes", notes, 4000)
        if effective and due_date is not None:
            raise InvalidValue("due_date", "is only for a verification that was not effective")
        due = None if effective else resolve_due("due_date", ctx.now, tz, due_date, default_days)
        links = (
            [
                {
                    "rel": "verified_by",
                    "kind": "inspection",
                    "id": inspection["id"],
                    "number": inspection["number"],
                }
            ]
            if inspection
            else []
        )
        files = require_digests("attachments", attachments)
        self.record(
            self.Verified, ctx, effective=effective, notes=notes, links=links, attachments=files
        )
        caused = ctx.caused_by(self.last_event_id)
        if effective:
            self.record(self.Closed, caused, on_time=not self.overdue_dues)
            return
        level = ESCALATION_LEVELS.index(self.escalation_level or ESCALATION_LEVELS[0])
        assert self.responsible_department is not None and self.responsible_person is not None
        self.record(
            self.NoticeIssued,
            caused,
            "verification not effective",
            notice_no=self.notice_count + 1,
            responsible_department=self.responsible_department,
            responsible_person=self.responsible_person,
            due_date=due,
            escalation_level=ESCALATION_LEVELS[min(level + 1, len(ESCALATION_LEVELS) - 1)],
            deduction=True,
        )
        table = dict(deduction or DEFAULT_DEDUCTIONS)
        self.record(
            self.DeductionRecorded,
            caused,
            "verification not effective",
            project=self.project,
            points=table["failed_recheck"],
            rule="failed_recheck",
            policy=table,
        )

    def request_extension(
        self,
        ctx: Ctx,
        new_due_date: datetime | date,
        reason: str,
        remedial_measures: str,
        tz: tzinfo,
    ) -> None:
        """Ask for more time: only before the due date, with the reason and remedial measures."""
        self.check_step("extension")
        reason = require_text("reason", reason, 2000)
        measures = require_text("remedial_measures", remedial_measures, 4000)
        if new_due_date is None:
            raise InvalidValue("new_due_date", "is required")
        assert self.due_date is not None
        if ctx.now > self.due_date:
            raise RuleViolation(
                self.KIND,
                self.status,
                "extension",
                f"an extension must be requested before the due date {self.due_date.isoformat()}",
                self._without("extension"),
            )
        if self.extension_request is not None:
            raise RuleViolation(
                self.KIND,
                self.status,
                "extension",
                "an extension request is already awaiting a decision",
                self._without("extension"),
            )
        new_due = resolve_due("new_due_date", ctx.now, tz, new_due_date, DEFAULT_NOTICE_DAYS)
        if new_due <= self.due_date:
            raise InvalidValue(
                "new_due_date",
                f"must be later than the current due date {self.due_date.isoformat()}",
            )
        self.record(
            self.ExtensionRequested, ctx, reason, new_due_date=new_due, remedial_measures=measures
        )

    def decide_extension(self, ctx: Ctx, approved: bool, reason: str | None) -> None:
        self.check_step("extension_decision")
        if not isinstance(approved, bool):
            raise InvalidValue("approved", "must be true or false")
        if self.extension_request is None:
            raise RuleViolation(
                self.KIND,
                self.status,
                "extension_decision",
                "no extension request is awaiting a decision",
                self._without("extension_decision"),
            )
        if approved:
            assert self.due_date is not None
            self.record(
                self.ExtensionApproved,
                ctx,
                require_text("reason", reason, 2000) if reason else None,
                previous_due_date=self.due_date,
                due_date=datetime.fromisoformat(self.extension_request["new_due_date"]),
            )
        else:
            self.record(self.ExtensionRejected, ctx, require_text("reason", reason, 2000))
            # A rejection after the due date: the deadline it suspended has passed.
            self.record_overdue(ctx)

    def decide_disposition(
        self, ctx: Ctx, disposition: str, notes: str | None, reason: str | None
    ) -> None:
        """Disposition of a physical-product nonconformity; changing it needs a reason."""
        self.check_step("disposition")
        require_choice("disposition", disposition, DISPOSITIONS)
        if notes is not None:
            notes = require_text("notes", notes, 4000)
        if self.disposition is not None:
            reason = require_text("reason", reason, 2000)
        elif reason is not None:
            reason = require_text("reason", reason, 2000)
        self.record(self.DispositionDecided, ctx, reason, disposition=disposition, notes=notes)

    def cancel(self, ctx: Ctx, reason: str) -> None:
        """Cancel with a reason; only the quality manager, whose act is the approval."""
        self.check_step("cancel")
        reason = require_text("reason", reason, 2000)
        if ctx.actor.role != "quality_manager":
            raise RuleViolation(
                self.KIND,
                self.status,
                "cancel",
                "only a quality manager may approve a cancellation",
                self.allowed_steps(),
            )
        self.record(self.Cancelled, ctx, reason)

    # -- deadlines ---------------------------------------------------------------
    def overdue_due(self, now: datetime) -> datetime | None:
        """The due date that has passed without rectification and is not yet recorded."""
        due = self.due_date
        if due is None or due.isoformat() in self.overdue_dues:
            return None
        if self.status in PENDING_RECTIFICATION:
            if self.extension_request is not None:
                return None  # a timely request suspends the deadline until it is decided
            return due if now > due else None
        if (
            self.rectified_at is not None
            and self.status in ("rectified", "closed")
            and self.rectified_at > due
        ):
            return due  # rectified late while the watcher was not looking
        return None

    def record_overdue(self, ctx: Ctx) -> bool:
        """Record `Overdue` for the current due date once; actor = the system, caused by
        the event that set the due date. Returns whether an event was recorded."""
        due = self.overdue_due(ctx.now)
        if due is None:
            return False
        system = Ctx(SYSTEM, ctx.now, ctx.correlation_id, self.due_set_by)
        self.record(self.Overdue, system, due_date=due)
        return True

    def _without(self, step: str) -> list[str]:
        return [s for s in self.allowed_steps() if s != step]
