"""The OpenAPI document as clients generate from it: readable operation ids, one `Problem`
schema behind every error answer, the bearer scheme applied to every operation."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.errors import PROBLEM_REF, Problem

#: `operationId` of every operation, by method and path: the names generated clients call.
#: Stable: renaming one breaks every client generated before, so add, never rename.
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "getHealth",
    ("GET", "/readyz"): "getReadiness",
    ("GET", "/me"): "getMe",
    # organisation
    ("POST", "/regions"): "registerRegion",
    ("GET", "/regions"): "listRegions",
    ("POST", "/projects"): "registerProject",
    ("GET", "/projects"): "listProjects",
    # tickets
    ("POST", "/tickets"): "receiveTicket",
    ("GET", "/tickets"): "listTickets",
    ("GET", "/tickets/{ref}"): "getTicket",
    ("POST", "/tickets/{ref}/dispatch"): "dispatchTicket",
    ("POST", "/tickets/{ref}/accept"): "acceptTicket",
    ("POST", "/tickets/{ref}/transfer"): "transferTicket",
    ("POST", "/tickets/{ref}/notes"): "noteTicket",
    ("POST", "/tickets/{ref}/resolve"): "resolveTicket",
    ("POST", "/tickets/{ref}/callback"): "callbackTicket",
    ("POST", "/tickets/{ref}/reopen"): "reopenTicket",
    ("POST", "/tickets/{ref}/close"): "closeTicket",
    ("POST", "/tickets/{ref}/cancel"): "cancelTicket",
    ("POST", "/tickets/{ref}/escalate"): "escalateTicket",
    # the field steps (issue #16)
    ("POST", "/tickets/{ref}/arrive"): "arriveTicket",
    ("POST", "/tickets/{ref}/hold"): "holdTicket",
    ("POST", "/tickets/{ref}/resume"): "resumeTicket",
    ("POST", "/tickets/{ref}/reclassify"): "reclassifyTicket",
    ("POST", "/tickets/{ref}/reject"): "rejectTicket",
    # audit
    ("GET", "/audit/personal-data-reads"): "listPersonalDataReads",
    ("GET", "/audit/events"): "listAuditEvents",
    ("GET", "/audit/integrity"): "verifyIntegrity",
    ("GET", "/audit/pack"): "getPeriodAuditPack",
    ("GET", "/audit/{ref}"): "getIssueHistory",
    ("GET", "/audit/{ref}/as-of"): "getIssueAsOf",
    ("GET", "/audit/{ref}/trace"): "getIssueTrace",
    ("GET", "/audit/{ref}/pack"): "getIssueAuditPack",
    # KPIs
    ("GET", "/kpis/tickets"): "getTicketKpis",
    ("GET", "/kpis/inspections"): "getInspectionKpis",
    ("GET", "/kpis/nonconformances"): "getNonconformanceKpis",
    ("GET", "/kpis/surveys"): "getSurveyKpis",
    # nonconformances
    ("POST", "/nonconformances"): "raiseNonconformance",
    ("GET", "/nonconformances"): "listNonconformances",
    ("GET", "/nonconformances/{ref}"): "getNonconformance",
    ("POST", "/nonconformances/{ref}/notice"): "noticeNonconformance",
    ("POST", "/nonconformances/{ref}/root-cause"): "analyseNonconformance",
    ("POST", "/nonconformances/{ref}/plan"): "planNonconformance",
    ("POST", "/nonconformances/{ref}/plan-decision"): "decideNonconformancePlan",
    ("POST", "/nonconformances/{ref}/rectified"): "rectifyNonconformance",
    ("POST", "/nonconformances/{ref}/verification"): "verifyNonconformance",
    ("POST", "/nonconformances/{ref}/extension"): "requestNonconformanceExtension",
    ("POST", "/nonconformances/{ref}/extension-decision"): "decideNonconformanceExtension",
    ("POST", "/nonconformances/{ref}/disposition"): "disposeNonconformance",
    ("POST", "/nonconformances/{ref}/cancel"): "cancelNonconformance",
    # checklist templates
    ("POST", "/checklist-templates"): "draftTemplate",
    ("GET", "/checklist-templates"): "listTemplates",
    ("GET", "/checklist-templates/{ref}"): "getTemplate",
    ("POST", "/checklist-templates/{ref}/revise"): "reviseTemplate",
    ("POST", "/checklist-templates/{ref}/publish"): "publishTemplate",
    # inspections
    ("POST", "/inspections"): "scheduleInspection",
    ("GET", "/inspections"): "listInspections",
    ("GET", "/inspections/{ref}"): "getInspection",
    ("POST", "/inspections/{ref}/start"): "startInspection",
    ("POST", "/inspections/{ref}/scores"): "scoreInspectionItem",
    ("POST", "/inspections/{ref}/submit"): "submitInspection",
    ("POST", "/inspections/{ref}/appeal"): "appealInspection",
    ("POST", "/inspections/{ref}/appeal-decision"): "decideInspectionAppeal",
    ("POST", "/inspections/{ref}/finalize"): "finalizeInspection",
    ("POST", "/inspections/{ref}/cancel"): "cancelInspection",
    # surveys
    ("POST", "/surveys"): "draftSurvey",
    ("GET", "/surveys"): "listSurveys",
    ("GET", "/surveys/{ref}"): "getSurvey",
    ("GET", "/surveys/{ref}/results"): "getSurveyResults",
    ("POST", "/surveys/{ref}/revise"): "reviseSurvey",
    ("POST", "/surveys/{ref}/submit"): "submitSurvey",
    ("POST", "/surveys/{ref}/decision"): "decideSurvey",
    ("POST", "/surveys/{ref}/open"): "openSurvey",
    ("POST", "/surveys/{ref}/close"): "closeSurvey",
    ("POST", "/surveys/{ref}/publish"): "publishSurvey",
    ("POST", "/surveys/{ref}/responses"): "recordSurveyResponse",
    ("GET", "/surveys/{ref}/responses"): "listSurveyResponses",
    ("GET", "/surveys/{ref}/responses/{rid}"): "getSurveyResponse",
    ("POST", "/surveys/{ref}/responses/import"): "importSurveyResponses",
    ("POST", "/surveys/{ref}/responses/{rid}/acknowledge"): "acknowledgeSurveyResponse",
    ("POST", "/surveys/{ref}/responses/{rid}/invalidate"): "invalidateSurveyResponse",
    # notify: notifications, circulars, webhooks
    ("GET", "/me/notifications"): "listMyNotifications",
    ("POST", "/me/notifications/{ref}/read"): "readMyNotification",
    ("POST", "/circulars"): "raiseCircular",
    ("GET", "/circulars"): "listCirculars",
    ("POST", "/circulars/{ref}/read"): "readCircular",
    ("POST", "/webhooks"): "registerWebhook",
    ("GET", "/webhooks"): "listWebhooks",
    ("DELETE", "/webhooks/{ref}"): "deleteWebhook",
    ("GET", "/webhooks/{ref}/deliveries"): "listWebhookDeliveries",
    # event feed and early warnings (issue #14 items 4-5)
    ("GET", "/events"): "listEvents",
    ("GET", "/events/stream"): "streamEvents",
    ("GET", "/warnings"): "listWarnings",
    ("GET", "/warnings/{ref}"): "getWarning",
    ("POST", "/warnings/{ref}/acknowledge"): "acknowledgeWarning",
    ("POST", "/warnings/{ref}/resolve"): "resolveWarning",
    ("GET", "/kpis/warnings"): "getWarningKpis",
    # loop (issue #15): inspection plans and assessments
    ("POST", "/inspection-plans"): "createInspectionPlan",
    ("POST", "/inspection-plans/{ref}/withdraw"): "withdrawInspectionPlan",
    ("GET", "/inspection-plans"): "listInspectionPlans",
    ("GET", "/kpis/inspection-plans"): "getInspectionPlanKpis",
    ("POST", "/assessments"): "closeAssessment",
    ("GET", "/assessments"): "listAssessments",
    ("GET", "/assessments/{ref}"): "getAssessment",
    ("POST", "/assessments/{ref}/review"): "reviewAssessment",
    ("POST", "/assessments/{ref}/approve"): "approveAssessment",
    ("POST", "/assessments/{ref}/publish"): "publishAssessment",
    ("POST", "/assessments/{ref}/appeal"): "appealAssessment",
    ("POST", "/assessments/{ref}/appeal-decision"): "decideAssessmentAppeal",
    # printable documents (PDF)
    ("GET", "/nonconformances/{ref}/document.pdf"): "getNonconformanceDocument",
    ("GET", "/inspections/{ref}/document.pdf"): "getInspectionDocument",
    ("GET", "/surveys/{ref}/document.pdf"): "getSurveyDocument",
    ("GET", "/projects/{code}/reports/{month}/document.pdf"): "getMonthlyReportDocument",
    ("GET", "/assessments/{ref}/document.pdf"): "getAssessmentDocument",
    ("GET", "/circulars/{ref}/document.pdf"): "getCircularDocument",
    # complaint analysis (issue #16 item 5)
    ("GET", "/categories"): "listCategories",
    ("GET", "/kpis/complaints/top"): "getTopComplaintCategories",
    ("GET", "/kpis/complaints/repeats"): "listRepeatComplaints",
    ("GET", "/projects/{code}/complaints/{month}"): "getMonthlyComplaintAnalysis",
    # dispatch suggestions (issue #16 item 6): staff, skills, suggestions
    ("POST", "/staff"): "registerStaff",
    ("GET", "/staff"): "listStaff",
    ("POST", "/staff/{ref}/skills"): "setStaffSkills",
    ("POST", "/staff/{ref}/move"): "moveStaff",
    ("POST", "/staff/{ref}/leave"): "staffLeaves",
    ("POST", "/staff/{ref}/rejoin"): "staffRejoins",
    ("GET", "/tickets/{ref}/dispatch-suggestions"): "getDispatchSuggestions",
    # attach (issue #16 item 4): evidence files
    ("POST", "/attachments"): "uploadAttachment",
    ("GET", "/attachments/{digest}"): "getAttachment",
    ("GET", "/attachments/{digest}/thumbnail"): "getAttachmentThumbnail",
}

#: Operations anyone may call, without a token.
PUBLIC = {"/healthz", "/readyz"}

BEARER = {"bearer": {"type": "http", "scheme": "bearer"}}


def _camel(name: str) -> str:
    first, *rest = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    return first.lower() + "".join(p[:1].upper() + p[1:] for p in rest)


def operation_id(route: APIRoute) -> str:
    """The route's `OPERATION_IDS` entry; a route missing from the table (one outside the
    document, say) falls back to its function name in camelCase."""
    for method in sorted(route.methods or ()):
        found = OPERATION_IDS.get((method, route.path_format))
        if found is not None:
            return found
    return _camel(route.name)


def _bare_ref(media: dict[str, Any]) -> None:
    """A response documented with `responses=ok(Model)` on a route without a response
    model: FastAPI merges the `$ref` into the schema of the route's return annotation;
    keep the `$ref` alone, as generators expect."""
    schema = media.get("schema")
    if isinstance(schema, dict) and "$ref" in schema:
        media["schema"] = {"$ref": schema["$ref"]}


def _optional_body(body: dict[str, Any] | None) -> None:
    """An optional body (`body: Empty | None = None`) is documented as the model, not
    required, rather than `anyOf [model, null]`: a client then sends nothing or the model
    (openapi-python-client 0.29 would send its `UNSET` marker for the union)."""
    if not body or body.get("required"):
        return
    for media in body.get("content", {}).values():
        options = media.get("schema", {}).get("anyOf", [])
        refs = [o for o in options if "$ref" in o]
        if len(options) == 2 and len(refs) == 1 and {"type": "null"} in options:
            media["schema"] = refs[0]


def install(app: FastAPI) -> None:
    """Serve the document with the `Problem` schema and the bearer scheme filled in."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = build()
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas[PROBLEM_REF.rsplit("/", 1)[1]] = problem
        components["securitySchemes"] = BEARER
        doc["security"] = [{name: []} for name in BEARER]
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                _optional_body(operation.get("requestBody"))
                for response in operation.get("responses", {}).values():
                    for media in response.get("content", {}).values():
                        _bare_ref(media)
        for path in PUBLIC & set(doc.get("paths", {})):
            for operation in doc["paths"][path].values():
                operation["security"] = []
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
