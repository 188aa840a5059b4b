"""The matrix action each served endpoint enforces (tests walk it; see
tests/e2e/test_permission_matrix.py, which fails for an endpoint missing here)."""

from __future__ import annotations

#: Endpoints anyone may call, without a token.
PUBLIC = {"GET /healthz", "GET /readyz"}

#: Endpoints every signed-in principal may call, whatever its role (no matrix action).
AUTHENTICATED = {"GET /me", "GET /me/notifications", "POST /me/notifications/{ref}/read"}

#: The matrix action each endpoint enforces.
ROUTE_ACTIONS: dict[str, str] = {
    # organisation
    "POST /regions": "region.register",
    "POST /projects": "project.register",
    "GET /regions": "org.read",
    "GET /projects": "org.read",
    # tickets
    "POST /tickets": "ticket.receive",
    "POST /tickets/{ref}/dispatch": "ticket.dispatch",
    "POST /tickets/{ref}/accept": "ticket.accept",
    "POST /tickets/{ref}/transfer": "ticket.transfer",
    "POST /tickets/{ref}/notes": "ticket.note",
    "POST /tickets/{ref}/resolve": "ticket.resolve",
    "POST /tickets/{ref}/callback": "ticket.callback",
    "POST /tickets/{ref}/reopen": "ticket.reopen",
    "POST /tickets/{ref}/close": "ticket.close",
    "POST /tickets/{ref}/cancel": "ticket.cancel",
    "POST /tickets/{ref}/escalate": "ticket.escalate",
    "GET /tickets": "ticket.read",
    "GET /tickets/{ref}": "ticket.read",
    # the field steps (issue #16)
    "POST /tickets/{ref}/arrive": "ticket.arrive",
    "POST /tickets/{ref}/hold": "ticket.hold",
    "POST /tickets/{ref}/resume": "ticket.resume",
    "POST /tickets/{ref}/reclassify": "ticket.reclassify",
    "POST /tickets/{ref}/reject": "ticket.reject",
    # checklist templates and inspections
    "POST /checklist-templates": "template.create",
    "POST /checklist-templates/{ref}/revise": "template.revise",
    "POST /checklist-templates/{ref}/publish": "template.publish",
    "GET /checklist-templates": "template.read",
    "GET /checklist-templates/{ref}": "template.read",
    "POST /inspections": "inspection.schedule",
    "POST /inspections/{ref}/start": "inspection.start",
    "POST /inspections/{ref}/scores": "inspection.score",
    "POST /inspections/{ref}/submit": "inspection.submit",
    "POST /inspections/{ref}/appeal": "inspection.appeal",
    "POST /inspections/{ref}/appeal-decision": "inspection.decide_appeal",
    "POST /inspections/{ref}/finalize": "inspection.finalize",
    "POST /inspections/{ref}/cancel": "inspection.cancel",
    "GET /inspections": "inspection.read",
    "GET /inspections/{ref}": "inspection.read",
    # nonconformances
    "POST /nonconformances": "nonconformance.raise",
    "POST /nonconformances/{ref}/notice": "nonconformance.notice",
    "POST /nonconformances/{ref}/root-cause": "nonconformance.root_cause",
    "POST /nonconformances/{ref}/plan": "nonconformance.plan",
    "POST /nonconformances/{ref}/plan-decision": "nonconformance.plan_decision",
    "POST /nonconformances/{ref}/rectified": "nonconformance.rectify",
    "POST /nonconformances/{ref}/verification": "nonconformance.verify",
    "POST /nonconformances/{ref}/extension": "nonconformance.extension",
    "POST /nonconformances/{ref}/extension-decision": "nonconformance.extension_decision",
    "POST /nonconformances/{ref}/disposition": "nonconformance.disposition",
    "POST /nonconformances/{ref}/cancel": "nonconformance.cancel",
    "GET /nonconformances": "nonconformance.read",
    "GET /nonconformances/{ref}": "nonconformance.read",
    # survey campaigns
    "POST /surveys": "survey.draft",
    "POST /surveys/{ref}/revise": "survey.draft",
    "POST /surveys/{ref}/submit": "survey.submit",
    "POST /surveys/{ref}/decision": "survey.decide",
    "POST /surveys/{ref}/open": "survey.open",
    "POST /surveys/{ref}/close": "survey.close",
    "POST /surveys/{ref}/publish": "survey.publish",
    "POST /surveys/{ref}/responses": "survey.respond",
    "POST /surveys/{ref}/responses/import": "survey.import",
    "POST /surveys/{ref}/responses/{rid}/acknowledge": "survey.acknowledge",
    "POST /surveys/{ref}/responses/{rid}/invalidate": "survey.invalidate",
    "GET /surveys": "survey.read",
    "GET /surveys/{ref}": "survey.read",
    "GET /surveys/{ref}/results": "survey.results",
    "GET /surveys/{ref}/responses": "survey.read",
    "GET /surveys/{ref}/responses/{rid}": "survey.read",
    # audit
    "GET /audit/{ref}": "audit.read",
    "GET /audit/{ref}/as-of": "audit.read",
    "GET /audit/{ref}/trace": "audit.read",
    "GET /audit/{ref}/pack": "audit.read",
    "GET /audit/events": "audit.read",
    "GET /audit/pack": "audit.read",
    "GET /audit/integrity": "audit.verify",
    "GET /audit/personal-data-reads": "audit.personal_data",
    # KPIs
    "GET /kpis/tickets": "kpi.read",
    "GET /kpis/inspections": "kpi.read",
    "GET /kpis/nonconformances": "kpi.read",
    "GET /kpis/surveys": "kpi.read",
    # notify: circulars, webhooks
    "POST /circulars": "circular.raise",
    "GET /circulars": "circular.read",
    "POST /circulars/{ref}/read": "circular.mark_read",
    "POST /webhooks": "webhook.manage",
    "GET /webhooks": "webhook.read",
    "DELETE /webhooks/{ref}": "webhook.manage",
    "GET /webhooks/{ref}/deliveries": "webhook.read",
    # event feed and early warnings (issue #14 items 4-5)
    "GET /events": "events.read",
    "GET /events/stream": "events.read",
    "GET /warnings": "warning.read",
    "GET /warnings/{ref}": "warning.read",
    "POST /warnings/{ref}/acknowledge": "warning.acknowledge",
    "POST /warnings/{ref}/resolve": "warning.resolve",
    "GET /kpis/warnings": "kpi.read",
    # loop (issue #15): inspection plans and assessments
    "POST /inspection-plans": "inspection_plan.create",
    "GET /inspection-plans": "inspection_plan.read",
    "GET /kpis/inspection-plans": "kpi.read",
    "POST /assessments": "assessment.close",
    "GET /assessments": "assessment.read",
    "GET /assessments/{ref}": "assessment.read",
    "POST /assessments/{ref}/review": "assessment.review",
    "POST /assessments/{ref}/approve": "assessment.approve",
    "POST /assessments/{ref}/publish": "assessment.publish",
    "POST /assessments/{ref}/appeal": "assessment.appeal",
    "POST /assessments/{ref}/appeal-decision": "assessment.decide_appeal",
    # printable documents (PDF): the JSON's read action; the monthly report, the KPIs'
    "GET /nonconformances/{ref}/document.pdf": "nonconformance.read",
    "GET /inspections/{ref}/document.pdf": "inspection.read",
    "GET /surveys/{ref}/document.pdf": "survey.results",
    "GET /projects/{code}/reports/{month}/document.pdf": "kpi.read",
    # complaint analysis (issue #16 item 5)
    "GET /categories": "category.read",
    "GET /kpis/complaints/top": "kpi.read",
    "GET /kpis/complaints/repeats": "kpi.read",
    "GET /projects/{code}/complaints/{month}": "kpi.read",
    "GET /assessments/{ref}/document.pdf": "assessment.read",
    "GET /circulars/{ref}/document.pdf": "circular.read",
    # dispatch suggestions (issue #16 item 6)
    "POST /staff": "staff.register",
    "GET /staff": "staff.read",
    "POST /staff/{ref}/skills": "staff.skills",
    "GET /tickets/{ref}/dispatch-suggestions": "ticket.suggest_dispatch",
    # attach (issue #16 item 4): evidence files
    "POST /attachments": "attachment.upload",
    "GET /attachments/{digest}": "attachment.read",
    "GET /attachments/{digest}/thumbnail": "attachment.read",
}
