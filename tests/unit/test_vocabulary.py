"""domain/vocabulary.py is the one list of DOMAIN.md's words: the aggregates and the API's
request schemas use exactly its values, in its order."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.app import ROUTERS
from domain import vocabulary as v
from domain.circulars import Circular
from domain.inspections import Inspection
from domain.nonconformances import Nonconformance
from domain.surveys import SurveyCampaign
from domain.templates import ChecklistTemplate
from domain.tickets import Ticket
from domain.warnings import EarlyWarning


def _enums() -> dict[str, list[Any]]:
    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    spec = app.openapi()
    out: dict[str, list[Any]] = {}
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            for option in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
                if "enum" in option:
                    out[f"{name}.{field}"] = option["enum"]
    return out


def test_each_issue_numbers_with_the_vocabulary_prefix() -> None:
    for aggregate in (
        Ticket,
        Inspection,
        Nonconformance,
        SurveyCampaign,
        ChecklistTemplate,
        Circular,  # notify
        EarlyWarning,
    ):
        assert aggregate.PREFIX == v.NUMBER_PREFIXES[aggregate.KIND]
    assert sorted(v.NUMBER_PREFIXES.values()) == [
        "AS",
        "CT",
        "INS",
        "IP",
        "NC",
        "SV",
        "TB",
        "TK",
        "YJ",
    ]


def test_nonconformance_statuses_are_the_states_of_its_lifecycle() -> None:
    assert tuple(Nonconformance.STATES) == v.NONCONFORMANCE_STATUSES


def test_request_schemas_offer_the_vocabulary_in_its_order() -> None:
    enums = _enums()
    assert enums["ReceiveTicket.kind"] == list(v.TICKET_KINDS)
    assert enums["ReceiveTicket.channel"] == list(v.CHANNELS)
    assert enums["ReceiveTicket.priority"] == list(v.PRIORITIES)
    assert enums["Dispatch.department"] == list(v.DEPARTMENTS)
    assert enums["Transfer.department"] == list(v.DEPARTMENTS)
    # Every department, severity, disposition, ... anywhere in a request body is one of ours.
    known = {
        *v.DEPARTMENTS,
        *v.SEVERITIES,
        *v.TICKET_KINDS,
        *v.CHANNELS,
        *v.PRIORITIES,
        *v.INSPECTION_KINDS,
        *v.ITEM_RESULTS,
        *v.NONCONFORMANCE_SOURCES,
        *v.DISPOSITIONS,
        *v.NONCONFORMANCE_STATUSES,
        *v.SURVEY_PARTIES,
        *v.SURVEY_METHODS,
        *v.LOYALTY_LEVELS,
        *v.RECURRENCE_TYPES,
        *v.RESPONSIBLE_ROLES,
    }
    for where, values in enums.items():
        assert set(values) <= known, where
