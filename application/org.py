"""Organisation use cases: regions and projects, registered by admins."""

from __future__ import annotations

from application.base import Call, CommandResult
from application.errors import Conflict, UnknownReference
from application.service import CommandService
from domain.base import Ctx, QAggregate, id_for
from domain.org import Project, Region


class OrgService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def register_region(self, call: Call, code: str, name: str) -> CommandResult:
        def build(ctx: Ctx) -> list[QAggregate]:
            if self.service.exists(Region, str(id_for("region", code))):
                raise Conflict("region", "registered", f"region {code} already exists")
            return [Region.register(ctx, code, name)]

        return self.service.create(call, "region.register", None, build)

    def register_project(
        self, call: Call, code: str, name: str, region: str, households: int | None = None
    ) -> CommandResult:
        def build(ctx: Ctx) -> list[QAggregate]:
            if not self.service.exists(Region, str(id_for("region", region))):
                raise UnknownReference("region", f"unknown region code '{region}'")
            if self.service.exists(Project, str(id_for("project", code))):
                raise Conflict("project", "registered", f"project {code} already exists")
            return [Project.register(ctx, code, name, region, households)]

        return self.service.create(call, "project.register", None, build)
