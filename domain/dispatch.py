"""Dispatch suggestions (派单建议, issue #16 item 6): rank a project's staff for a ticket.

The formula is data (`DISPATCH_POLICY`), answered with every suggestion so a dispatcher
sees why a name comes first; dispatch itself stays a human decision. Three factors, each
giving points; the score is their sum:

- **skill**: the ticket's category (classified by the taxonomy) against the person's
  skills: the exact level-2 category → `skill.l2`; the level-1 category, or another
  level-2 category under it → `skill.l1`; nothing → `skill.none`. A ticket whose
  category names only a level-1 category can reach `skill.l1` at most.
- **workload**: tickets assigned to the person and not resolved, closed or cancelled
  right now → `max(0, workload.max_points − workload.per_open_ticket × open)`.
- **resolution**: the median hours from assignment to resolution of the person's tickets
  resolved in the last `resolution.window_days` days (time on hold not counted) →
  `max(0, resolution.max_points − resolution.per_hour × median)`; without any such
  ticket `resolution.no_history` (a neutral half, neither rewarded nor punished).

And one penalty, listed only where it applies:

- **rejected**: the person rejected this very ticket back to dispatch (拒单) n times →
  `−rejection.per_rejection × n` points, so the one who just handed it back does not
  come first again (whatever the reason, the dispatcher may still choose them).

Points are rounded to one decimal, half up; the score is the sum of the rounded points. Ties: higher score first, then fewer
open tickets, then the user id in code-point order, so the order never depends on the
database. `rank` is the 1-based position in that order (no shared ranks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any

from domain.categories import Classified, Taxonomy

DISPATCH_POLICY: dict[str, Any] = {
    "skill": {"l2": 50, "l1": 25, "none": 0},
    "workload": {"max_points": 30, "per_open_ticket": 10},
    "resolution": {"window_days": 30, "max_points": 20, "per_hour": 0.5, "no_history": 10},
    "rejection": {"per_rejection": 40},
}


def validate_dispatch_policy(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The scoring table in force: `raw` over the defaults (only the weights it names
    change), or ValueError naming the fault. Every weight is a number >= 0; the skill
    points keep their order (l2 >= l1 >= none); `window_days` is a whole number of days."""
    if raw is None:
        return {k: dict(v) for k, v in DISPATCH_POLICY.items()}
    if not isinstance(raw, dict):
        raise ValueError(
            "dispatch policy must be an object {skill, workload, resolution, rejection}"
        )
    out: dict[str, Any] = {}
    for factor, defaults in DISPATCH_POLICY.items():
        given = raw.get(factor, {})
        if not isinstance(given, dict):
            raise ValueError(f"dispatch policy: '{factor}' must be an object")
        unknown = set(given) - set(defaults)
        if unknown:
            raise ValueError(
                f"dispatch policy: unknown weight {factor}.{sorted(unknown)[0]}; known: "
                + ", ".join(f"{factor}.{k}" for k in defaults)
            )
        merged = {**defaults, **given}
        for key, value in merged.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"dispatch policy: {factor}.{key} must be a number >= 0")
        out[factor] = merged
    unknown = set(raw) - set(DISPATCH_POLICY)
    if unknown:
        raise ValueError(f"dispatch policy: unknown factor '{sorted(unknown)[0]}'")
    skill = out["skill"]
    if not skill["l2"] >= skill["l1"] >= skill["none"]:
        raise ValueError("dispatch policy: skill points must keep l2 >= l1 >= none")
    days = out["resolution"]["window_days"]
    if not isinstance(days, int) or days < 1:
        raise ValueError("dispatch policy: resolution.window_days must be a whole number >= 1")
    return out


@dataclass(frozen=True)
class Candidate:
    """What the read side knows of one person: who, where, skills, open tickets and the
    hours each of their recently resolved tickets took."""

    staff_id: str
    name: str
    department: str
    skills: tuple[str, ...]
    open_tickets: int
    resolution_hours: tuple[float, ...] = field(default_factory=tuple)


