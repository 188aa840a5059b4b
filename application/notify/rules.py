"""Notification rules as data: (aggregate, event) -> who is told, when, and with what title.

Each rule is one `Rule` row in `RULES`. Recipients are user ids (`Principal.id`): either
named by the issue itself (a ticket's assignee, a notice's responsible person) or found
among the principals by role and scope (`Directory`: the supervisors or the project
manager of a project are the principals with that role whose token lists the project; a
region's quality manager is a quality manager scoped to that region; "everyone" is every
principal with a valid token). Adding a rule is adding one row, e.g. for the early
warnings of the feed:

    Rule("warning.raised", "Warning", "WarningRaised",
         anyone(role_in_project("project_manager"), role_in_region("quality_manager")),
         lambda s: f"风险预警 {s.number}: {s.data.get('rule', '')}"),
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from psycopg import Cursor

from store.records import EventRecord


class Directory:
    """Principals by role and scope, from the API tokens that are valid now."""

    VALID = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"

    def __init__(self, cur: Cursor[Any]) -> None:
        self.cur = cur

    def _ids(self, where: str, params: tuple[Any, ...]) -> list[str]:
        self.cur.execute(
            f"SELECT DISTINCT user_id FROM api_tokens WHERE {self.VALID} AND {where}"
            " ORDER BY user_id",
            params,
        )
        return [r[0] if isinstance(r, tuple) else r["user_id"] for r in self.cur.fetchall()]

    def in_project(self, role: str, project: str | None) -> list[str]:
        if not project:
            return []
        return self._ids("role = %s AND %s = ANY(projects)", (role, project))

    def in_region(self, role: str, region: str | None) -> list[str]:
        if not region:
            return []
        return self._ids("role = %s AND region = %s", (role, region))

    def everyone(self) -> list[str]:
        return self._ids("TRUE", ())


@dataclass
class Subject:
    """What a rule sees: the event, the issue's state just after it (loaded on demand),
    its project's region, and the directory of principals."""

    rec: EventRecord
    directory: Directory
    load: Callable[[], Any]
    region_of: Callable[[str], str | None]
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return self.rec.data()

    @cached_property
    def issue(self) -> Any:
        return self.load()

    @property
    def project(self) -> str | None:
        return self.data.get("project") or getattr(self.issue, "project", None)

    @property
    def region(self) -> str | None:
        return self.region_of(self.project) if self.project else None

    @property
    def number(self) -> str:
        return str(self.data.get("number") or getattr(self.issue, "number", "") or "")


Recipients = Callable[[Subject], Iterable[str]]


def attribute(name: str) -> Recipients:
    """The user id the issue names in `name` (after the event), if any."""
    return lambda s: [v] if (v := getattr(s.issue, name, None)) else []


def role_in_project(role: str) -> Recipients:
    return lambda s: s.directory.in_project(role, s.project)


def role_in_region(role: str) -> Recipients:
    return lambda s: s.directory.in_region(role, s.region)


def everyone(s: Subject) -> Iterable[str]:
    return s.directory.everyone()


def anyone(*parts: Recipients) -> Recipients:
    """The union of several recipient functions."""
    return lambda s: [r for part in parts for r in part(s)]


def always(s: Subject) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    kind: str  # the notification kind: what webhooks subscribe to, what a user filters on
    aggregate: str  # aggregate class name (EventRecord.aggregate)
    event: str  # event class name (EventRecord.type)
    recipients: Recipients
    title: Callable[[Subject], str]
    when: Callable[[Subject], bool] = always


#: DOMAIN.md / issue 14 item 1, one row per rule.
RULES: tuple[Rule, ...] = (
    Rule(
        "ticket.dispatched",
        "Ticket",
        "Dispatched",
        attribute("assignee"),
        lambda s: f"工单 {s.number} 已派给您 (dispatched to you): {s.issue.category}",
    ),
    Rule(
        "ticket.transferred",
        "Ticket",
        "Transferred",
        attribute("assignee"),
        lambda s: f"工单 {s.number} 已转派给您 (transferred to you): {s.issue.category}",
    ),
    Rule(
        "ticket.sla_breached",
        "Ticket",
        "SlaBreached",
        anyone(role_in_project("supervisor"), role_in_project("project_manager")),
        lambda s: f"工单 {s.number} 超时 (SLA {s.data.get('phase')} breached)",
    ),
    Rule(
        "nonconformance.noticed",
        "Nonconformance",
        "NoticeIssued",
        anyone(attribute("responsible_person"), role_in_project("project_manager")),
        lambda s: f"整改通知 {s.number} (rectification notice no. {s.data.get('notice_no')})",
    ),
    Rule(
        "nonconformance.overdue",
        "Nonconformance",
        "Overdue",
        anyone(
            attribute("responsible_person"),
            role_in_project("project_manager"),
            role_in_region("quality_manager"),
        ),
        lambda s: f"不合格项 {s.number} 逾期未整改 (overdue)",
    ),
    Rule(
        "circular.raised",
        "Circular",
        "Raised",
        everyone,
        lambda s: f"全公司通报 {s.number}: {s.data.get('title')}",
    ),
    Rule(
        "inspection.low_grade",
        "Inspection",
        "Submitted",
        anyone(role_in_project("project_manager"), role_in_region("quality_manager")),
        lambda s: f"检查 {s.number} 评为 {s.data.get('grade')} ({s.data.get('score')})",
        when=lambda s: s.data.get("grade") in ("D", "E"),
    ),
    Rule(
        "survey.improvement_action",
        "Nonconformance",
        "Raised",
        role_in_project("supervisor"),
        lambda s: f"满意度改进项 {s.number}: {s.data.get('description', '')[:80]}",
        when=lambda s: (s.data.get("source") or {}).get("type") == "survey",
    ),
    Rule(
        "warning.raised",
        "EarlyWarning",
        "WarningRaised",
        anyone(
            role_in_project("project_manager"),
            # a region-level warning names its region without a project
            lambda s: s.directory.in_region("quality_manager", s.region or s.data.get("region")),
        ),
        lambda s: f"风险预警 {s.number}: {s.data.get('message') or s.data.get('rule', '')}",
    ),
)

RULES_BY_EVENT: dict[tuple[str, str], list[Rule]] = {}
for _rule in RULES:
    RULES_BY_EVENT.setdefault((_rule.aggregate, _rule.event), []).append(_rule)
KINDS = tuple(r.kind for r in RULES)
