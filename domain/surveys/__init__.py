"""Survey campaigns: satisfaction (CSI) and loyalty (CLI) (满意度调查), DOMAIN.md §4.

- campaign.py: `SurveyCampaign`, the plan, questionnaire and lifecycle;
- response.py: `SurveyResponse`, one respondent's answers, and the rules of a response;
- plan.py: validation of a campaign's plan and questionnaire;
- results.py: CSI, CLI and their statistics, computed when results are published;
- csv.py: the bulk-import file format.

Both aggregates keep the event topics they had when they lived in `domain/surveys.py`
(`domain.surveys:SurveyCampaign.Drafted`, ...), so stored events and new ones agree.
"""

from domain.surveys.campaign import SurveyCampaign
from domain.surveys.plan import DEFAULT_LOYALTY_MAPPING, SCALE_LABELS
from domain.surveys.response import (
    REDACTED,
    SurveyResponse,
    check_respondent_ref,
    improvement_description,
    is_complaint,
    needs_improvement,
    redact,
    response_id,
)

__all__ = [
    "DEFAULT_LOYALTY_MAPPING",
    "REDACTED",
    "SCALE_LABELS",
    "SurveyCampaign",
    "SurveyResponse",
    "check_respondent_ref",
    "improvement_description",
    "is_complaint",
    "needs_improvement",
    "redact",
    "response_id",
]
