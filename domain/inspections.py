"""Inspections: quality checks against a scored checklist (品质检查), DOMAIN.md §2.

Lifecycle: scheduled → in_progress (items scored, rescored with a reason) → submitted
→ [appealed → appeal_decided] → finalized; or cancelled before submission.

Rules chosen where the guide is silent (see the README's inspections section):
- an inspection copies the pinned template version's items into its `Scheduled` event,
  so it is self-contained and reproducible;
- every item must be scored (pass, fail or na) before submission; `na` items are left
  out of the score; a finding is optional (API.md), and a failed item without one raises a
  nonconformance that says so; a pass scores more than 0 points and
  a fail less than the item's maximum;
- one appeal per inspection, by the project manager, about items that lost points; an
  accepted decision may only raise an appealed item's points (and may turn a fail into
  a pass or mark the item not applicable); it never fails an item.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import inspection_events as events
from domain.attachments import require_digests
from domain.base import SYSTEM, Ctx, QAggregate, event_id, id_for, require_choice, require_text
from domain.errors import InvalidValue, RuleViolation
from domain.grading import compute_score, grade_for
from domain.inspection_rules import (
    check_adjustments,
    check_appealed_items,
    check_date,
    check_evidence,
    check_points,
)
from domain.vocabulary import INSPECTION_KINDS, ITEM_RESULTS, NUMBER_PREFIXES


class Inspection(QAggregate):
    KIND = "inspection"
    PREFIX = NUMBER_PREFIXES["inspection"]
    STATES = {
        "scheduled": ("start", "cancel"),
        "in_progress": ("score", "submit", "cancel"),
        "submitted": ("appeal", "finalize"),
        "appealed": ("decide_appeal",),
        "appeal_decided": ("finalize",),
        "finalized": (),
        "cancelled": (),
    }

    # -- events (domain/inspection_events.py) ---
    Scheduled = events.Scheduled
    Started = events.Started
    ItemScored = events.ItemScored
    ItemRescored = events.ItemRescored
    Submitted = events.Submitted
    Appealed = events.Appealed
    AppealDecided = events.AppealDecided
    Finalized = events.Finalized
    Cancelled = events.Cancelled
    # loop (issue #15)
    Planned = events.Planned
    InspectionMissed = events.InspectionMissed

    # -- state -------------------------------------------------------------------
    def __init__(
        self,
        number: str,
        project: str,
        kind: str,
        template_id: str,
        template_number: str,
        template_version: int,
        template_name: str,
        items: list[dict[str, Any]],
        planned_for: str,
        inspectors: list[str],
        reinspection_of: dict[str, str] | None,
        links: list[dict[str, str]],
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.number = number
        self.project = project
        self.kind = kind
        self.template_id = template_id
        self.template_number = template_number
        self.template_version = template_version
        self.template_name = template_name
        self.items = [
            {
                **it,
                "points": None,
                "result": None,
                "finding": None,
                "evidence": [],
                "scored_at": None,
                "scored_by": None,
                "history": [],
            }
            for it in items
        ]
        self.planned_for = planned_for
        self.inspectors = list(inspectors)
        self.reinspection_of = dict(reinspection_of) if reinspection_of else None
        self.links = [dict(link) for link in links]
        self.status = "scheduled"
        self.scheduled_at = timestamp
        self.started_at: Any = None
        self.submitted_at: Any = None
        self.finalized_at: Any = None
        self.cancelled_at: Any = None
        self.score: float | None = None
        self.grade: str | None = None
        self.pay_adjustment_pct: float | None = None
        self.awarded: float | None = None
        self.applicable_max: float | None = None
        self.grading_policy: list[dict[str, Any]] | None = None
        self.raised_nonconformances: list[dict[str, Any]] = []
        self.appeal: dict[str, Any] | None = None
        self.plan: dict[str, str] | None = None
        self.occurrence: str | None = None
        self.due_at: Any = None
        self.missed = False

    def item(self, code: str) -> dict[str, Any]:
        for it in self.items:
            if it["code"] == code:
                return it
        raise InvalidValue(
            "item", f"no item '{code}' in {self.template_number} version {self.template_version}"
        )

    def _set_score(
        self,
        code: str,
        points: float | None,
        result: str,
        finding: str | None,
        evidence: list[str],
        actor: dict[str, str],
        at: Any,
    ) -> None:
        it = self.item(code)
        it.update(
            points=points,
            result=result,
            finding=finding,
            evidence=list(evidence),
            scored_by=dict(actor),
            scored_at=at.isoformat(),
        )

    def _set_result(
        self, score: float, grade: str, pay: float, awarded: float, applicable: float
    ) -> None:
        self.score, self.grade, self.pay_adjustment_pct = score, grade, pay
        self.awarded, self.applicable_max = awarded, applicable

    # -- commands ----------------------------------------------------------------
    @classmethod
    def schedule(
        cls,
        ctx: Ctx,
        *,
        number: str,
        project: str,
        kind: str,
        template: dict[str, Any],
        planned_for: str,
        inspectors: Any,
        reinspection_of: dict[str, str] | None = None,
    ) -> Inspection:
        """`template` is `{id, number, template_version, name, sections}` of a published version."""
        require_choice("kind", kind, INSPECTION_KINDS)
        if not isinstance(inspectors, list) or not inspectors or len(inspectors) > 20:
            raise InvalidValue("inspectors", "must name from 1 to 20 inspectors")
        names = [require_text(f"inspectors.{n}", who, 100) for n, who in enumerate(inspectors)]
        items = [
            {"section": s["code"], "section_name": s["name"], **it}
            for s in template["sections"]
            for it in s["items"]
        ]
        links = []
        if reinspection_of:
            links.append({"rel": "reinspects", "kind": "nonconformance", **reinspection_of})
        return cls._create(
            cls.Scheduled,
            id=id_for(cls.KIND, number),
            number=number,
            project=project,
            kind=kind,
            template_id=str(template["id"]),
            template_number=template["number"],
            template_version=template["template_version"],
            template_name=template["name"],
            items=items,
            planned_for=check_date("planned_for", planned_for),
            inspectors=names,
            reinspection_of=dict(reinspection_of) if reinspection_of else None,
            links=links,
            **cls.meta(ctx),
        )

    def link_plan(self, ctx: Ctx, plan: dict[str, str], occurrence: str, due_at: datetime) -> None:
        """Record that a plan scheduled this inspection, due by `due_at` (UTC)."""
        self.record(
            self.Planned,
            ctx,
            number=self.number,
            project=self.project,
            kind=self.kind,
            planned_for=self.planned_for,
            plan=dict(plan),
            occurrence=occurrence,
            due_at=due_at,
            links=[{"rel": "planned_by", "kind": "inspection_plan", **plan}],
        )

    def missed_due(self, now: datetime) -> datetime | None:
        """The due time passed without a submission and not yet recorded as missed."""
        due = getattr(self, "due_at", None)
        if due is None or getattr(self, "missed", False) or self.status == "cancelled":
            return None
        if self.submitted_at is not None:
            return due if self.submitted_at > due else None
        return due if now > due else None

    def record_missed(self, ctx: Ctx) -> bool:
        """Record `InspectionMissed` once; actor = the system, caused by `Planned`."""
        due = self.missed_due(ctx.now)
        if due is None:
            return False
        # `Planned` (which set the due time) is recorded right after `Scheduled`: version 2.
        cause = event_id(self.id, 2) if getattr(self, "plan", None) else ctx.causation_id
        system = Ctx(SYSTEM, ctx.now, ctx.correlation_id, cause)
        self.record(self.InspectionMissed, system, project=self.project, kind=self.kind, due_at=due)
        return True

    def start(self, ctx: Ctx) -> None:
        self.check_step("start")
        self.record(self.Started, ctx)

    def score_item(
        self,
        ctx: Ctx,
        item: str,
        points: Any,
        result: str,
        finding: str | None = None,
        evidence: Any = None,
        reason: str | None = None,
        attachments: list[str] | None = None,
    ) -> None:
        """Score one item; scoring an item again is a rescore and needs a reason.
        `attachments`: the finding's photos, by digest."""
        self.check_step("score")
        it = self.item(item)
        require_choice("result", result, ITEM_RESULTS)
        clean_points = check_points("points", points, result, it["max_points"])
        if finding is not None:
            finding = require_text("finding", finding, 4000)
        refs = check_evidence(evidence)
        files = require_digests("attachments", attachments)
        if it["result"] is None:
            if reason is not None:
                raise InvalidValue("reason", "is only given when rescoring an item")
            self.record(
                self.ItemScored,
                ctx,
                item=item,
                points=clean_points,
                result=result,
                finding=finding,
                evidence=refs,
                attachments=files,
            )
            return
        reason = require_text("reason", reason, 2000) if reason is not None else None
        if reason is None:
            raise InvalidValue(
                "reason", f"is required to rescore item '{item}' (already scored {it['result']})"
            )
        previous = {
            k: it[k] for k in ("points", "result", "finding", "evidence", "scored_by", "scored_at")
        }
        self.record(
            self.ItemRescored,
            ctx,
            reason,
            item=item,
            points=clean_points,
            result=result,
            finding=finding,
            evidence=refs,
            previous=previous,
            attachments=files,
        )

    def unscored_items(self) -> list[str]:
        return [it["code"] for it in self.items if it["result"] is None]

    def failed_items(self) -> list[dict[str, Any]]:
        return [it for it in self.items if it["result"] == "fail"]

    def check_submittable(self) -> None:
        """Submission needs every item scored and at least one applicable item."""
        self.check_step("submit")
        unscored = self.unscored_items()
        if unscored:
            raise RuleViolation(
                self.KIND,
                self.status,
                "submit",
                f"every item must be scored before submission; unscored: {', '.join(unscored)}",
                self.allowed_steps(),
            )
        if all(it["result"] == "na" for it in self.items):
            raise RuleViolation(
                self.KIND,
                self.status,
                "submit",
                "every item is not applicable; nothing to score",
                self.allowed_steps(),
            )

    def submit(self, ctx: Ctx, policy: list[dict[str, Any]], nc_numbers: dict[str, str]) -> None:
        """Submit the result. `nc_numbers` gives, for every failed item, the number of the
        nonconformance raised for it in the same transaction (see `raise_nonconformances`)."""
        self.check_submittable()
        score, awarded, applicable = compute_score(self.items)
        failed = self.failed_items()
        if sorted(nc_numbers) != sorted(it["code"] for it in failed):
            raise ValueError("a nonconformance number is needed for exactly the failed items")
        grade, pay = grade_for(score, policy)
        self.record_missed(ctx)  # submitted after its due time: the miss is history first
        links = [
            {
                "rel": "raised",
                "kind": "nonconformance",
                "id": str(id_for("nonconformance", nc_numbers[it["code"]])),
                "number": nc_numbers[it["code"]],
                "item": it["code"],
                "severity": self.severity_of(it),
            }
            for it in failed
        ]
        self.record(
            self.Submitted,
            ctx,
            score=score,
            grade=grade,
            pay_adjustment_pct=pay,
            awarded=awarded,
            applicable_max=applicable,
            grading_policy=policy,
            failed_items=[it["code"] for it in failed],
            links=links,
        )

    @staticmethod
    def severity_of(item: dict[str, Any]) -> str:
        return "major" if item.get("critical") else "minor"

    def nonconformance_requests(self) -> list[dict[str, Any]]:
        """What to raise for the submission just recorded: one nonconformance per failed item."""
        out = []
        for link in self.links:
            if link.get("rel") != "raised":
                continue
            it = self.item(link["item"])
            out.append(
                {
                    "number": link["number"],
                    "project": self.project,
                    "severity": link["severity"],
                    "source": {
                        "type": "inspection",
                        "id": str(self.id),
                        "number": self.number,
                        "kind": "inspection",
                        "item": it["code"],
                        "ref": self.number,
                    },
                    "description": (
                        f"{self.number} {it['code']} ({it['section_name']}): {it['requirement']}"
                        f" — finding: {it['finding'] or 'none recorded'}"
                    )[:4000],
                }
            )
        return out

    def appeal_score(self, ctx: Ctx, items: Any, reason: str) -> None:
        self.check_step("appeal")
        reason = require_text("reason", reason, 4000)
        items = check_appealed_items(items, self.item)
        self.record(self.Appealed, ctx, reason, items=items)

    def decide_appeal(
        self,
        ctx: Ctx,
        accepted: bool,
        adjustments: Any,
        reason: str,
        policy: list[dict[str, Any]] | None = None,
    ) -> None:
        """Decide the appeal. Accepted: `adjustments[{item, points, result?}]` for appealed
        items re-compute score and grade under the policy recorded at submission."""
        self.check_step("decide_appeal")
        reason = require_text("reason", reason, 4000)
        if not isinstance(accepted, bool):
            raise InvalidValue("accepted", "must be true or false")
        adjustments = adjustments or []
        if not isinstance(adjustments, list):
            raise InvalidValue("adjustments", "must be a list")
        if not accepted and adjustments:
            raise InvalidValue("adjustments", "are only given when the appeal is accepted")
        if accepted and not adjustments:
            raise InvalidValue("adjustments", "an accepted appeal adjusts at least one item")
        assert self.appeal is not None
        policy = policy or self.grading_policy or []
        clean = check_adjustments(adjustments, self.appeal["items"], self.item)
        after = {it["code"]: dict(it) for it in self.items}
        for adj in clean:
            after[adj["item"]].update(points=adj["points"], result=adj["result"])
        score, awarded, applicable = compute_score(list(after.values()))
        if applicable <= 0:
            raise InvalidValue("adjustments", "would leave no applicable item to score")
        grade, pay = grade_for(score, policy)
        overturned = {
            a["item"] for a in clean if a["previous"]["result"] == "fail" and a["result"] != "fail"
        }
        links = [
            {
                "rel": "overturned_on_appeal",
                "kind": "nonconformance",
                "id": nc["id"],
                "number": nc["number"],
                "item": nc["item"],
            }
            for nc in self.raised_nonconformances
            if nc["item"] in overturned
        ]
        self.record(
            self.AppealDecided,
            ctx,
            reason,
            accepted=accepted,
            adjustments=clean,
            score=score,
            grade=grade,
            pay_adjustment_pct=pay,
            awarded=awarded,
            applicable_max=applicable,
            previous={
                "score": self.score,
                "grade": self.grade,
                "pay_adjustment_pct": self.pay_adjustment_pct,
            },
            grading_policy=policy,
            links=links,
        )

    def finalize(self, ctx: Ctx) -> None:
        self.check_step("finalize")
        assert (
            self.score is not None
            and self.grade is not None
            and self.pay_adjustment_pct is not None
        )
        self.record(
            self.Finalized,
            ctx,
            score=self.score,
            grade=self.grade,
            pay_adjustment_pct=self.pay_adjustment_pct,
        )

    def cancel(self, ctx: Ctx, reason: str) -> None:
        self.check_step("cancel")
        self.record(self.Cancelled, ctx, require_text("reason", reason, 2000))
