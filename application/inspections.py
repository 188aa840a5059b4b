"""Checklist template and inspection use cases (DOMAIN.md §2): verbs in, ids and positions out.

Submitting an inspection stores the `Submitted` event, which names one nonconformance
per failed item (numbers drawn first); the process in `NonconformanceCommands`
(`follow_up` inline, and the tracked follower after a crash) raises each of them
exactly once with `causation_id` = that event's id.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from application.base import Call, CommandResult, QualtraceBase
from application.errors import Forbidden, NotFound, UnknownReference
from application.nonconformances import NonconformanceCommands
from application.org import OrgCommands
from domain.base import Ctx, QAggregate
from domain.grading import DEFAULT_GRADING
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.templates import ChecklistTemplate

#: Roles that may run (schedule, start, score, submit) only self-checks (项目自检).
SELF_CHECK_ONLY_ROLES = ("project_manager",)


class InspectionCommands(NonconformanceCommands, OrgCommands, QualtraceBase):
    @property
    def grading_policy(self) -> list[dict[str, Any]]:
        return list(self.policies.get("grading") or DEFAULT_GRADING)

    # -- checklist templates ---------------------------------------------------------
    def draft_template(self, call: Call, name: str, sections: Any) -> CommandResult:
        def build(ctx: Ctx) -> list[QAggregate]:
            number = self.next_number("checklist_template")
            return [ChecklistTemplate.draft(ctx, number=number, name=name, sections=sections)]

        return self.create(call, "template.create", None, build)

    def revise_template(
        self, call: Call, ref: str, name: str | None, sections: Any
    ) -> CommandResult:
        return self.execute(
            call,
            "template.revise",
            ChecklistTemplate,
            ref,
            lambda t, c: t.revise(c, name, sections),
        )

    def publish_template(self, call: Call, ref: str) -> CommandResult:
        return self.execute(
            call,
            "template.publish",
            ChecklistTemplate,
            ref,
            lambda t, c: t.publish(c),
            extra=lambda t: {"template_version": t.latest_version},
        )

    def get_template(self, call: Call, ref: str, version: int | None = None) -> ChecklistTemplate:
        self.authorize(call, "template.read", None)
        return self.load(ChecklistTemplate, ref, version)

    # -- inspections -----------------------------------------------------------------
    def _check_self_check_only(self, call: Call, kind: str, step: str) -> None:
        if call.principal.role in SELF_CHECK_ONLY_ROLES and kind != "self_check":
            raise Forbidden(call.principal.role, f"inspection.{step} of a {kind} (self_check only)")

    def schedule_inspection(
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
        self.require_project("project", project)
        try:
            template = self.load(ChecklistTemplate, template_id)
        except NotFound:
            raise UnknownReference(
                "template_id", f"unknown checklist template '{template_id}'"
            ) from None
        content = template.version_content(template_version)
        pinned = {"id": str(template.id), "number": template.number, **content}
        reinspects: dict[str, str] | None = None
        if reinspection_of is not None:
            try:
                nc = self.load(Nonconformance, reinspection_of)
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
                    number=self.next_number("inspection"),
                    project=project,
                    kind=kind,
                    template=pinned,
                    planned_for=planned_for,
                    inspectors=inspectors,
                    reinspection_of=reinspects,
                )
            ]

        return self.create(call, "inspection.schedule", project, build)

    def _run(
        self, call: Call, step_name: str, ref: str, step: Any, extra: Any = None
    ) -> CommandResult:
        def guarded(ins: Inspection, ctx: Ctx) -> Any:
            if step_name in ("start", "score", "submit"):
                self._check_self_check_only(call, ins.kind, step_name)
            return step(ins, ctx)

        return self.execute(call, f"inspection.{step_name}", Inspection, ref, guarded, extra=extra)

    def start_inspection(self, call: Call, ref: str) -> CommandResult:
        return self._run(call, "start", ref, lambda i, c: i.start(c))

    def score_inspection_item(
        self,
        call: Call,
        ref: str,
        item: str,
        points: Any,
        result: str,
        finding: str | None = None,
        evidence: list[str] | None = None,
        reason: str | None = None,
    ) -> CommandResult:
        return self._run(
            call,
            "score",
            ref,
            lambda i, c: i.score_item(c, item, points, result, finding, evidence, reason),
        )

    def submit_inspection(self, call: Call, ref: str) -> CommandResult:
        """Submit the result and raise a nonconformance for every failed item, atomically."""
        numbers: dict[str, str] = {}  # kept across a retry after a lost race: one number per item

        def step(ins: Inspection, ctx: Ctx) -> None:
            ins.check_submittable()
            for it in ins.failed_items():
                if it["code"] not in numbers:
                    numbers[it["code"]] = self.next_number("nonconformance")
            ins.submit(
                ctx,
                self.grading_policy,
                {it["code"]: numbers[it["code"]] for it in ins.failed_items()},
            )

        result = self._run(call, "submit", ref, step, extra=_result)
        # The process: raise the nonconformances the stored `Submitted` event names.
        return self.follow_up(result, UUID(result.id), result.version)

    def appeal_inspection(
        self, call: Call, ref: str, items: list[str], reason: str
    ) -> CommandResult:
        return self._run(call, "appeal", ref, lambda i, c: i.appeal_score(c, items, reason))

    def decide_inspection_appeal(
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

    def finalize_inspection(self, call: Call, ref: str) -> CommandResult:
        return self._run(call, "finalize", ref, lambda i, c: i.finalize(c), extra=_result)

    def cancel_inspection(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self._run(call, "cancel", ref, lambda i, c: i.cancel(c, reason))

    def get_inspection(self, call: Call, ref: str, version: int | None = None) -> Inspection:
        ins = self.load(Inspection, ref, version)
        self.authorize(call, "inspection.read", ins.project)
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
