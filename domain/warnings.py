"""Early warnings (风险预警): rules as data, and the warning an evaluation raises.

A rule names a `kind` of test over the KPI facts (a threshold or a trend) and its
parameters; several rules may share a kind with other parameters. A warning is raised
at most once per rule, subject and period: its id is derived from those three
(`warning_id`), so a second evaluation (another pass, another process, a restart) finds
it recorded and the store refuses a second `WarningRaised` for the same id.

    raised ──acknowledge──▶ acknowledged ──resolve──▶ resolved
       └────────────────────resolve─────────────────────┘
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.base import Ctx, QAggregate, id_for, require_text
from domain.errors import InvalidValue
from domain.vocabulary import NUMBER_PREFIXES

#: kind -> (parameter -> (default, minimum)); what each kind tests is in docs/warnings.md.
RULE_KINDS: dict[str, dict[str, tuple[float, float]]] = {
    # a project's mean inspection score in the last complete month below `threshold`
    "inspection_average_below": {"threshold": (80.0, 0.0), "min_count": (1, 1)},
    # a published campaign's CSI more than `points` below the previous published one
    "campaign_csi_drop": {"points": (5.0, 0.0)},
    # a project's complaints this week above `factor` x the median of the `weeks` before
    "complaints_spike": {"factor": (2.0, 0.0), "weeks": (8, 1), "min_count": (1, 1)},
    # the same checklist item failed `count` times in `days` days in one project
    "item_recurrence": {"count": (3, 2), "days": (90, 1)},
    # a project's SLA met % (both phases) in the last complete month below `threshold`
    "sla_met_below": {"threshold": (90.0, 0.0), "min_count": (1, 1)},
}

WARNING_SEVERITIES = ("minor", "major", "critical")

#: The five examples of issue #14 (seed 004, 风险预警).
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "id": "inspection-average-below-80",
        "kind": "inspection_average_below",
        "title": "项目月度检查平均分低于80分",
        "severity": "major",
        "threshold": 80,
    },
    {
        "id": "campaign-csi-down-5",
        "kind": "campaign_csi_drop",
        "title": "满意度调查CSI较上期下降超过5分",
        "severity": "major",
        "points": 5,
    },
    {
        "id": "complaints-week-2x-median",
        "kind": "complaints_spike",
        "title": "本周投诉量超过前8周中位数的2倍",
        "severity": "major",
        "factor": 2,
        "weeks": 8,
        "min_count": 3,
    },
    {
        "id": "checklist-item-3-in-90-days",
        "kind": "item_recurrence",
        "title": "同一检查项90天内重复不合格3次",
        "severity": "minor",
        "count": 3,
        "days": 90,
    },
    {
        "id": "sla-met-below-90",
        "kind": "sla_met_below",
        "title": "项目月度工单SLA达成率低于90%",
        "severity": "major",
        "threshold": 90,
    },
]


def validate_rules(rules: Any) -> list[dict[str, Any]]:
    """Complete rules (defaults filled in), or InvalidValue naming what is wrong."""
    if not isinstance(rules, list) or not rules:
        raise InvalidValue("warning_rules", "must be a non-empty list of rules")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        at = f"warning_rules[{i}]"
        if not isinstance(rule, dict):
            raise InvalidValue(at, "must be an object")
        rid = require_text(f"{at}.id", rule.get("id"), 80)
        if not all(ch.isalnum() or ch in "-_." for ch in rid):
            raise InvalidValue(f"{at}.id", "may contain only letters, digits, '-', '_' and '.'")
        if rid in seen:
            raise InvalidValue(f"{at}.id", f"'{rid}' is used twice")
        seen.add(rid)
        kind = rule.get("kind")
        if kind not in RULE_KINDS:
            raise InvalidValue(f"{at}.kind", f"must be one of {', '.join(sorted(RULE_KINDS))}")
        severity = rule.get("severity", "major")
        if severity not in WARNING_SEVERITIES:
            raise InvalidValue(f"{at}.severity", f"must be one of {', '.join(WARNING_SEVERITIES)}")
        params = RULE_KINDS[kind]
        unknown = set(rule) - set(params) - {"id", "kind", "title", "severity"}
        if unknown:
            raise InvalidValue(f"{at}", f"unknown parameters: {', '.join(sorted(unknown))}")
        done: dict[str, Any] = {
            "id": rid,
            "kind": kind,
            "title": require_text(f"{at}.title", rule.get("title", rid), 200),
            "severity": severity,
        }
        for name, (default, minimum) in params.items():
            value = rule.get(name, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
                raise InvalidValue(f"{at}.{name}", f"must be a number >= {minimum:g}")
            done[name] = int(value) if isinstance(default, int) else float(value)
        out.append(done)
    return out


def warning_id(rule_id: str, subject: str, period: str) -> UUID:
    """The one id a warning of this rule, subject and period can have."""
    return id_for("warning", f"{rule_id}|{subject}|{period}")


class EarlyWarning(QAggregate):
    KIND = "warning"
    PREFIX = NUMBER_PREFIXES["warning"]
    STATES = {
        "raised": ("acknowledge", "resolve"),
        "acknowledged": ("resolve",),
        "resolved": (),
    }

    class WarningRaised(QAggregate.Created):
        number: str
        rule: dict[str, Any]
        subject: str
        subject_label: str
        project: str | None
        region: str | None
        period: str
        figures: dict[str, Any]
        message: str

    class WarningAcknowledged(QAggregate.Event):
        note: str | None

        def apply(self, agg: EarlyWarning) -> None:
            agg.status = "acknowledged"
            agg.acknowledged_by = self.actor
            agg.acknowledged_at = self.timestamp

    class WarningResolved(QAggregate.Event):
        note: str

        def apply(self, agg: EarlyWarning) -> None:
            agg.status = "resolved"
            agg.resolved_by = self.actor
            agg.resolved_at = self.timestamp
            agg.resolution = self.note

    def __init__(
        self,
        number: str,
        rule: dict[str, Any],
        subject: str,
        subject_label: str,
        project: str | None,
        region: str | None,
        period: str,
        figures: dict[str, Any],
        message: str,
        **_: Any,
    ) -> None:
        self.number = number
        self.rule = rule
        self.subject = subject
        self.subject_label = subject_label
        self.project = project
        self.region = region
        self.period = period
        self.figures = figures
        self.message = message
        self.status = "raised"
        self.acknowledged_by: dict[str, str] | None = None
        self.acknowledged_at: Any = None
        self.resolved_by: dict[str, str] | None = None
        self.resolved_at: Any = None
        self.resolution: str | None = None

    @classmethod
    def raise_warning(
        cls,
        ctx: Ctx,
        number: str,
        rule: dict[str, Any],
        subject: str,
        subject_label: str,
        project: str | None,
        region: str | None,
        period: str,
        figures: dict[str, Any],
        message: str,
    ) -> EarlyWarning:
        return cls._create(
            cls.WarningRaised,
            id=warning_id(rule["id"], subject, period),
            number=number,
            rule=dict(rule),
            subject=subject,
            subject_label=subject_label,
            project=project,
            region=region,
            period=period,
            figures=dict(figures),
            message=message,
            **cls.meta(ctx),
        )

    def acknowledge(self, ctx: Ctx, note: str | None = None) -> None:
        self.check_step("acknowledge")
        if note is not None:
            note = require_text("note", note)
        self.record(self.WarningAcknowledged, ctx, note=note)

    def resolve(self, ctx: Ctx, note: str) -> None:
        self.check_step("resolve")
        self.record(self.WarningResolved, ctx, note=require_text("note", note))
