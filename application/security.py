"""Principals, scopes and the permission matrix — written once, as data.

A principal is scoped to a list of projects, to one region, or (neither) the whole
company. `PERMISSIONS` maps each action to the roles that may perform it; the README
prints this table and the tests walk every cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.vocabulary import ROLES

_OPERATIONAL = (
    "front_desk",
    "staff",
    "supervisor",
    "project_manager",
    "inspector",
    "quality_manager",
)

#: action -> roles allowed. Reads of issues are open to every operational role and auditors.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    # organisation
    "region.register": ("admin",),
    "project.register": ("admin",),
    "org.read": ROLES,
    # tickets
    "ticket.receive": ("front_desk", "supervisor"),
    "ticket.dispatch": ("front_desk", "supervisor"),
    "ticket.accept": ("staff", "supervisor"),
    "ticket.transfer": ("front_desk", "supervisor"),
    "ticket.note": _OPERATIONAL,
    "ticket.resolve": ("staff", "supervisor"),
    "ticket.callback": ("front_desk", "supervisor"),
    "ticket.reopen": ("front_desk", "supervisor"),
    "ticket.close": ("front_desk", "supervisor"),
    "ticket.cancel": ("front_desk", "supervisor"),
    "ticket.escalate": ("front_desk", "supervisor", "project_manager", "quality_manager"),
    "ticket.read": (*_OPERATIONAL, "auditor"),
    # the field steps (issue #16): arrive and reject by the assignee only, hold/resume by
    # the assignee or a supervisor (both checked by the domain: 403 for anyone else)
    "ticket.arrive": ("staff", "supervisor"),
    "ticket.hold": ("staff", "supervisor"),
    "ticket.resume": ("staff", "supervisor"),
    "ticket.reclassify": ("front_desk", "supervisor"),
    "ticket.reject": ("staff", "supervisor"),
    # checklist templates and inspections (project_manager: self_check only, checked in application/inspections.py)
    "template.create": ("admin", "quality_manager"),
    "template.revise": ("admin", "quality_manager"),
    "template.publish": ("admin", "quality_manager"),
    "template.read": (*_OPERATIONAL, "auditor", "admin"),
    "inspection.schedule": ("inspector", "quality_manager", "project_manager"),
    "inspection.start": ("inspector", "quality_manager", "project_manager"),
    "inspection.score": ("inspector", "quality_manager", "project_manager"),
    "inspection.submit": ("inspector", "quality_manager", "project_manager"),
    "inspection.appeal": ("project_manager",),
    "inspection.decide_appeal": ("quality_manager",),
    "inspection.finalize": ("quality_manager", "inspector"),
    "inspection.cancel": ("quality_manager",),
    "inspection.read": (*_OPERATIONAL, "auditor"),
    # nonconformances and corrective action (cancel: the quality manager's act is the approval)
    "nonconformance.raise": ("inspector", "quality_manager", "project_manager", "supervisor"),
    "nonconformance.notice": ("quality_manager", "inspector"),
    "nonconformance.root_cause": ("project_manager", "staff", "supervisor"),
    "nonconformance.plan": ("project_manager", "staff", "supervisor"),
    "nonconformance.plan_decision": ("quality_manager",),
    "nonconformance.rectify": ("project_manager", "staff", "supervisor"),
    "nonconformance.verify": ("quality_manager", "inspector"),
    "nonconformance.extension": ("project_manager", "supervisor"),
    "nonconformance.extension_decision": ("quality_manager",),
    "nonconformance.disposition": ("quality_manager", "inspector"),
    "nonconformance.cancel": ("quality_manager",),
    "nonconformance.read": (*_OPERATIONAL, "auditor"),
    # survey campaigns (decide: a quality manager other than the submitter, enforced by the domain)
    "survey.draft": ("quality_manager",),
    "survey.submit": ("quality_manager",),
    "survey.decide": ("quality_manager",),
    "survey.open": ("quality_manager",),
    "survey.close": ("quality_manager",),
    "survey.publish": ("quality_manager",),
    "survey.respond": ("quality_manager", "front_desk", "staff", "supervisor"),
    "survey.import": ("quality_manager", "front_desk", "staff", "supervisor"),
    "survey.acknowledge": ("quality_manager", "front_desk", "staff", "supervisor"),
    "survey.invalidate": ("quality_manager",),
    "survey.read": (*_OPERATIONAL, "auditor"),
    "survey.results": (*_OPERATIONAL, "auditor", "reporting"),
    # audit and KPIs
    "audit.read": ("auditor", "quality_manager", "project_manager", "supervisor"),
    "audit.verify": ("auditor", "admin", "quality_manager"),
    "audit.personal_data": ("auditor",),
    "kpi.read": ("reporting", "quality_manager", "project_manager", "auditor"),
    # notify: circulars (全公司通报; every principal reads them), webhooks (docs/notifications.md)
    "circular.raise": ("quality_manager",),
    "circular.read": ROLES,
    "circular.mark_read": ROLES,
    "circular.receipts": ("auditor", "quality_manager"),
    "webhook.manage": ("admin",),
    "webhook.read": ("admin",),
    # event feed and early warnings (issue #14 items 4-5; docs/events-feed.md, docs/warnings.md)
    "events.read": (
        "auditor",
        "quality_manager",
        "project_manager",
        "supervisor",
        "general_manager",
    ),
    "warning.read": (
        "supervisor",
        "project_manager",
        "quality_manager",
        "auditor",
        "reporting",
        "general_manager",
    ),
    "warning.acknowledge": ("project_manager", "quality_manager"),
    "warning.resolve": ("quality_manager",),
    # loop (issue #15): inspection plans and assessments (考核与奖惩; the general manager
    # approves assessments and decides second-level appeals, 总经理具有最高的考评权)
    "inspection_plan.create": ("quality_manager",),
    "inspection_plan.withdraw": ("quality_manager",),
    "inspection_plan.read": (*_OPERATIONAL, "auditor", "general_manager"),
    "assessment.close": ("quality_manager",),
    "assessment.review": ("quality_manager",),
    "assessment.approve": ("general_manager",),
    "assessment.publish": ("quality_manager",),
    "assessment.appeal": ("project_manager",),
    "assessment.decide_appeal": ("general_manager",),
    "assessment.read": (*_OPERATIONAL, "auditor", "general_manager"),
    # complaint analysis (issue #16 item 5): the category taxonomy is no secret (front desks
    # pick from it); the analysis itself is read with "kpi.read"
    "category.read": ROLES,
    # dispatch suggestions (issue #16 item 6): staff and skills; suggestions for whoever
    # may dispatch (docs/dispatch.md)
    "staff.register": ("admin", "project_manager"),
    "staff.skills": ("admin", "project_manager", "supervisor"),
    # the register's lifecycle: 调岗 (move), 离职 (leave), back again (rejoin)
    "staff.move": ("admin", "project_manager"),
    "staff.leave": ("admin", "project_manager"),
    "staff.rejoin": ("admin", "project_manager"),
    "staff.read": (*_OPERATIONAL, "auditor", "admin"),
    "ticket.suggest_dispatch": ("front_desk", "supervisor"),
    # attach (issue #16 item 4): evidence files; reading one also needs a referencing
    # issue in scope (or having uploaded it), checked in application/attachments.py
    "attachment.upload": _OPERATIONAL,
    "attachment.read": (*_OPERATIONAL, "auditor"),
}

#: Roles that see residents' name and phone unmasked (plus the ticket's assignee).
UNMASKED_ROLES = ("front_desk", "supervisor")


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: str
    projects: tuple[str, ...] = field(default_factory=tuple)
    region: str | None = None
    token_id: str | None = None

    @property
    def company_wide(self) -> bool:
        return not self.projects and self.region is None

    def sees(self, project: str | None, region: str | None) -> bool:
        """Whether `project` (in `region`) lies within this principal's scope."""
        if self.company_wide or project is None:
            return True
        if project in self.projects:
            return True
        return self.region is not None and region == self.region

    def scope_filter(self) -> tuple[tuple[str, ...] | None, str | None]:
        """(projects, region) to restrict list queries; (None, None) for company-wide."""
        if self.company_wide:
            return None, None
        return (self.projects or None), self.region


def permission_table() -> str:
    """The matrix as a markdown table (README "Security"; `qualtrace permissions`)."""
    short = {
        "front_desk": "front desk",
        "project_manager": "project mgr",
        "quality_manager": "quality mgr",
        "general_manager": "general mgr",
    }
    head = "| action | " + " | ".join(short.get(r, r) for r in ROLES) + " |"
    rule = "|---|" + "|".join(":-:" for _ in ROLES) + "|"
    rows = [
        f"| `{action}` | " + " | ".join("✓" if r in roles else "" for r in ROLES) + " |"
        for action, roles in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])


def can(principal: Principal, action: str) -> bool:
    return principal.role in PERMISSIONS.get(action, ())


def authorize(principal: Principal, action: str, project: str | None, region: str | None) -> bool:
    return can(principal, action) and principal.sees(project, region)
