"""Security views for auditors: who was shown residents' personal data unmasked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import QualtraceApp, QueryCall
from api.listing import decode_cursor, encode_cursor, jsonable

router = APIRouter(prefix="/audit", tags=["audit"])


class PersonalDataRead(BaseModel):
    id: int
    read_at: str
    principal_id: str
    principal_name: str
    principal_role: str
    issue_id: str
    issue_kind: str
    issue_number: str | None
    project: str | None
    region: str | None
    fields: list[str]
    via: str
    correlation_id: str | None


class PersonalDataReads(BaseModel):
    items: list[PersonalDataRead]
    next_cursor: str | None = None


@router.get("/personal-data-reads", response_model=PersonalDataReads)
def personal_data_reads(
    call: QueryCall,
    app: QualtraceApp,
    issue: Annotated[str | None, Query(max_length=100, description="issue UUID or number")] = None,
    principal: Annotated[str | None, Query(max_length=200, description="principal id")] = None,
    project: Annotated[str | None, Query(max_length=40)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Any:
    """Every unmasked read of personal data (who, when, which issue, correlation id), oldest first."""
    after = int(decode_cursor(cursor)[1]) if cursor else None
    rows = app.personal_data.reads(
        call,
        issue=issue,
        principal_id=principal,
        project=project,
        since=from_,
        until=to,
        after_id=after,
        limit=limit + 1,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(["id", rows[-1]["id"]])
    return {"items": [jsonable(r) for r in rows], "next_cursor": next_cursor}
