"""Survey campaign use cases (DOMAIN.md §4): plan, approve, open, close, publish.

Consistency without a big aggregate: a response is its own aggregate
(`application.survey_responses`); the campaign's stream holds one event per step and
one per import. Every command that appends to a campaign holds an exclusive PostgreSQL
advisory lock on it from loading it to committing (`CampaignAccess.lock`). A command on
a response takes the same lock *shared* inside its append transaction and checks that
the campaign has not moved since it was loaded (`CampaignAccess.unchanged_hook`; else
the service retries). So a response can never be recorded after the campaign closed,
nor invalidated after publication, and the published results are computed from exactly
the responses committed before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from application.base import Call, CommandResult, parse_ref
from application.errors import Conflict, Forbidden, NotFound, UnknownReference
from application.security import can
from application.service import CommandService, Hook
from application.survey_reads import SurveyReads
from domain.base import Ctx, QAggregate
from domain.surveys import SCALE_LABELS, SurveyCampaign
from domain.surveys.results import parameters

Step = Callable[[SurveyCampaign, Ctx], Sequence[QAggregate] | CommandResult | None]


class CampaignAccess:
    """Who may touch a campaign, its lock, and the commit hooks that keep its indexes."""

    def __init__(self, service: CommandService) -> None:
        self.service = service
        self.schema = service.store.datastore.schema

    # -- authorisation over a campaign's projects ----------------------------------------
    def authorize_all(
        self, call: Call, action: str, projects: Sequence[str], missing: bool = False
    ) -> None:
        """The principal may do `action` and sees every project (else 403; 404 if it sees none)."""
        p = call.principal
        region = self.service.project_region
        visible = [code for code in projects if p.sees(code, region(code))]
        if missing and not visible:  # before the role: out of scope is as good as missing
            raise NotFound("survey", "")
        if not can(p, action):
            raise Forbidden(p.role, action)
        for code in projects:
            if code not in visible:
                raise Forbidden(
                    p.role, f"{action} a campaign that includes project {code}, outside its scope"
                )

    def authorize_read(self, call: Call, action: str, campaign: SurveyCampaign) -> None:
        p = call.principal
        if not any(p.sees(code, self.service.project_region(code)) for code in campaign.projects):
            raise NotFound("survey", "")
        if not can(p, action):
            raise Forbidden(p.role, action)

    def check_projects(self, call: Call, action: str, projects: Any) -> None:
        """403 if the role may not do `action`; then every code must name a project the
        caller sees: one outside its scope answers like an unknown one (no oracle)."""
        if not isinstance(projects, list):
            return
        if not can(call.principal, action):
            raise Forbidden(call.principal.role, action)
        for i, code in enumerate(projects):
            if isinstance(code, str):
                region = self.service.project_region(code)
                if region is None or not call.principal.sees(code, region):
                    raise UnknownReference(f"projects.{i}", f"unknown project code '{code}'")

    # -- the campaign's lock -------------------------------------------------------------
    @staticmethod
    def lock_key(campaign_id: UUID) -> str:
        return f"survey:{campaign_id}"

    @contextmanager
    def lock(self, campaign_id: UUID) -> Iterator[None]:
        """Exclusive advisory lock on a campaign for the whole load → commit of a command."""
        key = self.lock_key(campaign_id)
        with self.service.store.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    # -- commit hooks --------------------------------------------------------------------
    def unchanged_hook(self, campaign: SurveyCampaign) -> Hook:
        """In a response's transaction: share the campaign's lock, then check its version
        (the database raises `qt_campaign_moved`, a lost race the service retries)."""
        guard = Identifier(self.schema, "qt_survey_guard")
        args = (campaign.id, campaign.version, self.lock_key(campaign.id))

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(SQL("SELECT {}(%s, %s, %s)").format(guard), args)
            cur.fetchall()

        return hook

    def scope_hook(self, campaign: SurveyCampaign) -> Hook:
        """Index the campaign's scope (party and projects), to find the previous results."""
        table = Identifier(self.schema, "survey_campaign_scopes")
        row = (campaign.id, campaign.scope_key)

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(
                SQL(
                    "INSERT INTO {} (campaign_id, scope) VALUES (%s, %s)"
                    " ON CONFLICT (campaign_id) DO UPDATE SET scope = EXCLUDED.scope"
                ).format(table),
                row,
            )

        return hook

    def responses_hook(self, campaign_id: UUID, response_ids: list[UUID]) -> Hook:
        """Index the responses recorded as the campaign's (`survey_response_ids`)."""
        table = Identifier(self.schema, "survey_response_ids")

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            if response_ids:
                cur.execute(
                    SQL(
                        "INSERT INTO {} (campaign_id, response_id) SELECT %s, unnest(%s::uuid[])"
                    ).format(table),
                    (campaign_id, response_ids),
                )

        return hook

    # -- a command on the campaign -------------------------------------------------------
    def execute(
        self,
        call: Call,
        action: str,
        ref: str,
        step: Step,
        extra: Callable[[SurveyCampaign], dict[str, Any]] | None = None,
        hooks: Callable[[SurveyCampaign], list[Hook]] | None = None,
        stored: Callable[[SurveyCampaign], Sequence[StoredEvent]] | None = None,
    ) -> CommandResult:
        """The service's execute under the campaign's exclusive lock (so a lost race cannot
        happen but to a writer outside Qualtrace: no retry), with the scope hook."""
        cid = parse_ref("survey", ref)

        def load() -> SurveyCampaign:
            campaign = self.service.load(SurveyCampaign, cid)
            self.authorize_all(call, action, campaign.projects, missing=True)
            return campaign

        return self.service.execute(
            call,
            action,
            SurveyCampaign,
            cid,
            step,
            load=load,
            lock=lambda: self.lock(cid),
            hooks=lambda s: [self.scope_hook(s), *(hooks(s) if hooks else [])],
            extra=extra,
            stored=stored,
            retries=1,
            gave_up=lambda s: Conflict(
                "survey", s.status, "the campaign was changed concurrently; retry"
            ),
        )


