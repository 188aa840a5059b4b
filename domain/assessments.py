"""Assessments (考核与奖惩, seed 003 §4): a project's month or quarter, scored, graded, paid.

draft (the quality manager closes the period) → reviewed (quality manager) → approved
(general manager) → published (quality manager) → [appealed (project manager, to the
general manager) → appeal_decided (final: 总经理具有最高的考评权)].

`Drafted` records everything the result was computed from: each input inspection (or, for
a quarter, each monthly assessment) by id, number, version and store position, each
deduction by the event that recorded it, the policy, and the result; so an auditor can
recompute it (`domain.assessment_policy.compute_month` / `compute_quarter`). The
responsible persons (the project manager and direct managers, 直属管理人员负相关管理责任)
carry the pay adjustment.
"""

from __future__ import annotations

from typing import Any

from domain.assessment_policy import compute_month, compute_quarter
from domain.base import Ctx, QAggregate, id_for, require_choice, require_text
from domain.errors import InvalidValue
from domain.grading import grade_for
from domain.vocabulary import NUMBER_PREFIXES, RESPONSIBLE_ROLES


def check_responsible(people: Any) -> list[dict[str, str]]:
    if not isinstance(people, list) or not people or len(people) > 20:
        raise InvalidValue("responsible", "name from 1 to 20 responsible persons")
    out = []
    for n, p in enumerate(people):
        if not isinstance(p, dict):
            raise InvalidValue(f"responsible.{n}", "must be {name, role}")
        out.append(
            {
                "name": require_text(f"responsible.{n}.name", p.get("name"), 100),
                "role": require_choice(f"responsible.{n}.role", p.get("role"), RESPONSIBLE_ROLES),
            }
        )
    if not any(p["role"] == "project_manager" for p in out):
        raise InvalidValue("responsible", "must name the project manager")
    return out