def _points(value: float) -> float:
    """Points, never below zero, to one decimal rounded half up (19.25 → 19.3)."""
    exact = Decimal(str(max(0.0, value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return float(exact)


def skill_reason(
    cat: Classified, skills: tuple[str, ...], policy: dict[str, Any]
) -> dict[str, Any]:
    held = set(skills)
    l1_skills = sorted(s for s in held if s == cat.l1 or s.split(".", 1)[0] == cat.l1)
    if cat.l2 and cat.code in held:
        level, matched = "l2", cat.code
        en = f"has the exact skill {cat.code} ({cat.path}) for this ticket's category"
        zh = f"具备本工单类别的专项技能 {cat.code}（{cat.path}）"
    elif l1_skills:
        level, matched = "l1", l1_skills[0]
        en = f"has skill {matched} in the same main category {cat.l1} ({cat.l1_name})"
        zh = f"具备同一大类 {cat.l1}（{cat.l1_name}）的技能 {matched}"
    else:
        level, matched = "none", None
        en = f"no skill in this ticket's category {cat.code} ({cat.path})"
        zh = f"不具备本工单类别 {cat.code}（{cat.path}）的技能"
    return {
        "factor": "skill",
        "value": level,
        "matched": matched,
        "points": _points(policy["skill"][level]),
        "explanation": en,
        "explanation_zh": zh,
    }


def workload_reason(open_tickets: int, policy: dict[str, Any]) -> dict[str, Any]:
    w = policy["workload"]
    points = _points(w["max_points"] - w["per_open_ticket"] * open_tickets)
    if open_tickets == 0:
        en, zh = "no open tickets right now", "当前没有未完成的工单"
    else:
        plural = "ticket" if open_tickets == 1 else "tickets"
        en = f"{open_tickets} open {plural} assigned right now (not yet resolved)"
        zh = f"当前有 {open_tickets} 张已派未完成的工单"
    return {
        "factor": "workload",
        "value": open_tickets,
        "points": points,
        "explanation": en,
        "explanation_zh": zh,
    }


def resolution_reason(hours: tuple[float, ...], policy: dict[str, Any]) -> dict[str, Any]:
    r = policy["resolution"]
    days = r["window_days"]
    if not hours:
        return {
            "factor": "resolution",
            "value": None,
            "resolved": 0,
            "points": _points(r["no_history"]),
            "explanation": f"no history: no ticket resolved in the last {days} days",
            "explanation_zh": f"近 {days} 天没有已解决的工单，无历史数据",
        }
    med = round(median(hours), 2)
    n = len(hours)
    plural = "ticket" if n == 1 else "tickets"
    return {
        "factor": "resolution",
        "value": med,
        "resolved": n,
        "points": _points(r["max_points"] - r["per_hour"] * med),
        "explanation": f"median {med:g} h from assignment to resolution over {n} {plural}"
        f" resolved in the last {days} days",
        "explanation_zh": f"近 {days} 天解决 {n} 张工单，从派单到解决的中位用时 {med:g} 小时",
    }


def rejection_reason(times: int, policy: dict[str, Any]) -> dict[str, Any]:
    plural = "time" if times == 1 else "times"
    return {
        "factor": "rejected",
        "value": times,
        "points": -_points(policy["rejection"]["per_rejection"] * times),
        "explanation": f"rejected this ticket back to dispatch {times} {plural}",
        "explanation_zh": f"曾 {times} 次拒单退回本工单",
    }


def suggest(
    category: str,
    candidates: list[Candidate],
    taxonomy: Taxonomy,
    policy: dict[str, Any] = DISPATCH_POLICY,
    rejected: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The candidates ranked for a ticket of `category`, each with its reasons;
    `rejected`: how many times each person rejected this ticket (user id → times)."""
    cat = taxonomy.classify(category)
    scored = []
    for c in candidates:
        reasons = [
            skill_reason(cat, c.skills, policy),
            workload_reason(c.open_tickets, policy),
            resolution_reason(c.resolution_hours, policy),
        ]
        times = (rejected or {}).get(c.staff_id, 0)
        if times:
            reasons.append(rejection_reason(times, policy))
        score = float(sum(Decimal(str(r["points"])) for r in reasons))
        scored.append((c, score, reasons))
    scored.sort(key=lambda s: (-s[1], s[0].open_tickets, s[0].staff_id))
    return [
        {
            "rank": i,
            "staff_id": c.staff_id,
            "name": c.name,
            "department": c.department,
            "score": score,
            "skills": list(c.skills),
            "reasons": reasons,
        }
        for i, (c, score, reasons) in enumerate(scored, start=1)
    ]