class SurveyCampaigns:
    def __init__(self, service: CommandService, access: CampaignAccess, reads: SurveyReads) -> None:
        self.service = service
        self.access = access
        self.reads = reads

    def draft(self, call: Call, **fields: Any) -> CommandResult:
        projects = fields.get("projects")

        def build(ctx: Ctx) -> list[QAggregate]:
            self.access.check_projects(call, "survey.draft", projects)
            codes = (
                [p for p in projects if isinstance(p, str)] if isinstance(projects, list) else []
            )
            self.access.authorize_all(call, "survey.draft", codes)
            number = self.service.next_number("survey")
            return [SurveyCampaign.draft(ctx, number=number, **fields)]

        return self.service.create(
            call,
            None,
            None,
            build,
            hooks=lambda aggs: [self.access.scope_hook(aggs[0])],  # type: ignore[arg-type]
        )

    def revise(self, call: Call, ref: str, **fields: Any) -> CommandResult:
        self.access.check_projects(call, "survey.draft", fields.get("projects"))

        def step(s: SurveyCampaign, ctx: Ctx) -> None:
            if isinstance(fields.get("projects"), list):
                self.access.authorize_all(call, "survey.draft", fields["projects"])
            s.revise(ctx, **fields)

        return self.access.execute(call, "survey.draft", ref, step)

    def submit(self, call: Call, ref: str) -> CommandResult:
        return self.access.execute(call, "survey.submit", ref, lambda s, c: s.submit(c))

    def decide(self, call: Call, ref: str, approved: bool, reason: str | None) -> CommandResult:
        return self.access.execute(
            call, "survey.decide", ref, lambda s, c: s.decide(c, approved, reason)
        )

    def open(self, call: Call, ref: str) -> CommandResult:
        return self.access.execute(call, "survey.open", ref, lambda s, c: s.open(c))

    def close(self, call: Call, ref: str) -> CommandResult:
        return self.access.execute(call, "survey.close", ref, lambda s, c: s.close(c))

    def publish(self, call: Call, ref: str) -> CommandResult:
        """Compute the results from the recorded responses and record them with the
        formulas' parameters in the `Published` event (under the campaign's lock)."""
        published: dict[str, Any] = {}

        def step(s: SurveyCampaign, ctx: Ctx) -> None:
            s.check_step("publish")
            results = self.reads.compute_results(s)
            params = parameters(s.questions, s.loyalty_mapping, SCALE_LABELS)
            s.publish(ctx, results, params)
            published.update(results=results, parameters=params)

        return self.access.execute(
            call, "survey.publish", ref, step, extra=lambda s: dict(published)
        )

    # -- reading --------------------------------------------------------------------------
    def get(self, call: Call, ref: str, version: int | None = None) -> SurveyCampaign:
        campaign = self.service.load(SurveyCampaign, ref, version)
        self.access.authorize_read(call, "survey.read", campaign)
        return campaign

    def results(self, call: Call, ref: str) -> dict[str, Any]:
        """The published results; before publication, a provisional computation."""
        campaign = self.service.load(SurveyCampaign, ref)
        self.access.authorize_read(call, "survey.results", campaign)
        base = {"id": str(campaign.id), "number": campaign.number, "status": campaign.status}
        if campaign.status == "published" and campaign.results is not None:
            return {
                **base,
                "provisional": False,
                "published_at": campaign.published_at,
                "results": campaign.results,
                "parameters": campaign.parameters,
            }
        return {
            **base,
            "provisional": True,
            "results": self.reads.compute_results(campaign),
            "parameters": parameters(campaign.questions, campaign.loyalty_mapping, SCALE_LABELS),
        }
