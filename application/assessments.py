"""Assessments (考核与奖惩): the quality manager closes a project's month or quarter.

The inputs are found in the EVENT STORE, not in a projection (a lagging read model must
not change a result): the project's `Inspection.Scheduled` events of the counted kinds
planned in the month, each loaded and taken with its current score if it was submitted
(an undecided appeal blocks the close: 409); the `Nonconformance.DeductionRecorded`
events of the project that occurred in the month (a failed re-check applies to the
assessment of the month it happened in: the next one to be closed); and the
`Inspection.InspectionMissed` events of its self-checks due in the month. Each input is
recorded with its id, number, version and store position. A quarter takes its three
monthly assessments (published, or decided on appeal) and sums their scores.

One assessment per project and period: `qt_assessment_periods`, written in the same
transaction as the `Drafted` event, refuses a second one (409).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from psycopg import Cursor
from psycopg.rows import DictRow

from application.base import Call, CommandResult
from application.errors import Conflict
from application.service import CommandService, Hook
from domain.assessment_policy import default_policy, validate_policy
from domain.assessments import Assessment
from domain.base import Ctx, QAggregate, utc
from domain.errors import InvalidValue
from domain.inspections import Inspection

#: The stored topics read (constants, written into the SQL so the partial index
#: `qt_events_loop_project` of `store/schema.py` applies).
TOPIC = {
    "scheduled": "domain.inspections:Inspection.Scheduled",
    "missed": "domain.inspections:Inspection.InspectionMissed",
    "deduction": "domain.nonconformances:Nonconformance.DeductionRecorded",
}
#: Inspection states with a score that counts.
SCORED = ("submitted", "appeal_decided", "finalized")
#: Assessment states whose result a quarter may sum.
SETTLED = ("published", "appeal_decided")


def parse_period(period: Any) -> tuple[str, list[tuple[int, int]]]:
    """`YYYY-MM` (a month) or `YYYY-Qn` (a quarter) → (kind, its months)."""
    try:
        if not isinstance(period, str) or len(period) != 7 or period[4] != "-":
            raise ValueError
        year = int(period[:4])
        if not 2000 <= year <= 2999:
            raise ValueError
        if period[5] == "Q":
            q = int(period[6])
            if not 1 <= q <= 4:
                raise ValueError
            return "quarter", [(year, 3 * q - 2 + n) for n in range(3)]
        month = int(period[5:])
        if not 1 <= month <= 12:
            raise ValueError
        return "month", [(year, month)]
    except ValueError:
        raise InvalidValue("period", "must be a month YYYY-MM or a quarter YYYY-Qn") from None


class AssessmentService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    @property
    def policy(self) -> dict[str, Any]:
        configured = self.service.policies.get("assessment")
        return validate_policy(configured) if configured else default_policy()

    def _bounds(self, months: list[tuple[int, int]]) -> tuple[datetime, datetime]:
        tz = self.service.store.tz
        (y0, m0), (y1, m1) = months[0], months[-1]
        start = datetime.combine(date(y0, m0, 1), time(0), tzinfo=tz)
        last = calendar.monthrange(y1, m1)[1]
        end = datetime.combine(date(y1, m1, last), time(23, 59, 59, 999999), tzinfo=tz)
        return utc(start), utc(end)

    def _position(self, agg_id: UUID, version: int) -> int:
        rows = self.service.sql(
            "SELECT notification_id FROM qualtrace_events"
            " WHERE originator_id = %s AND originator_version = %s",
            (agg_id, version),
        )
        return int(rows[0]["notification_id"])

    # -- inputs, from the event store -------------------------------------------------
    def month_inputs(
        self, project: str, month: str, policy: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows = self.service.sql(
            f"""SELECT originator_id FROM qualtrace_events
               WHERE topic = '{TOPIC["scheduled"]}' AND qt_event_project(state) = %s
                 AND convert_from(state, 'UTF8')::jsonb ->> 'kind' = ANY(%s)
                 AND left(convert_from(state, 'UTF8')::jsonb ->> 'planned_for', 7) = %s
               ORDER BY notification_id""",
            (project, list(policy["kinds"]), month),
        )
        out = []
        for row in rows:
            ins = self.service.load(Inspection, row["originator_id"])
            if ins.status == "appealed":
                raise Conflict(
                    "assessment",
                    "open",
                    f"{ins.number} has an appeal awaiting the quality manager's decision",
                )
            if ins.status not in SCORED or ins.reinspection_of is not None:
                continue  # not submitted, or a re-check (复检) of a nonconformance: no score
            out.append(
                {
                    "kind": ins.kind,
                    "id": str(ins.id),
                    "number": ins.number,
                    "version": ins.version,
                    "position": self._position(ins.id, ins.version),
                    "planned_for": ins.planned_for,
                    "score": ins.score,
                    "grade": ins.grade,
                    "weight": policy["kinds"][ins.kind],
                }
            )
        return out

    def month_deductions(
        self, project: str, bounds: tuple[datetime, datetime], policy: dict[str, Any]
    ) -> list[dict[str, Any]]:
        rows = self.service.sql(
            f"""SELECT originator_id, originator_version, notification_id, occurred_at,
                      convert_from(state, 'UTF8')::jsonb AS s, topic
               FROM qualtrace_events
               WHERE topic IN ('{TOPIC["deduction"]}', '{TOPIC["missed"]}')
                 AND qt_event_project(state) = %s
               ORDER BY notification_id""",
            (project,),
        )
        out = []
        for r in rows:
            s = r["s"]
            if r["topic"] == TOPIC["missed"]:
                if s.get("kind") != "self_check":
                    continue
                when = datetime.fromisoformat(s["due_at"]["_data_"])
                rule = "missed_self_check"
            else:
                when = r["occurred_at"]
                rule = s["rule"]
            if not bounds[0] <= when <= bounds[1]:
                continue
            issue = self._number(r["originator_id"])
            out.append(
                {
                    "rule": rule,
                    "points": policy["deductions"][rule],
                    "issue": {"id": str(r["originator_id"]), "number": issue},
                    "event": f"{r['originator_id']}:{r['originator_version']}",
                    "version": r["originator_version"],
                    "position": r["notification_id"],
                    "at": when.isoformat(),
                }
            )
        return out

    def _number(self, agg_id: UUID) -> str:
        rows = self.service.sql(
            """SELECT convert_from(state, 'UTF8')::jsonb ->> 'number' AS number
               FROM qualtrace_events WHERE originator_id = %s AND originator_version = 1""",
            (agg_id,),
        )
        return str(rows[0]["number"]) if rows else ""

    def quarter_inputs(self, project: str, months: list[tuple[int, int]]) -> list[dict[str, Any]]:
        out = []
        for y, m in months:
            period = f"{y:04d}-{m:02d}"
            rows = self.service.sql(
                "SELECT assessment_id FROM qt_assessment_periods WHERE project = %s AND period = %s",
                (project, period),
            )
            a = self.service.load(Assessment, rows[0]["assessment_id"]) if rows else None
            if a is None or a.status not in SETTLED:
                state = a.status if a is not None else "not closed"
                raise Conflict(
                    "assessment",
                    "open",
                    f"the quarter sums published months; {project} {period} is {state}",
                )
            out.append(
                {
                    "kind": "assessment",
                    "id": str(a.id),
                    "number": a.number,
                    "period": period,
                    "version": a.version,
                    "position": self._position(a.id, a.version),
                    "score": a.score,
                    "grade": a.grade,
                }
            )
        return out

    def compute(self, project: str, period: str) -> dict[str, Any]:
        """What closing the period would record now (inputs, deductions, policy, bounds)."""
        kind, months = parse_period(period)
        bounds = self._bounds(months)
        policy = self.policy
        if kind == "month":
            inputs = self.month_inputs(project, period, policy)
            if not inputs:
                raise Conflict(
                    "assessment",
                    "open",
                    f"{project} has no submitted inspection of the counted kinds "
                    f"({', '.join(policy['kinds'])}) planned in {period}",
                )
            deductions = self.month_deductions(project, bounds, policy)
        else:
            inputs, deductions = self.quarter_inputs(project, months), []
        return {
            "kind": kind,
            "bounds": (bounds[0].isoformat(), bounds[1].isoformat()),
            "end": bounds[1],
            "inputs": inputs,
            "deductions": deductions,
            "policy": policy,
        }

    # -- commands -----------------------------------------------------------------------
    def close(
        self, call: Call, *, project: str, period: str, responsible: list[dict[str, str]]
    ) -> CommandResult:
        replay = self.service.replay(call)
        if replay is not None:
            return replay
        region = self.service.require_project_for(call, "assessment.close", "project", project)
        self.service.authorize(call, "assessment.close", project)
        kind, months = parse_period(period)
        end = self._bounds(months)[1]
        if end >= self.service.clock():
            raise InvalidValue(
                "period",
                f"{period} has not ended yet (it ends {end.isoformat()}); nothing recorded",
            )
        found = self.compute(project, period)
        number = self.service.next_number("assessment")

        def build(ctx: Ctx) -> list[QAggregate]:
            return [
                Assessment.close(
                    ctx,
                    number=number,
                    project=project,
                    region=region,
                    period=period,
                    period_kind=kind,
                    bounds=found["bounds"],
                    inputs=found["inputs"],
                    deductions=found["deductions"],
                    policy=found["policy"],
                    responsible=responsible,
                )
            ]

        def hooks(aggs: Sequence[QAggregate]) -> list[Hook]:
            a = aggs[0]

            def write(cur: Cursor[DictRow], _ids: Sequence[int]) -> None:
                cur.execute(
                    "INSERT INTO qt_assessment_periods (project, period, assessment_id, number)"
                    " VALUES (%s, %s, %s, %s)",
                    (project, period, a.id, number),
                )

            return [write]

        return self.service.create(
            call,
            None,
            project,
            build,
            hooks=hooks,
            extra=_result,
            exists=lambda a: Conflict(
                "assessment", "exists", f"{project} {period} is already assessed"
            ),
        )

    def _step(self, call: Call, action: str, ref: str, step: Any) -> CommandResult:
        return self.service.execute(
            call, f"assessment.{action}", Assessment, ref, step, extra=_result
        )

    def review(self, call: Call, ref: str) -> CommandResult:
        return self._step(call, "review", ref, lambda a, c: a.review(c))

    def approve(self, call: Call, ref: str) -> CommandResult:
        return self._step(call, "approve", ref, lambda a, c: a.approve(c))

    def publish(self, call: Call, ref: str) -> CommandResult:
        return self._step(call, "publish", ref, lambda a, c: a.publish(c))

    def appeal(self, call: Call, ref: str, reason: str) -> CommandResult:
        return self._step(call, "appeal", ref, lambda a, c: a.appeal_result(c, reason))

    def decide_appeal(
        self, call: Call, ref: str, accepted: bool, score: float | None, reason: str
    ) -> CommandResult:
        return self._step(
            call, "decide_appeal", ref, lambda a, c: a.decide_appeal(c, accepted, score, reason)
        )

    def get(self, call: Call, ref: str, version: int | None = None) -> Assessment:
        a = self.service.load(Assessment, ref, version)
        self.service.authorize(call, "assessment.read", a.project)
        return a


def _result(a: Any) -> dict[str, Any]:
    return {"score": a.score, "grade": a.grade, "pay_adjustment_pct": a.pay_adjustment_pct}
