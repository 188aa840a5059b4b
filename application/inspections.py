"""Inspection use cases (DOMAIN.md §2): verbs in, ids and positions out.

Submitting an inspection stores the `Submitted` event, which names one nonconformance
per failed item (numbers drawn first); `application.processes.Processes` (`follow_up`
inline, and the tracked follower after a crash) raises each of them exactly once with
`causation_id` = that event's id.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.attachments import AttachmentService
from application.base import Call, CommandResult
from application.errors import Forbidden, NotFound, UnknownReference
from application.processes import Processes
from application.service import CommandService
from domain.base import Ctx, QAggregate
from domain.grading import DEFAULT_GRADING
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.templates import ChecklistTemplate

#: Roles that may run (schedule, start, score, submit) only self-checks (项目自检).
SELF_CHECK_ONLY_ROLES = ("project_manager",)


class InspectionService:
    def __init__(
        self, service: CommandService, processes: Processes, attachments: AttachmentService
    ) -> None:
        self.service = service
        self.processes = processes
        self.attachments = attachments

    @property
    def grading_policy(self) -> list[dict[str, Any]]:
        return list(self.service.policies.get("grading") or DEFAULT_GRADING)

    # -- inspections -----------------------------------------------------------------
    def _check_self_check_only(self, call: Call, kind: str, step: str) -> None:
        if call.principal.role in SELF_CHECK_ONLY_ROLES and kind != "self_check":
            raise Forbidden(call.principal.role, f"inspection.{step} of a {kind} (self_check only)")

    def schedule(
        self,
        call: Call,
        *,
        project: str,
        kind: str,
        template_id: str,
        planned_for: str,
        inspectors: list[str],
        template_version: int | None = None,
        reinspection_of: str | None = None,
    ) -> CommandResult:
        self.service.require_project_for(call, "inspection.schedule", "project", project)
        try:
            template = self.service.load(ChecklistTemplate, template_id)
        except NotFound:
            raise UnknownReference(
                "template_id", f"unknown checklist template '{template_id}'"
            ) from None
        content = template.version_content(template_version)
        pinned = {"id": str(template.id), "number": template.number, **content}
        reinspects: dict[str, str] | None = None
        if reinspection_of is not None:
            try:
                nc = self.service.load(Nonconformance, reinspection_of)
            except NotFound:
                raise UnknownReference(
                    "reinspection_of", f"unknown nonconformance '{reinspection_of}'"
                ) from None
            if nc.project != project:
                raise UnknownReference(
                    "reinspection_of", f"{nc.number} belongs to project {nc.project}, not {project}"
                )
            reinspects = {"id": str(nc.id), "number": nc.number}

        def build(ctx: Ctx) -> list[QAggregate]:
            self._check_self_check_only(call, kind, "schedule")
            return [
                Inspection.schedule(
                    ctx,
                    number=self.service.next_number("inspection"),
                    project=project,
                    kind=kind,
                    template=pinned,
                    planned_for=planned_for,
                    inspectors=inspectors,
                    reinspection_of=reinspects,
                )
            ]

        return self.service.create(call, "inspection.schedule", project, build)

    def _run(
        self, call: Call, step_name: str, ref: str, step: Any, extra: Any = None, hooks: Any = None
    ) -> CommandResult:
        def guarded(ins: Inspection, ctx: Ctx) -> Any:
            if step_name in ("start", "score", "submit"):
                self._check_self_check_only(call, ins.kind, step_name)
            return step(ins, ctx)

        return self.service.execute(
            call, f"inspection.{step_name}", Inspection, ref, guarded, extra=extra, hooks=hooks
        )

    def start(self, call: Call, ref: str) -> CommandResult:
        return self._run(call, "start", ref, lambda i, c: i.start(c))

    def score_item(
        self,
        call: Call,
        ref: str,
        item: str,
        points: Any,
        result: str,
        finding: str | None = None,
        evidence: list[str] | None = None,
        reason: str | None = None,
        attachments: list[str] | None = None,
    ) -> CommandResult:
        """Score one item; `attachments` are the finding's photos."""
        files: list[str] = []

        def step(i: Inspection, c: Ctx) -> None:
            files[:] = self.attachments.require(call, attachments)
            i.score_item(c, item, points, result, finding, evidence, reason, files)

        return self._run(
            call,
            "score",
            ref,
            step,
            hooks=lambda i: self.attachments.hooks(i, "score", files),
        )

    def submit(self, call: Call, ref: str) -> CommandResult:
        """Submit the result and raise a nonconformance for every failed item, atomically."""
        numbers: dict[str, str] = {}  # kept across a retry after a lost race: one number per item

        def step(ins: Inspection, ctx: Ctx) -> None:
            ins.check_submittable()
            for it in ins.failed_items():
                if it["code"] not in numbers:
                    numbers[it["code"]] = self.service.next_number("nonconformance")
            ins.submit(
                ctx,
                self.grading_policy,
                {it["code"]: numbers[it["code"]] for it in ins.failed_items()},
            )

        result = self._run(call, "submit", ref, step, extra=_result)
        # The process: raise the nonconformances the stored `Submitted` event names.
        return self.processes.follow_up(result, UUID(result.id), result.version)

    def appeal(self, call: Call, ref: str, items: list[str], reason: str) -> CommandResult:
        return self._run(call, "appeal", ref, lambda i, c: i.appeal_score(c, items, reason))

    def decide_appeal(
        self,
        call: Call,
        ref: str,
        accepted: bool,
        adjustments: list[dict[str, Any]] | None,
        reason: str,
    ) -> CommandResult:
        return self._run(
            call,
            "decide_appeal",
            ref,
            lambda i, c: i.decide_appeal(c, accepted, adjustments, reason),
            extra=_result,
        )

    def finalize(self, call: Call, ref: str) -> CommandResult:
        return self._run(call, "finalize", ref, lambda i, c: i.finalize(c), extra=_result)

    def cancel(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self._run(call, "cancel", ref, lambda i, c: i.cancel(c, reason))

    def get(self, call: Call, ref: str, version: int | None = None) -> Inspection:
        ins = self.service.load(Inspection, ref, version)
        self.service.authorize(call, "inspection.read", ins.project)
        return ins


def _result(ins: Inspection) -> dict[str, Any]:
    return {
        "score": ins.score,
        "grade": ins.grade,
        "pay_adjustment_pct": ins.pay_adjustment_pct,
        "nonconformances": [
            {"id": nc["id"], "number": nc["number"], "item": nc["item"]}
            for nc in ins.raised_nonconformances
        ],
    }
