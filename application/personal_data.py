"""Reads of residents' personal data, recorded (DOMAIN.md "Roles").

Every time someone is shown a reporter's name and phone unmasked, one row goes into
`personal_data_reads`: who (principal id, name, role), when (the application clock,
UTC), which issue (id, kind, number, project, region), through what (`via`) and the
request's correlation id. The table is append-only (triggers refuse UPDATE, DELETE and
TRUNCATE), and it is *not* an event on the ticket: reading must not bump the ticket's
version, or every unmasked read would break the next command's `If-Match`.
"""

from __future__ import annotations

from typing import Any

from application.base import Call
from application.errors import Forbidden
from application.security import Principal, can
from application.service import CommandService

READ_LOG_ACTION = "audit.personal_data"


class PersonalDataReads:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    def record_read(
        self,
        principal: Principal,
        issue: Any,
        correlation_id: str | None = None,
        via: str = "ticket",
        fields: tuple[str, ...] = ("reporter.name", "reporter.phone"),
    ) -> None:
        """Record that `principal` was shown `issue`'s personal data unmasked."""
        project = getattr(issue, "project", None)
        self.service.sql(
            "INSERT INTO personal_data_reads (read_at, principal_id, principal_name, principal_role, issue_id,"
            " issue_kind, issue_number, project, region, fields, via, correlation_id)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                self.service.clock(),
                principal.id,
                principal.name,
                principal.role,
                issue.id,
                getattr(issue, "KIND", "") or "issue",
                getattr(issue, "number", None),
                project,
                self.service.project_region(project) if project else None,
                list(fields),
                via,
                correlation_id,
            ),
        )

    def reads(
        self,
        call: Call,
        *,
        issue: str | None = None,
        principal_id: str | None = None,
        project: str | None = None,
        since: Any = None,
        until: Any = None,
        after_id: int | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """The access log, oldest first, within the caller's scope."""
        if not can(call.principal, READ_LOG_ACTION):
            raise Forbidden(call.principal.role, READ_LOG_ACTION)
        clauses = ["TRUE"]
        params: list[Any] = []
        projects, region = call.principal.scope_filter()
        if projects is not None or region is not None:
            clauses.append("(project = ANY(%s) OR region = %s)")
            params += [list(projects or []), region]
        if issue:
            clauses.append("(issue_id::text = %s OR issue_number = %s)")
            params += [issue, issue.strip().upper()]
        for col, value in (("principal_id", principal_id), ("project", project)):
            if value:
                clauses.append(f"{col} = %s")
                params.append(value)
        if since is not None:
            clauses.append("read_at >= %s")
            params.append(since)
        if until is not None:
            clauses.append("read_at < %s")
            params.append(until)
        if after_id is not None:
            clauses.append("id > %s")
            params.append(after_id)
        params.append(limit)
        return self.service.sql(
            "SELECT id, read_at, principal_id, principal_name, principal_role, issue_id, issue_kind,"
            " issue_number, project, region, fields, via, correlation_id FROM personal_data_reads"
            f" WHERE {' AND '.join(clauses)} ORDER BY id LIMIT %s",
            params,
        )
