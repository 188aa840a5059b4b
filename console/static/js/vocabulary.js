// The API's enumerations the console offers in forms and filters (API.md, DOMAIN.md).

export const TICKET_STATUSES = ["received", "dispatched", "in_progress", "resolved", "called_back", "reopened", "closed", "cancelled", "on_hold", "rejected"];
export const TICKET_KINDS = ["complaint", "repair", "inquiry", "suggestion", "praise"];
export const CHANNELS = ["phone", "walk_in", "letter", "app", "email", "web", "staff_relay"];
export const PRIORITIES = ["urgent", "high", "normal", "low"];
export const DEPARTMENTS = ["customer_service", "engineering", "security", "cleaning", "landscaping", "administration", "quality"];
export const SEVERITIES = ["minor", "major", "critical"];
export const INSPECTION_KINDS = ["self_check", "cross_check", "regional_monthly", "company_quarterly", "night_check", "mystery_visit", "internal_audit", "third_party_audit"];
export const INSPECTION_STATUSES = ["scheduled", "in_progress", "submitted", "appealed", "appeal_decided", "finalized", "cancelled"];
export const NC_STATUSES = ["raised", "noticed", "analysed", "planned", "plan_approved", "rectified", "closed", "cancelled"];
export const NC_SOURCES = ["inspection", "audit", "ticket", "survey", "self_report"];
export const SURVEY_STATUSES = ["drafted", "submitted", "approved", "open", "closed", "published"];
export const PARTIES = ["first_party", "third_party"];
export const RESULTS = ["pass", "fail", "na"];
