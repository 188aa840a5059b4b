"""A survey campaign (DOMAIN.md §4): plan, questionnaire and lifecycle (drafted →
submitted → approved | rejected (back to drafted) → open → closed → published). Its
stream stays short: one event per step and one per bulk import, never one per response
(each response is a `SurveyResponse` of its own, see response.py). A low answer or a
complaint raises a nonconformance in the same transaction; the response's `Recorded`
event names it (`links`).
"""

from __future__ import annotations

from typing import Any

from domain.base import Ctx, QAggregate, id_for, keep_topics, require_text
from domain.errors import InvalidValue, RuleViolation
from domain.surveys.plan import PLAN_FIELDS, check_plan, invalid
from domain.surveys.response import LOW_ANSWER, check_respondent_ref, is_complaint, redact
from domain.vocabulary import NUMBER_PREFIXES


class SurveyCampaign(QAggregate):
    KIND = "survey"
    PREFIX = NUMBER_PREFIXES["survey"]
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
            return invalid(prefix, "must map question codes to 1-5 or null")
        codes = self.question_codes
        for key in answers:
            if key not in codes:
                invalid(
                    f"{prefix}.{key}", f"is not a question of this campaign ({', '.join(codes)})"
                )
        out: dict[str, int | None] = {}
        for code in codes:
            value = answers.get(code)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5
            ):
                invalid(f"{prefix}.{code}", "must be an integer from 1 to 5, or null")
            out[code] = value
        if all(v is None for v in out.values()):
            invalid(prefix, "at least one question must be answered")
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
            invalid(
                "project", f"must be one of the campaign's projects ({', '.join(self.projects)})"
            )
        if segment not in self.segments:
            invalid(
                "segment", f"must be one of the campaign's segments ({', '.join(self.segments)})"
            )
        if method not in self.methods:
            invalid("method", f"must be one of the campaign's methods ({', '.join(self.methods)})")
        checked = self.check_answers(answers)
        if comment is not None:
            comment = redact(require_text("comment", comment, 2000))
        if not isinstance(complaint, bool):
            invalid("complaint", "must be true or false")
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


keep_topics(SurveyCampaign, "domain.surveys")
