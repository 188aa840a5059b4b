"""The words of DOMAIN.md, once: every enumeration and human-number prefix.

The aggregates validate against these tuples and the API builds its request schemas
(and so the OpenAPI enum lists) from them; the order here is the order clients see.
Grades are not listed: they are whatever the grading policy in force names
(`domain.grading.DEFAULT_GRADING`), recorded with each result.
"""

from __future__ import annotations

# -- organisation and people ---------------------------------------------------------
#: Departments on a site, plus the quality department at region/company level.
DEPARTMENTS = (
    "customer_service",
    "engineering",
    "security",
    "cleaning",
    "landscaping",
    "administration",
    "quality",
)
ROLES = (
    "front_desk",
    "staff",
    "supervisor",
    "project_manager",
    "inspector",
    "quality_manager",
    "auditor",
    "reporting",
    "admin",
    # loop (issue #15): company-wide; approves assessments, decides second-level appeals
    "general_manager",
)

# -- tickets (§1) --------------------------------------------------------------------
TICKET_KINDS = ("complaint", "repair", "inquiry", "suggestion", "praise")
CHANNELS = ("phone", "walk_in", "letter", "app", "email", "web", "staff_relay")
PRIORITIES = ("urgent", "high", "normal", "low")

# -- inspections (§2) ----------------------------------------------------------------
INSPECTION_KINDS = (
    "self_check",
    "cross_check",
    "regional_monthly",
    "company_quarterly",
    "night_check",
    "mystery_visit",
    "internal_audit",
    "third_party_audit",
)
#: An item's result; `na` (not applicable) is left out of the score.
ITEM_RESULTS = ("pass", "fail", "na")

# -- nonconformances (§3) ------------------------------------------------------------
SEVERITIES = ("minor", "major", "critical")
NONCONFORMANCE_SOURCES = ("inspection", "audit", "ticket", "survey", "self_report")
DISPOSITIONS = ("rework", "repair", "concession", "return", "scrap")
NONCONFORMANCE_STATUSES = (
    "raised",
    "noticed",
    "analysed",
    "planned",
    "plan_approved",
    "rectified",
    "closed",
    "cancelled",
)
#: Escalation ladder: project → region → company-wide circular (全公司通报).
ESCALATION_LEVELS = ("project", "region", "company")

# -- surveys (§4) --------------------------------------------------------------------
SURVEY_PARTIES = ("first_party", "third_party")
SURVEY_METHODS = ("web", "face_to_face", "email", "phone")
LOYALTY_LEVELS = ("loyal", "favourable", "vulnerable", "at_risk", "not_assessable")

# -- plans and assessments (loop, issue #15) ------------------------------------------
#: How a plan's inspections recur (`domain.recurrence`).
RECURRENCE_TYPES = ("monthly", "twice_monthly", "second_monday", "quarterly", "rate")
#: Who carries an assessment's pay adjustment (seed 003 §4.5: 直属管理人员负相关管理责任).
RESPONSIBLE_ROLES = ("project_manager", "direct_manager")

# -- human numbers -------------------------------------------------------------------
#: `TK-2026-000123`: the prefix of each kind of issue's human number.
NUMBER_PREFIXES = {
    "ticket": "TK",
    "inspection": "INS",
    "nonconformance": "NC",
    "survey": "SV",
    "checklist_template": "CT",
    # notify: company-wide circulars (全公司通报)
    "circular": "TB",
    "warning": "YJ",  # early warnings 预警 (domain/warnings.py)
    # loop (issue #15)
    "inspection_plan": "IP",
    "assessment": "AS",
}
