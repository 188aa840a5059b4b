"""Who the caller is: the authenticated principal, its role and scope."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal

router = APIRouter(tags=["me"])


class Me(BaseModel):
    id: str
    name: str
    role: str
    projects: list[str] = Field(
        description="projects in scope; none with no region means company-wide"
    )
    regions: list[str] = Field(description="regions in scope")


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    """The caller's identity, role and scope (projects, regions; both empty: company-wide)."""
    return Me(
        id=principal.id,
        name=principal.name,
        role=principal.role,
        projects=list(principal.projects),
        regions=[principal.region] if principal.region else [],
    )
