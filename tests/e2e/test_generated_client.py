"""The OpenAPI document as a client vendor uses it: `openapi-python-client` generates a
client from the live `/openapi.json` (every operation, no warnings, a shared `Problem`),
and that client, unedited, walks a ticket's whole life and an inspection through submit,
reading back typed objects."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from api.openapi import OPERATION_IDS

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
#: Models per operation, at most: request and answer bodies and their parts. A copy of the
#: error model per operation and status (the failure this guards against) adds several.
MAX_MODELS_PER_OPERATION = 2


@pytest.fixture
def generated(api: Any, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """The generated package, imported, and the generator's output."""
    spec = tmp_path / "openapi.json"
    spec.write_text(api.client.get("/openapi.json").text, encoding="utf-8")
    config = tmp_path / "config.yaml"
    # The documented configuration, without the formatting hooks (they need ruff on PATH).
    config.write_text(
        (ROOT / "docs" / "openapi-python-client.yaml").read_text() + "post_hooks: []\n"
    )
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--config", str(config)]
        + ["--output-path", str(tmp_path / "client")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        yield importlib.import_module("qualtrace_client"), run.stdout + run.stderr
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m.split(".")[0] == "qualtrace_client"]:
            del sys.modules[name]


def test_operation_ids_and_schema_names_are_unique_and_readable(api: Any) -> None:
    from api.openapi import OPERATION_IDS

    spec = api.client.get("/openapi.json").json()
    ids = {
        (method.upper(), path): op["operationId"]
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    # Every operation has its entry in the table (none falls back to a function name).
    assert ids == {key: OPERATION_IDS[key] for key in ids}
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids.values()), ids
    names = list(spec["components"]["schemas"])
    assert not [n for n in names if "__" in n or "." in n or not re.fullmatch(r"[A-Za-z0-9]+", n)]
    assert {"Problem", "CommandAnswer", "SurveyPlan", "NonconformancePlan"} <= set(names)
    assert spec["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    # Every error answer refers to the one Problem schema.
    problem = {"$ref": "#/components/schemas/Problem"}
    for ops in spec["paths"].values():
        for op in ops.values():
            for status, response in op["responses"].items():
                if status >= "400":
                    assert response["content"] == {"application/problem+json": {"schema": problem}}
    csv = spec["paths"]["/surveys/{ref}/responses/import"]["post"]["requestBody"]
    assert csv["content"] == {"text/csv": {"schema": {"type": "string", "format": "binary"}}}


def _snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def test_every_operation_is_generated_without_warnings(api: Any, generated: Any) -> None:
    package, output = generated
    assert "Warning" not in output and "Error" not in output, output
    root = Path(package.__file__).parent
    spec = api.client.get("/openapi.json").json()
    operations = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    modules = {p.stem for p in (root / "api").rglob("*.py") if p.stem != "__init__"}
    # Every operation of the document (each named in api.openapi.OPERATION_IDS) has its module.
    assert len(modules) == len(operations) == len(OPERATION_IDS)
    assert {_snake(o) for o in operations} == modules
    models = [p for p in (root / "models").glob("*.py") if p.stem != "__init__"]
    assert len(models) < MAX_MODELS_PER_OPERATION * len(operations), (len(models), len(operations))
    # One Problem model for every error answer, not a copy per operation and status.
    assert {p.stem for p in models if "problem" in p.stem} == {"problem", "problem_error"}


def _client(package: Any, api: Any, role: str, **who: Any) -> Any:
    """A generated client whose requests go to the app in this process, as `role`."""
    from fastapi.testclient import TestClient

    client = package.AuthenticatedClient(base_url="http://testserver", token="unused")
    client.set_httpx_client(
        TestClient(api.client.app, headers=api.token(role, **who), raise_server_exceptions=True)
    )
    return client


def test_the_generated_client_runs_a_ticket_and_an_inspection(api: Any, generated: Any) -> None:
    qc, _ = generated
    from qualtrace_client.api.checklist_templates import (
        draft_template,
        get_template,
        publish_template,
    )
    from qualtrace_client.api.inspections import (
        get_inspection,
        list_inspections,
        schedule_inspection,
        score_inspection_item,
        start_inspection,
        submit_inspection,
    )
    from qualtrace_client.api.kpis import get_ticket_kpis
    from qualtrace_client.api.tickets import (
        accept_ticket,
        callback_ticket,
        close_ticket,
        dispatch_ticket,
        get_ticket,
        list_tickets,
        note_ticket,
        receive_ticket,
        resolve_ticket,
    )
    from qualtrace_client.models import (
        Callback,
        CommandAnswer,
        Dispatch,
        DispatchDepartment,
        DraftTemplate,
        InspectionPage,
        InspectionView,
        KpiAnswer,
        Note,
        Problem,
        ReceiveTicket,
        ReceiveTicketChannel,
        ReceiveTicketKind,
        ReceiveTicketPriority,
        Reporter,
        Resolve,
        ScheduleInspection,
        ScheduleInspectionKind,
        Score,
        ScoreResult,
        Section,
        TemplateItem,
        TemplateView,
        TicketPage,
        TicketView,
    )

    api.setup_org()
    desk = _client(qc, api, "front_desk", user="li.na", name="Li Na")
    sup = _client(qc, api, "supervisor")
    staff = _client(qc, api, "staff", user="wang.wei", name="Wang Wei", projects=("P1",))
    admin = _client(qc, api, "admin")
    insp = _client(qc, api, "inspector", user="insp.zhou", name="Zhou")
    reporting = _client(qc, api, "reporting")

    # A ticket's whole life: receive, dispatch, accept, note, resolve, callback, close.
    received = receive_ticket.sync(
        client=desk,
        body=ReceiveTicket(
            project="P1",
            kind=ReceiveTicketKind.REPAIR,
            channel=ReceiveTicketChannel.PHONE,
            priority=ReceiveTicketPriority.HIGH,
            category="plumbing",
            description="kitchen pipe leaking",
            reporter=Reporter(name="Zhang San", unit="3-1201", phone="13812345678"),
        ),
    )
    assert isinstance(received, CommandAnswer) and received.status == "received"
    ref = received.number
    # A refused step answers the shared Problem, typed.
    refused = accept_ticket.sync(ref, client=staff)
    assert isinstance(refused, Problem) and refused.status == 409
    assert "dispatch" in refused.allowed_steps
    steps = [
        dispatch_ticket.sync(
            ref,
            client=sup,
            body=Dispatch(department=DispatchDepartment.ENGINEERING, assignee="wang.wei"),
        ),
        accept_ticket.sync(ref, client=staff),
        note_ticket.sync(ref, client=desk, body=Note(text="called the resident")),
        resolve_ticket.sync(ref, client=staff, body=Resolve(resolution="joint replaced")),
        callback_ticket.sync(
            ref, client=desk, body=Callback(reached=True, satisfied=True, rating=5)
        ),
        close_ticket.sync(ref, client=desk),
    ]
    assert all(isinstance(s, CommandAnswer) for s in steps), steps
    assert [s.status for s in steps][-1] == "closed"
    last = steps[-1]
    ticket = get_ticket.sync(ref, client=desk, min_position=last.position)
    assert isinstance(ticket, TicketView)
    assert ticket.status == "closed" and ticket.version == last.version
    assert ticket.reporter.name == "Zhang San" and ticket.department == "engineering"
    assert ticket.closed_at is not None and ticket.closed_at.tzinfo is not None
    assert [n.text for n in ticket.notes] == ["called the resident"]
    page = list_tickets.sync(client=sup, project="P1", min_position=last.position)
    assert isinstance(page, TicketPage) and page.next_cursor is None
    assert [(row.number, row.status) for row in page.items] == [(ref, "closed")]
    kpis = get_ticket_kpis.sync(client=reporting, group_by="project", min_position=last.position)
    assert isinstance(kpis, KpiAnswer)
    row = next(r for r in kpis.rows if r["project"] == "P1")
    assert row["received"] == 1 and row["closed"] == 1

    # An inspection through submit against a published checklist.
    tpl = draft_template.sync(
        client=admin,
        body=DraftTemplate(
            name="Monthly quality check",
            sections=[
                Section(
                    code="CS",
                    name="Customer service",
                    items=[
                        TemplateItem(code="CS1", requirement="Greets residents", max_points=10),
                        TemplateItem(code="CS2", requirement="Answers the phone", max_points=10),
                    ],
                )
            ],
        ),
    )
    assert isinstance(tpl, CommandAnswer)
    published = publish_template.sync(tpl.id, client=admin)
    assert isinstance(published, CommandAnswer)
    assert published.additional_properties["template_version"] == 1
    template = get_template.sync(tpl.id, client=insp)
    assert isinstance(template, TemplateView) and template.latest_version == 1
    scheduled = schedule_inspection.sync(
        client=insp,
        body=ScheduleInspection(
            project="P1",
            kind=ScheduleInspectionKind.REGIONAL_MONTHLY,
            template_id=tpl.id,
            planned_for=date(2026, 3, 16),
            inspectors=["insp.zhou"],
        ),
    )
    assert isinstance(scheduled, CommandAnswer) and scheduled.status == "scheduled"
    ins = scheduled.number
    assert isinstance(start_inspection.sync(ins, client=insp), CommandAnswer)
    for item, points, result in (("CS1", 10, ScoreResult.PASS), ("CS2", 0, ScoreResult.FAIL)):
        scored = score_inspection_item.sync(
            ins,
            client=insp,
            body=Score(item=item, points=points, result=result, finding="phone unanswered"),
        )
        assert isinstance(scored, CommandAnswer), scored
    submitted = submit_inspection.sync(ins, client=insp)
    assert isinstance(submitted, CommandAnswer) and submitted.status == "submitted"
    inspection = get_inspection.sync(ins, client=insp, min_position=submitted.position)
    assert isinstance(inspection, InspectionView)
    assert inspection.status == "submitted" and inspection.score == 50
    assert [(i.code, i.result, i.points) for i in inspection.items] == [
        ("CS1", "pass", 10),
        ("CS2", "fail", 0),
    ]
    assert [r.item for r in inspection.raised_nonconformances] == ["CS2"]
    assert str(inspection.planned_for) == "2026-03-16"
    listed = list_inspections.sync(client=insp, project="P1", min_position=submitted.position)
    assert isinstance(listed, InspectionPage)
    assert [(r.number, r.grade) for r in listed.items] == [(ins, inspection.grade)]
