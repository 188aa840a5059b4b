"""Survey campaigns: satisfaction (CSI) and loyalty (CLI) (满意度调查), DOMAIN.md §4.

Two aggregates:
- `SurveyCampaign`: the plan, questionnaire and lifecycle (drafted → submitted →
  approved | rejected (back to drafted) → open → closed → published). Its stream stays
  short: one event per step and one per bulk import, never one per response.
- `SurveyResponse`: one respondent's answers, its own small aggregate with a
  deterministic id (`response_id(campaign_id, respondent_ref)`), so a respondent can
  answer a campaign only once, by construction. Acknowledged and invalidated by events
  of its own; never deleted. A low answer or a complaint raises a nonconformance in
  the same transaction; the response's `Recorded` event names it (`links`).

Respondents are pseudonymous: `respondent_ref` may not look like a phone number or an
e-mail address, and phone numbers and e-mail addresses in comments are redacted
before anything is recorded.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.base import Ctx, QAggregate, id_for, require_choice, require_text
from domain.errors import InvalidValue, RuleViolation

PARTIES = ("first_party", "third_party")
METHODS = ("web", "face_to_face", "email", "phone")
LOYALTY_LEVELS = ("loyal", "favourable", "vulnerable", "at_risk", "not_assessable")
#: Seed 001's table: very satisfied → loyal … very dissatisfied → not assessable.
DEFAULT_LOYALTY_MAPPING: dict[str, str] = {
    "5": "loyal",
    "4": "favourable",
    "3": "vulnerable",
    "2": "at_risk",
    "1": "not_assessable",
}
SCALE_LABELS = {
    "5": "very satisfied",
    "4": "satisfied",
    "3": "acceptable",
    "2": "dissatisfied",
    "1": "very dissatisfied",
}
#: An answer at or below this raises an improvement action (a nonconformance).
LOW_ANSWER = 2
#: A comment containing one of these (case-insensitive) counts as a complaint.
COMPLAINT_KEYWORDS = (
    "投诉",
    "不满",
    "太差",
    "很差",
    "差劲",
    "糟糕",
    "complaint",
    "complain",
    "unacceptable",
    "terrible",
)
#: Columns of the import CSV besides one per question code; question codes may not use them.
RESERVED_COLUMNS = ("respondent_ref", "project", "segment", "method", "comment", "complaint")

_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
_REF = re.compile(r"^[A-Za-z0-9_.:#/\-]{1,64}$")
_DIGIT_RUN = re.compile(r"\d{7,}")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?\d[\d \-]{5,}\d)(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-]+@[\w\-]+\.[\w.\-]+")
REDACTED = "[redacted]"


def response_id(campaign_id: UUID | str, respondent_ref: str) -> UUID:
    """The one id a respondent's answer to a campaign can have (dedup by construction)."""
    return id_for("survey_response", f"{campaign_id}:{respondent_ref}")


def check_respondent_ref(field: str, value: Any) -> str:
    """A pseudonymous reference: no names, phone numbers or e-mail addresses."""
    if not isinstance(value, str) or not value.strip():
        return _bad(field, "is required")
    ref = value.strip()
    if not _REF.match(ref):
        return _bad(
            field, "must be a pseudonymous reference of 1-64 letters, digits or _.:#/- (no names)"
        )
    if _DIGIT_RUN.search(ref):
        return _bad(
            field,
            "looks like a phone number (7 or more digits in a row); use a pseudonymous reference",
        )
    return ref


def redact(text: str) -> str:
    """Remove phone numbers and e-mail addresses from a respondent's free text."""
    text = _EMAIL_IN_TEXT.sub(REDACTED, text)

    def phone(m: re.Match[str]) -> str:
        return REDACTED if sum(ch.isdigit() for ch in m.group(0)) >= 7 else m.group(0)

    return _PHONE_IN_TEXT.sub(phone, text)


