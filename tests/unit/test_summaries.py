"""Every event class in `domain/` has its own one-line summary: the classes are found by
walking the domain package, so an event added without a phrase fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import domain
from api.summaries import PHRASES, summarize
from domain.base import QAggregate
from projections.audit import KINDS

BASES = {"Event", "Created"}


def event_classes() -> list[tuple[type[QAggregate], type[QAggregate.Event]]]:
    found = []
    for info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(info.name)
        for agg in vars(module).values():
            if not (inspect.isclass(agg) and issubclass(agg, QAggregate) and agg is not QAggregate):
                continue
            if agg.__module__ != module.__name__:
                continue
            for name, ev in vars(agg).items():
                if inspect.isclass(ev) and issubclass(ev, QAggregate.Event) and name not in BASES:
                    found.append((agg, ev))
    return found


def sample(ev: type[Any]) -> dict[str, Any]:
    """Plausible data for an event: a value of the right shape for every field."""
    data: dict[str, Any] = {}
    for klass in reversed(ev.__mro__):
        for field, hint in getattr(klass, "__annotations__", {}).items():
            text = str(hint)
            if "bool" in text:
                data[field] = True
            elif text.startswith(("int", "float")):
                data[field] = 3
            elif text.startswith("dict") or "dict[" in text and not text.startswith("list"):
                data[field] = {
                    "id": "00000000-0000-0000-0000-000000000001",
                    "number": "X-1",
                    "csi": 80.0,
                }
            elif text.startswith("list"):
                data[field] = [
                    {"id": "00000000-0000-0000-0000-000000000002", "number": "X-2", "item": "CS-01"}
                ]
            else:
                data[field] = f"<{field}>"
    for meta in (
        "actor",
        "correlation_id",
        "causation_id",
        "reason",
        "timestamp",
        "originator_id",
        "originator_version",
        "originator_topic",
        "originator_id_type",
    ):
        data.pop(meta, None)
    return data


EVENTS = event_classes()


def test_the_walk_finds_the_events_of_every_aggregate_kind() -> None:
    aggregates = {agg.__name__ for agg, _ in EVENTS}
    assert {
        "Ticket",
        "Inspection",
        "Nonconformance",
        "SurveyCampaign",
        "SurveyResponse",
        "ChecklistTemplate",
        "Region",
        "Project",
    } <= aggregates
    assert len(EVENTS) >= 50
    # Every aggregate has its issue kind in the audit trail.
    assert aggregates <= set(KINDS)


@pytest.mark.parametrize("agg,ev", EVENTS, ids=[f"{a.__name__}.{e.__name__}" for a, e in EVENTS])
def test_every_event_class_has_its_own_one_line_summary(agg: type[Any], ev: type[Any]) -> None:
    kind, etype = KINDS[agg.__name__], ev.__name__
    assert (kind, etype) in PHRASES, (
        f"add a phrase for {agg.__name__}.{etype} to api/summaries.PHRASES"
    )
    line = summarize(kind, etype, sample(ev), "Li Na", "a reason", 2)
    assert line and "\n" not in line and "Li Na" in line, line
    # It is the event's own phrase, not the generic fallback.
    # (with the count of evidence files when the event names some: the sample names one)
    attached = " · 1 file attached" if "attachments" in sample(ev) else ""
    own = " ".join(PHRASES[(kind, etype)](sample(ev), "Li Na", ": a reason").split())
    assert line == own + attached
    # Without data (an older event shape) it still answers a line.
    assert summarize(kind, etype, {}, "Li Na", None, 2)


def test_no_phrase_is_left_for_an_event_that_no_longer_exists() -> None:
    known = {(KINDS[agg.__name__], ev.__name__) for agg, ev in EVENTS}
    assert set(PHRASES) <= known, set(PHRASES) - known


def test_personal_data_never_enters_a_summary() -> None:
    data = {
        "number": "TK-2026-000001",
        "kind": "complaint",
        "channel": "phone",
        "priority": "high",
        "category": "保洁",
        "project": "P1",
        "reporter": {"name": "张三", "phone": "13812345678"},
    }
    line = summarize("ticket", "Received", data, "Li Na", None, 1)
    assert "13812345678" not in line and "张三" not in line
    response = {
        "campaign_number": "SV-2026-0001",
        "respondent_ref": "13812345678",
        "project": "P1",
        "segment": "owner",
        "method": "web",
    }
    assert "13812345678" not in summarize("survey_response", "Recorded", response, "Li Na", None, 1)
    assert "13812345678" not in summarize("survey_response", "Unknown", response, "Li Na", None, 1)


def test_a_summary_says_how_many_evidence_files_the_event_names() -> None:
    data = {"resolution": "已更换水管", "attachments": ["a" * 64, "b" * 64]}
    two = summarize("ticket", "Resolved", data, "Wang Wei", None, 5)
    assert two.endswith(" · 2 files attached"), two
    one = summarize("ticket", "Resolved", {**data, "attachments": ["a" * 64]}, "Wang Wei", None, 5)
    assert one.endswith(" · 1 file attached"), one
    none = summarize("ticket", "Resolved", {**data, "attachments": []}, "Wang Wei", None, 5)
    assert "attached" not in none and none == one.removesuffix(" · 1 file attached")
    # An event without a phrase of its own gets the same suffix on the generic line.
    generic = summarize("ticket", "SomethingNew", {"attachments": ["c" * 64]}, "Li Na", None, 9)
    assert generic.endswith(" · 1 file attached"), generic
