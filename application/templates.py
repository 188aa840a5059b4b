"""Checklist template use cases (DOMAIN.md §2): draft, revise, publish versions."""

from __future__ import annotations

from typing import Any

from application.base import Call, CommandResult
from application.service import CommandService
from domain.base import Ctx, QAggregate
from domain.templates import ChecklistTemplate


class TemplateService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def draft(self, call: Call, name: str, sections: Any) -> CommandResult:
        def build(ctx: Ctx) -> list[QAggregate]:
            number = self.service.next_number("checklist_template")
            return [ChecklistTemplate.draft(ctx, number=number, name=name, sections=sections)]

        return self.service.create(call, "template.create", None, build)

    def revise(self, call: Call, ref: str, name: str | None, sections: Any) -> CommandResult:
        return self.service.execute(
            call,
            "template.revise",
            ChecklistTemplate,
            ref,
            lambda t, c: t.revise(c, name, sections),
        )

    def publish(self, call: Call, ref: str) -> CommandResult:
        return self.service.execute(
            call,
            "template.publish",
            ChecklistTemplate,
            ref,
            lambda t, c: t.publish(c),
            extra=lambda t: {"template_version": t.latest_version},
        )

    def get(self, call: Call, ref: str, version: int | None = None) -> ChecklistTemplate:
        self.service.authorize(call, "template.read", None)
        return self.service.load(ChecklistTemplate, ref, version)
