"""Regions and projects."""

from __future__ import annotations

from datetime import datetime

from api.read_models.common import Open, Page


class Region(Open):
    code: str
    name: str
    id: str
    registered_at: datetime


class RegionPage(Page):
    items: list[Region]


class Project(Open):
    code: str
    name: str
    region: str
    households: int | None
    id: str
    registered_at: datetime


class ProjectPage(Page):
    items: list[Project]
