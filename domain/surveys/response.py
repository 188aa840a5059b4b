"""One respondent's answers to a campaign (DOMAIN.md §4): the `SurveyResponse` aggregate
and the rules of a response (pseudonymous reference, redaction, complaints, low answers).

A response has a deterministic id (`response_id(campaign_id, respondent_ref)`), so a
respondent can answer a campaign only once, by construction. It is acknowledged and
invalidated by events of its own; never deleted. Respondents are pseudonymous:
`respondent_ref` may not look like a phone number or an e-mail address, and phone
numbers and e-mail addresses in comments are redacted before anything is recorded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.base import Ctx, QAggregate, id_for, keep_topics, require_text
from domain.surveys.plan import invalid

if TYPE_CHECKING:
    from domain.surveys.campaign import SurveyCampaign

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
        return invalid(field, "is required")
    ref = value.strip()
    if not _REF.match(ref):
        return invalid(
            field, "must be a pseudonymous reference of 1-64 letters, digits or _.:#/- (no names)"
        )
    if _DIGIT_RUN.search(ref):
        return invalid(
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


keep_topics(SurveyResponse, "domain.surveys")
_RESPONSE_TOPIC = get_topic(SurveyResponse)
