"""Checklist templates (品质检查考核表 / 品质督导标准), DOMAIN.md §2.

A template is edited as a draft and published as version 1, 2, …; a published version
never changes. Every published version's content stays in the aggregate's state
(`versions`, keyed by the version number as text), so an inspection can pin any of
them and an old score can be reproduced years later. Revising after a publication
starts the next draft from the given content; the published versions stay usable.
"""

from __future__ import annotations

from typing import Any

from domain.base import Ctx, QAggregate, id_for, require_text
from domain.errors import InvalidValue, RuleViolation
from domain.vocabulary import NUMBER_PREFIXES


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue(field, "must be a number")
    return value


def check_sections(sections: Any) -> list[dict[str, Any]]:
    """Validate sections and items; item codes are unique across the whole template."""
    if not isinstance(sections, list) or not sections:
        raise InvalidValue("sections", "must list at least one section")
    out: list[dict[str, Any]] = []
    section_codes: set[str] = set()
    item_codes: set[str] = set()
    for i, section in enumerate(sections):
        where = f"sections.{i}"
        if not isinstance(section, dict):
            raise InvalidValue(where, "must be an object")
        code = require_text(f"{where}.code", section.get("code"), 40)
        if code in section_codes:
            raise InvalidValue(f"{where}.code", f"section code '{code}' is used twice")
        section_codes.add(code)
        name = require_text(f"{where}.name", section.get("name"), 200)
        items = section.get("items")
        if not isinstance(items, list) or not items:
            raise InvalidValue(f"{where}.items", "must list at least one item")
        clean_items = []
        for j, item in enumerate(items):
            iw = f"{where}.items.{j}"
            if not isinstance(item, dict):
                raise InvalidValue(iw, "must be an object")
            icode = require_text(f"{iw}.code", item.get("code"), 40)
            if icode in item_codes:
                raise InvalidValue(
                    f"{iw}.code", f"item code '{icode}' is used twice in the template"
                )
            item_codes.add(icode)
            max_points = _number(f"{iw}.max_points", item.get("max_points"))
            if not 0 < max_points <= 1000:
                raise InvalidValue(f"{iw}.max_points", "must be greater than 0 and at most 1000")
            critical = item.get("critical", False)
            if not isinstance(critical, bool):
                raise InvalidValue(f"{iw}.critical", "must be true or false")
            clean_items.append(
                {
                    "code": icode,
                    "requirement": require_text(f"{iw}.requirement", item.get("requirement"), 2000),
                    "max_points": max_points,
                    "critical": critical,
                }
            )
        out.append({"code": code, "name": name, "items": clean_items})
    return out


class ChecklistTemplate(QAggregate):
    KIND = "checklist_template"
    PREFIX = NUMBER_PREFIXES["checklist_template"]
    STATES = {
        "draft": ("revise", "publish"),
        "published": ("revise",),
    }

    class Drafted(QAggregate.Created):
        number: str
        name: str
        sections: list[dict[str, Any]]

    class Revised(QAggregate.Event):
        name: str
        sections: list[dict[str, Any]]
        based_on_version: int | None

        def apply(self, t: ChecklistTemplate) -> None:
            t.status = "draft"
            t.name = self.name
            t.sections = self.sections
            t.draft_revision += 1

    class Published(QAggregate.Event):
        template_version: int
        name: str
        sections: list[dict[str, Any]]

        def apply(self, t: ChecklistTemplate) -> None:
            t.status = "published"
            t.latest_version = self.template_version
            t.versions[str(self.template_version)] = {
                "template_version": self.template_version,
                "name": self.name,
                "sections": self.sections,
                "published_at": self.timestamp.isoformat(),
                "published_by": dict(self.actor),
            }

    def __init__(self, number: str, name: str, sections: list[dict[str, Any]], **_: Any) -> None:
        self.number = number
        self.name = name
        self.sections = sections
        self.status = "draft"
        self.draft_revision = 1
        self.latest_version: int | None = None
        self.versions: dict[str, dict[str, Any]] = {}

    # -- commands ----------------------------------------------------------------
    @classmethod
    def draft(cls, ctx: Ctx, *, number: str, name: str, sections: Any) -> ChecklistTemplate:
        return cls._create(
            cls.Drafted,
            id=id_for(cls.KIND, number),
            number=number,
            name=require_text("name", name, 200),
            sections=check_sections(sections),
            **cls.meta(ctx),
        )

    def revise(self, ctx: Ctx, name: str | None, sections: Any) -> None:
        """Edit the draft; after a publication this starts the next version's draft."""
        self.check_step("revise")
        if name is None and sections is None:
            raise InvalidValue("sections", "give a new name, new sections, or both")
        new_name = require_text("name", name, 200) if name is not None else self.name
        new_sections = check_sections(sections) if sections is not None else self.sections
        self.record(
            self.Revised,
            ctx,
            name=new_name,
            sections=new_sections,
            based_on_version=self.latest_version,
        )

    def publish(self, ctx: Ctx) -> None:
        self.check_step("publish")
        if self.latest_version is not None:
            last = self.versions[str(self.latest_version)]
            if last["sections"] == self.sections and last["name"] == self.name:
                raise RuleViolation(
                    self.KIND,
                    self.status,
                    "publish",
                    f"the draft is identical to version {self.latest_version}",
                    ["revise"],
                )
        self.record(
            self.Published,
            ctx,
            template_version=(self.latest_version or 0) + 1,
            name=self.name,
            sections=self.sections,
        )

    # -- queries -----------------------------------------------------------------
    def version_content(self, version: int | None) -> dict[str, Any]:
        """A published version's content (the latest when `version` is None)."""
        if version is None:
            if self.latest_version is None:
                raise InvalidValue(
                    "template_version", f"template {self.number} has no published version"
                )
            version = self.latest_version
        content = self.versions.get(str(version))
        if content is None:
            published = ", ".join(sorted(self.versions, key=int)) or "none"
            raise InvalidValue(
                "template_version",
                f"template {self.number} has no published version {version} (published: {published})",
            )
        return content