def is_complaint(comment: str | None, flagged: bool) -> bool:
    if flagged:
        return True
    if not comment:
        return False
    low = comment.lower()
    return any(k in low for k in COMPLAINT_KEYWORDS)


def _bad(field: str, message: str) -> Any:
    raise InvalidValue(field, message)


def _code(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _CODE.match(value.strip()):
        return _bad(field, "must be a code of 1-40 letters, digits or _.-")
    return value.strip()


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return _bad(field, "must be a number")
    return float(value)


def _date(field: str, value: Any) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return _bad(field, "must be a date (YYYY-MM-DD)")


def check_plan(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a campaign plan; return it normalised. Project codes are checked by the caller."""
    out: dict[str, Any] = {
        "title": require_text("title", fields.get("title"), 200),
        "objectives": require_text("objectives", fields.get("objectives"), 4000),
        "party": require_choice("party", fields.get("party"), PARTIES),
    }
    agency = fields.get("agency")
    if out["party"] == "third_party":
        out["agency"] = require_text("agency", agency, 200)
    elif agency is not None:
        _bad("agency", "is given only for a third_party survey")
    else:
        out["agency"] = None
    out["methods"] = _unique_list(
        "methods", fields.get("methods"), lambda f, v: require_choice(f, v, METHODS)
    )
    out["segments"] = _unique_list("segments", fields.get("segments"), _code)
    out["projects"] = _unique_list("projects", fields.get("projects"), _code)
    period = fields.get("period")
    if not isinstance(period, dict):
        _bad("period", "is required: {start, end}")
    assert isinstance(period, dict)
    start = _date("period.start", period.get("start"))
    end = _date("period.end", period.get("end"))
    if end < start:
        _bad("period.end", "is before period.start")
    out["period"] = {"start": start, "end": end}
    target = fields.get("target_sample")
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        _bad("target_sample", "must be a positive integer")
    out["target_sample"] = target
    target_csi = _number("target_csi", fields.get("target_csi"))
    if not 0 <= target_csi <= 100:
        _bad("target_csi", "must be from 0 to 100")
    out["target_csi"] = target_csi
    out["questions"] = check_questions(fields.get("questions"))
    out["loyalty_mapping"] = check_loyalty_mapping(fields.get("loyalty_mapping"))
    return out


def _unique_list(field: str, value: Any, check: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        return _bad(field, "must be a non-empty list")
    out: list[Any] = []
    for i, item in enumerate(value):
        item = check(f"{field}.{i}", item)
        if item in out:
            _bad(f"{field}.{i}", f"'{item}' is listed twice")
        out.append(item)
    return out


def check_questions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        return _bad("questions", "must be a non-empty list")
    out: list[dict[str, Any]] = []
    codes: set[str] = set()
    for i, q in enumerate(value):
        p = f"questions.{i}"
        if not isinstance(q, dict):
            _bad(p, "must be an object")
        code = _code(f"{p}.code", q.get("code"))
        if code in codes:
            _bad(f"{p}.code", f"'{code}' is used twice")
        if code.lower() in RESERVED_COLUMNS:
            _bad(f"{p}.code", f"'{code}' is reserved for an import column")
        codes.add(code)
        weight = _number(f"{p}.weight", q.get("weight"))
        if weight <= 0:
            _bad(f"{p}.weight", "must be greater than 0")
        overall = q.get("overall", False)
        if not isinstance(overall, bool):
            _bad(f"{p}.overall", "must be true or false")
        out.append(
            {
                "code": code,
                "text": require_text(f"{p}.text", q.get("text"), 1000),
                "dimension": _code(f"{p}.dimension", q.get("dimension")),
                "weight": weight,
                "overall": overall,
            }
        )
    overall_count = sum(1 for q in out if q["overall"])
    if overall_count != 1:
        _bad(
            "questions",
            f"exactly one question must be the overall question (found {overall_count})",
        )
    return out


def check_loyalty_mapping(value: Any) -> dict[str, str]:
    if value is None:
        return dict(DEFAULT_LOYALTY_MAPPING)
    if not isinstance(value, dict):
        return _bad("loyalty_mapping", "must map each answer 1-5 to a loyalty level")
    out: dict[str, str] = {}
    for k in ("1", "2", "3", "4", "5"):
        level = value.get(k, value.get(int(k)))  # type: ignore[call-overload]
        out[k] = require_choice(f"loyalty_mapping.{k}", level, LOYALTY_LEVELS)
    extra = [str(k) for k in value if str(k) not in out]
    if extra:
        _bad(f"loyalty_mapping.{extra[0]}", "is not an answer on the 1-5 scale")
    return out


class SurveyCampaign(QAggregate):
    KIND = "survey"
    PREFIX = "SV"
    STATES = {
        "drafted": ("revise", "submit"),
        "submitted": ("decide",),
        "approved": ("open",),
        "open": ("respond", "import", "acknowledge", "invalidate", "close"),
        "closed": ("acknowledge", "invalidate", "publish"),
        "published": ("acknowledge",),
    }

    # -- events ------------------------------------------------------------------
    class Drafted(QAggregate.Created):
        number: str
        title: str
        objectives: str
        party: str
        agency: str | None
        methods: list[str]
        segments: list[str]
        projects: list[str]
        period: dict[str, str]
        target_sample: int
        target_csi: float
        questions: list[dict[str, Any]]
        loyalty_mapping: dict[str, str]

    class Revised(QAggregate.Event):
        changes: dict[str, Any]

        def apply(self, s: SurveyCampaign) -> None:
            for key, value in self.changes.items():
                setattr(s, key, value)

    class Submitted(QAggregate.Event):
        def apply(self, s: SurveyCampaign) -> None:
            s.status = "submitted"
            s.submitted_by = dict(self.actor)

    class Approved(QAggregate.Event):
        def apply(self, s: SurveyCampaign) -> None:
            s.status = "approved"
            s.approved_by = dict(self.actor)

    class Rejected(QAggregate.Event):
        def apply(self, s: SurveyCampaign) -> None:
            s.status = "drafted"
            s.submitted_by = None
            s.rejections.append(
                {"reason": self.reason, "by": self.actor["name"], "at": self.timestamp.isoformat()}
            )

    class Opened(QAggregate.Event):
        def apply(self, s: SurveyCampaign) -> None:
            s.status = "open"
            s.opened_at = self.timestamp

    class ResponsesImported(QAggregate.Event):
        sha256: str
        rows: int
        recorded: int
        duplicates: int
        nonconformances: int

        def apply(self, s: SurveyCampaign) -> None:
            s.imports.append(
                {
                    "sha256": self.sha256,
                    "rows": self.rows,
                    "recorded": self.recorded,
                    "duplicates": self.duplicates,
                    "nonconformances": self.nonconformances,
                    "at": self.timestamp.isoformat(),
                    "by": self.actor["name"],
                }
            )

    class Closed(QAggregate.Event):
        def apply(self, s: SurveyCampaign) -> None:
            s.status = "closed"
            s.closed_at = self.timestamp

    class Published(QAggregate.Event):
        results: dict[str, Any]
        parameters: dict[str, Any]

        def apply(self, s: SurveyCampaign) -> None:
            s.status = "published"
            s.published_at = self.timestamp
            s.results = dict(self.results)
            s.parameters = dict(self.parameters)

    # -- state -------------------------------------------------------------------
    def __init__(
        self,
        number: str,
        title: str,
        objectives: str,
        party: str,
        agency: str | None,
        methods: list[str],
        segments: list[str],
        projects: list[str],
        period: dict[str, str],
        target_sample: int,
        target_csi: float,
        questions: list[dict[str, Any]],
        loyalty_mapping: dict[str, str],
        timestamp: Any,
        actor: dict[str, str],
        **_: Any,
    ) -> None:
        self.number = number
        self.title = title
        self.objectives = objectives
        self.party = party
        self.agency = agency
        self.methods = list(methods)
        self.segments = list(segments)
        self.projects = list(projects)
        self.period = dict(period)
        self.target_sample = target_sample
        self.target_csi = target_csi
        self.questions = [dict(q) for q in questions]
        self.loyalty_mapping = dict(loyalty_mapping)
        self.status = "drafted"
        self.drafted_at = timestamp
        self.drafted_by = dict(actor)
        self.submitted_by: dict[str, str] | None = None
        self.approved_by: dict[str, str] | None = None
        self.rejections: list[dict[str, Any]] = []
        self.opened_at: Any = None
        self.closed_at: Any = None
        self.published_at: Any = None
        self.imports: list[dict[str, Any]] = []
        self.results: dict[str, Any] | None = None
        self.parameters: dict[str, Any] | None = None

    # -- commands ----------------------------------------------------------------
    @classmethod
    def draft(cls, ctx: Ctx, *, number: str, **fields: Any) -> SurveyCampaign:
        plan = check_plan(fields)
        return cls._create(
            cls.Drafted, id=id_for("survey", number), number=number, **plan, **cls.meta(ctx)
        )

    def revise(self, ctx: Ctx, **fields: Any) -> None:
        """Change the plan while drafted (e.g. after a rejection); only the given fields change."""
        self.check_step("revise")
        current = {k: getattr(self, k) for k in PLAN_FIELDS}
        merged = {**current, **{k: v for k, v in fields.items() if k in PLAN_FIELDS}}
        plan = check_plan(merged)
        changes = {k: v for k, v in plan.items() if v != current[k]}
        if not changes:
            raise RuleViolation(
                self.KIND, self.status, "revise", "nothing to change", self.allowed_steps()
            )
        self.record(self.Revised, ctx, changes=changes)

    def submit(self, ctx: Ctx) -> None:
        self.check_step("submit")
        self.record(self.Submitted, ctx)

    def decide(self, ctx: Ctx, approved: bool, reason: str | None) -> None:
        """Approve, or reject with a reason (back to drafted).

        DOMAIN.md names no four-eyes rule, so the submitter may decide too; the history
        shows who submitted and who decided."""
        self.check_step("decide")
        if not isinstance(approved, bool):
            raise InvalidValue("approved", "must be true or false")
        if approved:
            self.record(
                self.Approved, ctx, require_text("reason", reason, 2000) if reason else None
            )
        else:
            self.record(self.Rejected, ctx, require_text("reason", reason, 2000))

    def open(self, ctx: Ctx) -> None:
        self.check_step("open")
        self.record(self.Opened, ctx)

    def close(self, ctx: Ctx) -> None:
        self.check_step("close")
        self.record(self.Closed, ctx)

    def publish(self, ctx: Ctx, results: dict[str, Any], parameters: dict[str, Any]) -> None:
        self.check_step("publish")
        if not results.get("n"):
            raise RuleViolation(
                self.KIND,
                self.status,
                "publish",
                "there is no valid, answered response to publish",
                self.allowed_steps(),
            )
        self.record(self.Published, ctx, results=results, parameters=parameters)

    def record_import(
        self, ctx: Ctx, sha256: str, rows: int, recorded: int, duplicates: int, ncs: int
    ) -> None:
        self.check_step("import")
        if self.imported(sha256):
            raise RuleViolation(
                self.KIND,
                self.status,
                "import",
                "this file was already imported",
                self.allowed_steps(),
            )
        self.record(
            self.ResponsesImported,
            ctx,
            sha256=sha256,
            rows=rows,
            recorded=recorded,
            duplicates=duplicates,
            nonconformances=ncs,
        )

    def imported(self, sha256: str) -> dict[str, Any] | None:
        for imp in self.imports:
            if imp["sha256"] == sha256:
                return imp
        return None

    # -- the questionnaire --------------------------------------------------------
    @property
    def question_codes(self) -> list[str]:
        return [q["code"] for q in self.questions]

    @property
    def scope_key(self) -> str:
        """Campaigns of the same scope (party and set of projects) are compared with each other."""
        return f"{self.party}|{','.join(sorted(self.projects))}"

    def check_answers(self, answers: Any, prefix: str = "answers") -> dict[str, int | None]:
        """Every question answered 1-5 or null (a missing code counts as null); no unknown codes."""
        if not isinstance(answers, dict):
            return _bad(prefix, "must map question codes to 1-5 or null")
        codes = self.question_codes
        for key in answers:
            if key not in codes:
                _bad(f"{prefix}.{key}", f"is not a question of this campaign ({', '.join(codes)})")
        out: dict[str, int | None] = {}
        for code in codes:
            value = answers.get(code)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5
            ):
                _bad(f"{prefix}.{code}", "must be an integer from 1 to 5, or null")
            out[code] = value
        if all(v is None for v in out.values()):
            _bad(prefix, "at least one question must be answered")
        return out

    def check_response(
        self,
        *,
        respondent_ref: Any,
        project: Any,
        segment: Any,
        method: Any,
        answers: Any,
        comment: Any = None,
        complaint: Any = False,
    ) -> dict[str, Any]:
        """Validate one response against the campaign; return the fields to record."""
        ref = check_respondent_ref("respondent_ref", respondent_ref)
        if project not in self.projects:
            _bad("project", f"must be one of the campaign's projects ({', '.join(self.projects)})")
        if segment not in self.segments:
            _bad("segment", f"must be one of the campaign's segments ({', '.join(self.segments)})")
        if method not in self.methods:
            _bad("method", f"must be one of the campaign's methods ({', '.join(self.methods)})")
        checked = self.check_answers(answers)
        if comment is not None:
            comment = redact(require_text("comment", comment, 2000))
        if not isinstance(complaint, bool):
            _bad("complaint", "must be true or false")
        return {
            "respondent_ref": ref,
            "project": project,
            "segment": segment,
            "method": method,
            "answers": checked,
            "comment": comment,
            "complaint": is_complaint(comment, complaint),
        }

    def low_answers(self, answers: dict[str, int | None]) -> dict[str, int]:
        return {k: v for k, v in answers.items() if v is not None and v <= LOW_ANSWER}


PLAN_FIELDS = (
    "title",
    "objectives",
    "party",
    "agency",
    "methods",
    "segments",
    "projects",
    "period",
    "target_sample",
    "target_csi",
    "questions",
    "loyalty_mapping",
)


def needs_improvement(low: dict[str, int], complaint: bool) -> bool:
    return bool(low) or complaint


def improvement_description(
    campaign: SurveyCampaign, checked: dict[str, Any], low: dict[str, int]
) -> str:
    parts = [
        f"Survey {campaign.number} response {checked['respondent_ref']} ({checked['project']})"
    ]
    if low:
        parts.append("low answers " + ", ".join(f"{k}={v}" for k, v in low.items()))
    if checked["complaint"]:
        parts.append("complaint" + (f": {checked['comment']}" if checked["comment"] else ""))
    return "; ".join(parts)[:4000]


class SurveyResponse(QAggregate):
    """One respondent's answers to one campaign (pseudonymous)."""

    KIND = "survey_response"
    STATES = {
        "recorded": ("acknowledge", "invalidate"),
        "acknowledged": ("invalidate",),
        "invalidated": (),
    }

    class Recorded(QAggregate.Created):
        campaign_id: UUID
        campaign_number: str
        respondent_ref: str
        project: str
        segment: str
        method: str
        answers: dict[str, int | None]
        comment: str | None
        complaint: bool
        source: dict[str, Any]
        nonconformance: dict[str, str] | None
        links: list[dict[str, str]]

    class Acknowledged(QAggregate.Event):
        def apply(self, r: SurveyResponse) -> None:
            r.status = "acknowledged"
            r.acknowledged_at = self.timestamp

    class Invalidated(QAggregate.Event):
        def apply(self, r: SurveyResponse) -> None:
            r.status = "invalidated"
            r.valid = False
            r.invalidated_at = self.timestamp
            r.invalidation_reason = self.reason

    def __init__(
        self,
        campaign_id: UUID,
        campaign_number: str,
        respondent_ref: str,
        project: str,
        segment: str,
        method: str,
        answers: dict[str, int | None],
        comment: str | None,
        complaint: bool,
        source: dict[str, Any],
        nonconformance: dict[str, str] | None,
        links: list[dict[str, str]],
        timestamp: Any,
        **_: Any,
    ) -> None:
        self.campaign_id = campaign_id
        self.campaign_number = campaign_number
        self.number = f"{campaign_number}/{respondent_ref}"
        self.respondent_ref = respondent_ref
        self.project = project
        self.segment = segment
        self.method = method
        self.answers = dict(answers)
        self.comment = comment
        self.complaint = complaint
        self.source = dict(source)
        self.nonconformance = dict(nonconformance) if nonconformance else None
        self.links = list(links)
        self.status = "recorded"
        self.valid = True
        self.recorded_at = timestamp
        self.acknowledged_at: Any = None
        self.invalidated_at: Any = None
        self.invalidation_reason: str | None = None

    @classmethod
    def record_new(
        cls,
        ctx: Ctx,
        campaign: SurveyCampaign,
        checked: dict[str, Any],
        source: dict[str, Any],
        nonconformance: dict[str, str] | None = None,
    ) -> SurveyResponse:
        """`checked` comes from `campaign.check_response`."""
        links = []
        if nonconformance:
            links.append({"rel": "raised", "kind": "nonconformance", **nonconformance})
        return cls._create(
            cls.Recorded,
            id=response_id(campaign.id, checked["respondent_ref"]),
            campaign_id=campaign.id,
            campaign_number=campaign.number,
            source=source,
            nonconformance=nonconformance,
            links=links,
            **checked,
            **cls.meta(ctx),
        )

    @classmethod
    def recorded_event(
        cls,
        ctx: Ctx,
        campaign: SurveyCampaign,
        checked: dict[str, Any],
        source: dict[str, Any],
        nonconformance: dict[str, str] | None = None,
        rid: UUID | None = None,
    ) -> SurveyResponse.Recorded:
        """The same `Recorded` event as `record_new`, without building the aggregate
        (a bulk import records tens of thousands at once). `rid` saves recomputing the id."""
        links = (
            [{"rel": "raised", "kind": "nonconformance", **nonconformance}]
            if nonconformance
            else []
        )
        return cls.Recorded(  # type: ignore[call-arg]
            originator_id=rid or response_id(campaign.id, checked["respondent_ref"]),
            originator_version=1,
            originator_topic=_RESPONSE_TOPIC,
            campaign_id=campaign.id,
            campaign_number=campaign.number,
            source=source,
            nonconformance=nonconformance,
            links=links,
            **checked,
            **cls.meta(ctx),
        )

    def acknowledge(self, ctx: Ctx) -> None:
        self.check_step("acknowledge")
        self.record(self.Acknowledged, ctx)

    def invalidate(self, ctx: Ctx, reason: str) -> None:
        self.check_step("invalidate")
        self.record(self.Invalidated, ctx, require_text("reason", reason, 2000))

    def as_input(self) -> dict[str, Any]:
        """What the results module needs of a response."""
        return {
            "id": str(self.id),
            "project": self.project,
            "segment": self.segment,
            "method": self.method,
            "answers": self.answers,
            "valid": self.valid,
        }


_RESPONSE_TOPIC = get_topic(SurveyResponse)
