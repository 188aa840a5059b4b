"""Inspection plans (DOMAIN.md §2, seed 003 §4.3): verbs in, ids and positions out.

Creating a plan validates the recurrence, computes every occurrence of the span, draws
one inspection number per project and occurrence, and commits the plan and all its
`Scheduled` (+ `Planned`, the due time) inspections in ONE append transaction, with the
due-time index rows (`qt_inspection_dues`) the deadline watcher scans. Either all of it
is recorded or nothing; a retry with the same Idempotency-Key replays the answer, so the
plan schedules its inspections exactly once. The inspections' ids follow from their
numbers (`id_for("inspection", number)`), and the plan's event names each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import Call, CommandResult
from application.errors import NotFound, UnknownReference
from application.service import CommandService, Hook
from domain.base import Ctx, QAggregate, id_for
from domain.errors import InvalidValue
from domain.inspection_plans import InspectionPlan
from domain.inspections import Inspection
from domain.recurrence import check_recurrence, first_passed, occurrences
from domain.templates import ChecklistTemplate

PROJECT_REGISTERED = "domain.org:Project.Registered"
MAX_INSPECTIONS = 500


class InspectionPlanService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def _projects_of_region(self, region: str) -> list[str]:
        rows = self.service.sql(
            """SELECT convert_from(state, 'UTF8')::jsonb ->> 'code' AS code
               FROM qualtrace_events WHERE topic = %s
                 AND convert_from(state, 'UTF8')::jsonb ->> 'region' = %s
               ORDER BY 1""",
            (PROJECT_REGISTERED, region),
        )
        return [r["code"] for r in rows]

    def _scope(self, call: Call, projects: list[str] | None, region: str | None) -> list[str]:
        if bool(projects) == bool(region):
            raise InvalidValue("projects", "name the projects or a region (one of the two)")
        if region is not None:
            found = self._projects_of_region(region)
            if not found:
                raise UnknownReference("region", f"no project is registered in region '{region}'")
            return found
        assert projects is not None
        if len(set(projects)) != len(projects):
            raise InvalidValue("projects", "names a project twice")
        for n, code in enumerate(projects):
            # out of the caller's scope answers like unknown (no existence oracle)
            self.service.require_project_for(call, "inspection_plan.create", f"projects.{n}", code)
        return list(projects)

    def create(
        self,
        call: Call,
        *,
        name: str,
        kind: str,
        recurrence: dict[str, Any],
        start_month: str,
        months: int,
        template_id: str,
        inspectors: list[str],
        projects: list[str] | None = None,
        region: str | None = None,
        template_version: int | None = None,
    ) -> CommandResult:
        replay = self.service.replay(call)
        if replay is not None:
            return replay
        rule = check_recurrence(recurrence)
        codes = self._scope(call, projects, region)
        for code in codes:  # every project of the plan must be within the caller's reach
            self.service.authorize(call, "inspection_plan.create", code)
        try:
            template = self.service.load(ChecklistTemplate, template_id)
        except NotFound:
            raise UnknownReference(
                "template_id", f"unknown checklist template '{template_id}'"
            ) from None
        content = template.version_content(template_version)
        pinned = {"id": str(template.id), "number": template.number, **content}
        due = occurrences(rule, start_month, months, self.service.store.tz)
        passed = first_passed(due, self.service.clock())
        if passed is not None:
            raise InvalidValue(
                "start_month",
                f"the occurrence {passed['key']} was due {passed['due_at'].isoformat()}, "
                "which has passed: a plan cannot schedule the past",
            )
        if len(due) * len(codes) > MAX_INSPECTIONS:
            raise InvalidValue(
                "months", f"the plan would schedule more than {MAX_INSPECTIONS} inspections"
            )
        numbers = self.service.next_numbers("inspection", len(due) * len(codes))
        plan_number = self.service.next_number("inspection_plan")

        def build(ctx: Ctx) -> list[QAggregate]:
            planned = []
            inspections: list[Inspection] = []
            plan_ref = {"id": str(id_for("inspection_plan", plan_number)), "number": plan_number}
            slots = iter(numbers)
            for code in codes:
                for occ in due:
                    number = next(slots)
                    ins = Inspection.schedule(
                        ctx,
                        number=number,
                        project=code,
                        kind=kind,
                        template=pinned,
                        planned_for=occ["planned_for"],
                        inspectors=inspectors,
                    )
                    ins.link_plan(ctx, plan_ref, occ["key"], occ["due_at"])
                    inspections.append(ins)
                    planned.append(
                        {
                            "project": code,
                            "key": occ["key"],
                            "planned_for": occ["planned_for"],
                            "due_at": occ["due_at"].isoformat(),
                            "inspection": {"id": str(ins.id), "number": number},
                        }
                    )
            plan = InspectionPlan.create(
                ctx,
                number=plan_number,
                name=name,
                kind=kind,
                recurrence=rule,
                start_month=start_month,
                months=months,
                projects=codes,
                region=region,
                template={k: pinned[k] for k in ("id", "number", "template_version", "name")},
                inspectors=list(inspectors),
                occurrences=planned,
            )
            return [plan, *inspections]

        def hooks(aggs: Sequence[QAggregate]) -> list[Hook]:
            rows = [
                (a.id, a.project, a.kind, a.due_at)
                for a in aggs
                if isinstance(a, Inspection) and a.due_at is not None
            ]

            def write(cur: Cursor[DictRow], _ids: Sequence[int]) -> None:
                cur.executemany(
                    "INSERT INTO qt_inspection_dues (inspection_id, project, kind, due_at)"
                    " VALUES (%s, %s, %s, %s)",
                    rows,
                )

            return [write]

        return self.service.create(
            call,
            None,
            None,
            build,
            hooks=hooks,
            extra=lambda plan: {
                "inspections": [o["inspection"]["number"] for o in plan.occurrences]  # type: ignore[attr-defined]
            },
        )

    def withdraw(
        self, call: Call, ref: str, reason: str, cancel_scheduled: bool = True
    ) -> CommandResult:
        """Withdraw a plan (撤销计划) and, unless told not to, cancel in the same
        transaction every inspection it scheduled that has not started and is not yet
        due, each with the plan's reason. Inspections under way, done, or already past
        their due time (missed is a fact the assessment keeps) stay as they are. A
        concurrent start of one of them makes the commit lose the race and run again."""

        def load() -> InspectionPlan:
            plan = self.service.load(InspectionPlan, ref)
            for code in plan.projects:  # every project of the plan, as for adopting it
                self.service.authorize(call, "inspection_plan.withdraw", code)
            return plan

        cancelled: list[str] = []

        def step(plan: InspectionPlan, ctx: Ctx) -> list[QAggregate]:
            plan.withdraw(ctx, reason)
            cancelled.clear()
            if not cancel_scheduled:
                return []
            now = self.service.clock()
            because = f"plan {plan.number} withdrawn: {reason}"
            out: list[QAggregate] = []
            for occ in plan.occurrences:
                ins = self.service.load(Inspection, occ["inspection"]["id"])
                if ins.status == "scheduled" and (ins.due_at is None or ins.due_at > now):
                    ins.cancel(ctx, because)
                    out.append(ins)
                    cancelled.append(ins.number)
            return out

        return self.service.execute(
            call,
            "inspection_plan.withdraw",
            InspectionPlan,
            ref,
            step,
            load=load,
            extra=lambda _plan: {"cancelled": list(cancelled)},
        )

    def get(self, call: Call, ref: str) -> InspectionPlan:
        plan = self.service.load(InspectionPlan, ref)
        for code in plan.projects:
            self.service.authorize(call, "inspection_plan.read", code)
        return plan
