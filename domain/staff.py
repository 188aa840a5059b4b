"""Staff of a project's departments (站点员工) and their skills, for dispatch suggestions.

A staff member is registered under the user id their tokens carry (`qualtrace token
create --user ID`), so the id a suggestion names is the `assignee` that dispatch records
and the principal the field steps (arrive, reject) recognise. Skills are category codes
of the ticket taxonomy (`domain.categories`), of either level: `engineering` (the whole
level-1 category) or `engineering.lifts` (one level-2 category).
"""

from __future__ import annotations

from typing import Any

from domain.base import Ctx, QAggregate, id_for, require_choice, require_text
from domain.categories import DEFAULT, Taxonomy
from domain.errors import InvalidValue, RuleViolation
from domain.vocabulary import DEPARTMENTS

#: The most skills one person may hold (the default taxonomy has 26 codes).
MAX_SKILLS = 50


def staff_id(user_id: str) -> Any:
    """The aggregate id of a user's staff record; a path addresses it by the user id in any
    letter case (`application.base.parse_ref` upper-cases a non-UUID reference)."""
    return id_for("staff", user_id.strip().upper())


def check_skills(skills: Any, taxonomy: Taxonomy, field: str = "skills") -> list[str]:
    """The skills as sorted, distinct taxonomy codes; an unknown code is named by its
    position (`skills[2]`), so the caller sees which one is wrong."""
    if not isinstance(skills, list):
        raise InvalidValue(field, "must be a list of category codes")
    if len(skills) > MAX_SKILLS:
        raise InvalidValue(field, f"at most {MAX_SKILLS} skills")
    known = {row["code"] for row in taxonomy.rows()}
    out: set[str] = set()
    for i, code in enumerate(skills):
        if not isinstance(code, str) or code.strip() not in known:
            raise InvalidValue(
                f"{field}[{i}]",
                f"unknown skill {code!r}: a skill is a category code of the taxonomy, level 1"
                " (e.g. 'engineering') or level 2 (e.g. 'engineering.lifts')",
            )
        out.add(code.strip())
    return sorted(out)


class StaffMember(QAggregate):
    KIND = "staff"
    #: `left` (离职): no longer a dispatch candidate; their record and history stay.
    STATES = {"active": ("set_skills", "move", "leave"), "left": ("rejoin",)}

    class Registered(QAggregate.Created):
        number: str  # the user id
        name: str
        project: str
        department: str
        skills: list[str]

    class SkillsChanged(QAggregate.Event):
        previous: list[str]
        skills: list[str]

        def apply(self, agg: StaffMember) -> None:
            agg.skills = list(self.skills)

    class Moved(QAggregate.Event):
        """调岗: to another project or department (or both)."""

        previous_project: str
        previous_department: str
        project: str
        department: str

        def apply(self, agg: StaffMember) -> None:
            agg.project, agg.department = self.project, self.department

    class Left(QAggregate.Event):
        """离职: leaves the register's candidates; the record stays."""

        def apply(self, agg: StaffMember) -> None:
            agg.status = "left"

    class Rejoined(QAggregate.Event):
        """Back (返聘), at a project and department, with the skills kept."""

        project: str
        department: str

        def apply(self, agg: StaffMember) -> None:
            agg.status = "active"
            agg.project, agg.department = self.project, self.department

    def __init__(
        self, number: str, name: str, project: str, department: str, skills: list[str], **_: Any
    ) -> None:
        self.number = number
        self.name = name
        self.project = project
        self.department = department
        self.skills = list(skills)
        self.status = "active"

    @classmethod
    def register(
        cls,
        ctx: Ctx,
        user_id: str,
        name: str,
        project: str,
        department: str,
        skills: list[str] | None = None,
        taxonomy: Taxonomy = DEFAULT,
    ) -> StaffMember:
        # The same rule as a ticket's `assignee` (domain.tickets.Ticket.dispatch), so
        # every registered id is one dispatch accepts.
        user_id = require_text("id", user_id, 100)
        if any(ch.isspace() for ch in user_id):
            raise InvalidValue("id", "is a user id: no spaces")
        return cls._create(
            cls.Registered,
            id=staff_id(user_id),
            number=user_id,
            name=require_text("name", name, 100),
            project=project,
            department=require_choice("department", department, DEPARTMENTS),
            skills=check_skills(skills or [], taxonomy),
            **cls.meta(ctx),
        )

    def set_skills(self, ctx: Ctx, skills: list[str], taxonomy: Taxonomy = DEFAULT) -> None:
        """Replace the skills (the event keeps the previous list beside the new one)."""
        self.check_step("set_skills")
        new = check_skills(skills, taxonomy)
        if new == self.skills:
            raise RuleViolation(
                self.KIND,
                self.status,
                "set_skills",
                f"{self.number} already has exactly these skills: {', '.join(new) or 'none'}",
                self.allowed_steps(),
            )
        self.record(self.SkillsChanged, ctx, previous=list(self.skills), skills=new)

    def move(self, ctx: Ctx, project: str, department: str, reason: str) -> None:
        """To another project or department; the event keeps where they were."""
        self.check_step("move")
        department = require_choice("department", department, DEPARTMENTS)
        if (project, department) == (self.project, self.department):
            raise RuleViolation(
                self.KIND,
                self.status,
                "move",
                f"{self.number} already works in {department} at {project}",
                self.allowed_steps(),
            )
        self.record(
            self.Moved,
            ctx,
            require_text("reason", reason, 2000),
            previous_project=self.project,
            previous_department=self.department,
            project=project,
            department=department,
        )

    def leave(self, ctx: Ctx, reason: str) -> None:
        self.check_step("leave")
        self.record(self.Left, ctx, require_text("reason", reason, 2000))

    def rejoin(self, ctx: Ctx, project: str, department: str, reason: str) -> None:
        self.check_step("rejoin")
        self.record(
            self.Rejoined,
            ctx,
            require_text("reason", reason, 2000),
            project=project,
            department=require_choice("department", department, DEPARTMENTS),
        )