class Assessment(QAggregate):
    KIND = "assessment"
    PREFIX = NUMBER_PREFIXES["assessment"]
    STATES = {
        "draft": ("review",),
        "reviewed": ("approve",),
        "approved": ("publish",),
        "published": ("appeal",),
        "appealed": ("decide_appeal",),
        "appeal_decided": (),
    }

    class Drafted(QAggregate.Created):
        number: str
        project: str
        region: str | None
        period: str
        period_kind: str
        period_start: str
        period_end: str
        inputs: list[dict[str, Any]]
        deductions: list[dict[str, Any]]
        policy: dict[str, Any]
        result: dict[str, Any]
        responsible: list[dict[str, str]]
        links: list[dict[str, str]]

    class Reviewed(QAggregate.Event):
        def apply(self, a: Assessment) -> None:
            a.status = "reviewed"
            a.reviewed = {"by": dict(self.actor), "at": self.timestamp.isoformat()}

    class Approved(QAggregate.Event):
        def apply(self, a: Assessment) -> None:
            a.status = "approved"
            a.approved = {"by": dict(self.actor), "at": self.timestamp.isoformat()}

    class Published(QAggregate.Event):
        def apply(self, a: Assessment) -> None:
            a.status = "published"
            a.published_at = self.timestamp

    class Appealed(QAggregate.Event):
        def apply(self, a: Assessment) -> None:
            a.status = "appealed"
            a.appeal = {
                "reason": self.reason,
                "by": dict(self.actor),
                "at": self.timestamp.isoformat(),
                "decision": None,
            }

    class AppealDecided(QAggregate.Event):
        accepted: bool
        previous: dict[str, Any]
        result: dict[str, Any]

        def apply(self, a: Assessment) -> None:
            a.status = "appeal_decided"
            a.set_result(self.result)
            assert a.appeal is not None
            a.appeal["decision"] = {
                "accepted": self.accepted,
                "reason": self.reason,
                "by": dict(self.actor),
                "at": self.timestamp.isoformat(),
                "previous": dict(self.previous),
            }

    def __init__(
        self,
        number: str,
        project: str,
        region: str | None,
        period: str,
        period_kind: str,
        period_start: str,
        period_end: str,
        inputs: list[dict[str, Any]],
        deductions: list[dict[str, Any]],
        policy: dict[str, Any],
        result: dict[str, Any],
        responsible: list[dict[str, str]],
        links: list[dict[str, str]],
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.number = number
        self.project = project
        self.region = region
        self.period = period
        self.period_kind = period_kind
        self.period_start = period_start
        self.period_end = period_end
        self.inputs = [dict(i) for i in inputs]
        self.deductions = [dict(d) for d in deductions]
        self.policy = dict(policy)
        self.responsible = [dict(p) for p in responsible]
        self.links = [dict(link) for link in links]
        self.status = "draft"
        self.closed_at = timestamp
        self.reviewed: dict[str, Any] | None = None
        self.approved: dict[str, Any] | None = None
        self.published_at: Any = None
        self.appeal: dict[str, Any] | None = None
        self.set_result(result)

    def set_result(self, result: dict[str, Any]) -> None:
        self.result = dict(result)
        self.score = result["score"]
        self.grade = result["grade"]
        self.pay_adjustment_pct = result["pay_adjustment_pct"]
        self.pay_adjustments = [
            {**p, "pay_adjustment_pct": result["pay_adjustment_pct"]} for p in self.responsible
        ]

    @classmethod
    def close(
        cls,
        ctx: Ctx,
        *,
        number: str,
        project: str,
        region: str | None,
        period: str,
        period_kind: str,
        bounds: tuple[str, str],
        inputs: list[dict[str, Any]],
        deductions: list[dict[str, Any]],
        policy: dict[str, Any],
        responsible: Any,
    ) -> Assessment:
        people = check_responsible(responsible)
        if period_kind == "month":
            result = compute_month(inputs, deductions, policy)
        else:
            result = compute_quarter(inputs, policy)
        return cls._create(
            cls.Drafted,
            id=id_for(cls.KIND, number),
            number=number,
            project=project,
            region=region,
            period=period,
            period_kind=period_kind,
            period_start=bounds[0],
            period_end=bounds[1],
            inputs=[dict(i) for i in inputs],
            deductions=[dict(d) for d in deductions],
            policy=dict(policy),
            result=result,
            responsible=people,
            links=_links(inputs, deductions),
            **cls.meta(ctx),
        )

    def review(self, ctx: Ctx) -> None:
        self.check_step("review")
        self.record(self.Reviewed, ctx)

    def approve(self, ctx: Ctx) -> None:
        self.check_step("approve")
        self.record(self.Approved, ctx)

    def publish(self, ctx: Ctx) -> None:
        self.check_step("publish")
        self.record(self.Published, ctx)

    def appeal_result(self, ctx: Ctx, reason: str) -> None:
        """Second-level appeal (to the general manager) after the published decision."""
        self.check_step("appeal")
        self.record(self.Appealed, ctx, require_text("reason", reason, 4000))

    def decide_appeal(self, ctx: Ctx, accepted: bool, score: Any, reason: str) -> None:
        """Final. Accepted: the general manager sets the score (0–100 for a month, 0–300 for
        a quarter), graded under the recorded policy; rejected: the result stands."""
        self.check_step("decide_appeal")
        reason = require_text("reason", reason, 4000)
        if not isinstance(accepted, bool):
            raise InvalidValue("accepted", "must be true or false")
        previous = {k: self.result[k] for k in ("score", "grade", "pay_adjustment_pct")}
        result = dict(self.result)
        if accepted:
            top = 100 if self.period_kind == "month" else 100 * len(self.inputs)
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise InvalidValue("score", "an accepted appeal sets the score")
            if not 0 <= score <= top:
                raise InvalidValue("score", f"must be from 0 to {top}")
            graded = score if self.period_kind == "month" else score / len(self.inputs)
            grade, pay = grade_for(round(graded, 2), self.policy["grading"])
            result.update(score=round(float(score), 2), grade=grade, pay_adjustment_pct=pay)
            if self.period_kind != "month":
                result["mean_score"] = round(graded, 2)
        elif score is not None:
            raise InvalidValue("score", "is only given when the appeal is accepted")
        self.record(
            self.AppealDecided, ctx, reason, accepted=accepted, previous=previous, result=result
        )


def _links(inputs: list[dict[str, Any]], deductions: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The issues an assessment was computed from, for the trace: each input it assesses
    (an inspection, or a month of a quarter) and each issue a deduction was recorded on."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i in inputs:
        if i.get("id") and i["id"] not in seen:
            seen.add(i["id"])
            kind = "assessment" if i.get("kind") == "assessment" else "inspection"
            out.append({"rel": "assesses", "kind": kind, "id": i["id"], "number": i["number"]})
    for d in deductions:
        issue = d.get("issue") or {}
        if issue.get("id") and issue["id"] not in seen:
            seen.add(issue["id"])
            kind = "nonconformance" if d["rule"] == "failed_recheck" else "inspection"
            out.append({"rel": "deducted_for", "kind": kind, **issue})
    return out
