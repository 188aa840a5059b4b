"""Organisation use cases: regions and projects, registered by admins."""

from __future__ import annotations

from application.base import Call, CommandResult, QualtraceBase
from application.errors import Conflict, UnknownReference
from domain.base import id_for
from domain.org import Project, Region


class OrgCommands(QualtraceBase):
    def register_region(self, call: Call, code: str, name: str) -> CommandResult:
        def build(ctx):  # type: ignore[no-untyped-def]
            if self.exists(Region, id_for("region", code)):  # type: ignore[arg-type]
                raise Conflict("region", "registered", f"region {code} already exists")
            return [Region.register(ctx, code, name)]

        return self.create(call, "region.register", None, build)

    def register_project(
        self, call: Call, code: str, name: str, region: str, households: int | None = None
    ) -> CommandResult:
        def build(ctx):  # type: ignore[no-untyped-def]
            if not self.exists(Region, id_for("region", region)):  # type: ignore[arg-type]
                raise UnknownReference("region", f"unknown region code '{region}'")
            if self.exists(Project, id_for("project", code)):  # type: ignore[arg-type]
                raise Conflict("project", "registered", f"project {code} already exists")
            return [Project.register(ctx, code, name, region, households)]

        return self.create(call, "project.register", None, build)

    def require_project(self, field: str, code: str) -> str:
        """Return the project's region, or raise naming the field with the unknown code."""
        region = self.project_region(code)
        if region is None:
            raise UnknownReference(field, f"unknown project code '{code}'")
        return region
