"""Survey response use cases (DOMAIN.md §4): record one, acknowledge, invalidate, import a file.

A response is its own aggregate; which responses belong to a campaign is kept in the
write-side index `survey_response_ids`, written by a commit hook in the same transaction
as the responses' events. Each command on a response commits with the campaign's
`unchanged_hook` (see `application.survey_campaigns`): a campaign that moved meanwhile
is a lost race, and the service's one retry loop runs the command again.

Bulk import: the whole file is one commit (all or nothing) under the campaign's lock:
the campaign's `ResponsesImported` event, every response and every nonconformance
raised, the responses' events built and mapped straight to stored events and written
with the recorder's COPY (`commit(..., stored=...)`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from application.base import Call, CommandResult
from application.errors import Conflict
from application.service import CommandService
from application.survey_campaigns import CampaignAccess
from application.survey_reads import SurveyReads, without_gc
from domain.base import Ctx, QAggregate, event_id, id_for
from domain.nonconformances import Nonconformance
from domain.surveys import (
    SurveyCampaign,
    SurveyResponse,
    improvement_description,
    needs_improvement,
    response_id,
)
from domain.surveys.csv import parse_responses_csv


def _severity(low: dict[str, int]) -> str:
    return "major" if any(v == 1 for v in low.values()) else "minor"


def improvement_action(
    ctx: Ctx,
    campaign: SurveyCampaign,
    response_uid: UUID,
    checked: dict[str, Any],
    low: dict[str, int],
    number: str,
) -> Nonconformance:
    """The improvement action a response calls for, caused by its `Recorded` event."""
    return Nonconformance.raise_(
        ctx.caused_by(event_id(response_uid, 1)),
        number=number,
        project=checked["project"],
        source={
            "type": "survey",
            "id": str(campaign.id),
            "number": campaign.number,
            "kind": "survey",
            "response": str(response_uid),
            "ref": campaign.number,
            "respondent_ref": checked["respondent_ref"],
            "low_answers": low,
            "complaint": checked["complaint"],
        },
        severity=_severity(low),
        description=improvement_description(campaign, checked, low),
    )


class SurveyResponses:
    def __init__(self, service: CommandService, access: CampaignAccess, reads: SurveyReads) -> None:
        self.service = service
        self.access = access
        self.reads = reads

    def record(
        self,
        call: Call,
        ref: str,
        *,
        respondent_ref: str,
        project: str,
        segment: str,
        method: str,
        answers: dict[str, Any],
        comment: str | None = None,
        complaint: bool = False,
    ) -> CommandResult:
        """Record one response while the campaign is open; a low answer or a complaint
        raises a linked nonconformance in the same transaction."""
        drawn: dict[str, str] = {}  # kept across a retry: one number per response
        seen: dict[str, Any] = {}

        def build(ctx: Ctx) -> list[QAggregate]:
            campaign = self.service.load(SurveyCampaign, ref)
            self.access.authorize_read(call, "survey.respond", campaign)
            campaign.check_step("respond")
            checked = campaign.check_response(
                respondent_ref=respondent_ref,
                project=project,
                segment=segment,
                method=method,
                answers=answers,
                comment=comment,
                complaint=complaint,
            )
            self.service.authorize(call, "survey.respond", checked["project"])
            rid = response_id(campaign.id, checked["respondent_ref"])
            seen.update(campaign=campaign, respondent=checked["respondent_ref"])
            if self.reads.response_exists(campaign.id, rid):
                raise Conflict(
                    "survey_response",
                    "recorded",
                    f"respondent {checked['respondent_ref']} already answered {campaign.number} (response {rid})",
                )
            low = campaign.low_answers(checked["answers"])
            nc_ref = None
            if needs_improvement(low, checked["complaint"]):
                drawn.setdefault("number", self.service.next_number("nonconformance"))
                number = drawn["number"]
                nc_ref = {"id": str(id_for("nonconformance", number)), "number": number}
            seen["nonconformance"] = nc_ref
            response = SurveyResponse.record_new(ctx, campaign, checked, {"type": "single"}, nc_ref)
            if nc_ref is None:
                return [response]
            nc = improvement_action(ctx, campaign, response.id, checked, low, nc_ref["number"])
            return [response, nc]

        def hooks(aggs: Sequence[QAggregate]) -> list[Any]:
            campaign = seen["campaign"]
            return [
                self.access.unchanged_hook(campaign),
                self.access.responses_hook(campaign.id, [aggs[0].id]),
            ]

        def extra(_: QAggregate) -> dict[str, Any]:
            campaign = seen["campaign"]
            return {
                "campaign": {"id": str(campaign.id), "number": campaign.number},
                "nonconformance": seen["nonconformance"],
            }

        return self.service.create(
            call,
            None,
            None,
            build,
            hooks=hooks,
            extra=extra,
            retries=self.service.MAX_CONFLICT_RETRIES,
            exists=lambda _: Conflict(
                "survey_response",
                "recorded",
                f"respondent {seen['respondent']} already answered {seen['campaign'].number}",
            ),
            gave_up=lambda: Conflict(
                "survey", "changing", "the campaign kept changing while recording; retry"
            ),
        )

    def _command(
        self,
        call: Call,
        action: str,
        ref: str,
        rid: str,
        step_name: str,
        step: Callable[[SurveyResponse, Ctx], None],
        guard: bool,
    ) -> CommandResult:
        """A step on a recorded response, reached through its campaign."""
        seen: dict[str, SurveyCampaign] = {}

        def load() -> SurveyResponse:
            campaign = self.service.load(SurveyCampaign, ref)
            self.access.authorize_read(call, "survey.read", campaign)
            response = self.reads.load_response(campaign, rid)
            self.service.authorize(call, action, response.project)
            seen["campaign"] = campaign
            return response

        def checked_step(response: SurveyResponse, ctx: Ctx) -> None:
            seen["campaign"].check_step(step_name)
            step(response, ctx)

        def campaign_ref(_: SurveyResponse) -> dict[str, Any]:
            return {"campaign": {"id": str(seen["campaign"].id), "number": seen["campaign"].number}}

        return self.service.execute(
            call,
            action,
            SurveyResponse,
            rid,
            checked_step,
            load=load,
            hooks=lambda _: [self.access.unchanged_hook(seen["campaign"])] if guard else [],
            extra=campaign_ref,
            gave_up=lambda _: Conflict(
                "survey_response", "changing", "the response or its campaign kept changing; retry"
            ),
        )

    def acknowledge(self, call: Call, ref: str, rid: str) -> CommandResult:
        return self._command(
            call,
            "survey.acknowledge",
            ref,
            rid,
            "acknowledge",
            lambda r, c: r.acknowledge(c),
            guard=False,
        )

    def invalidate(self, call: Call, ref: str, rid: str, reason: str) -> CommandResult:
        return self._command(
            call,
            "survey.invalidate",
            ref,
            rid,
            "invalidate",
            lambda r, c: r.invalidate(c, reason),
            guard=True,
        )

    def get(self, call: Call, ref: str, rid: str) -> SurveyResponse:
        campaign = self.service.load(SurveyCampaign, ref)
        self.access.authorize_read(call, "survey.read", campaign)
        response = self.reads.load_response(campaign, rid)
        self.service.authorize(call, "survey.read", response.project)
        return response

    def count(self, campaign_id: UUID) -> int:
        return self.reads.count(campaign_id)

    # -- bulk import ----------------------------------------------------------------------
    def import_csv(self, call: Call, ref: str, data: bytes) -> CommandResult:
        """All or nothing: a bad row rejects the file (`CsvRejected`, listing every error).
        The same file again (same SHA-256) records nothing; a respondent already recorded
        is skipped (and reported), never recorded twice."""
        sha = hashlib.sha256(data).hexdigest()
        summary: dict[str, Any] = {}
        batch: list[StoredEvent] = []
        fresh_ids: list[UUID] = []

        def step(s: SurveyCampaign, ctx: Ctx) -> CommandResult | None:
            earlier = s.imported(sha)
            if earlier is not None:
                summary.update(
                    {
                        "sha256": sha,
                        **earlier,
                        "recorded": 0,
                        "already_imported": True,
                        "recorded_earlier": earlier["recorded"],
                    }
                )
                position = self.service.store.recorder.max_notification_id()
                return CommandResult(
                    str(s.id), s.number, s.status, s.version, position, extra={"import": summary}
                )
            s.check_step("import")
            parsed = parse_responses_csv(s, data)
            for code in sorted({checked["project"] for _, checked in parsed.rows}):
                self.service.authorize(call, "survey.respond", code)
            existing = self.reads.response_ids(s.id)
            fresh: list[tuple[int, dict[str, Any], UUID]] = []
            skipped: list[dict[str, Any]] = []
            for rownum, checked in parsed.rows:
                rid = response_id(s.id, checked["respondent_ref"])
                if rid in existing:
                    skipped.append({"row": rownum, "respondent_ref": checked["respondent_ref"]})
                else:
                    fresh.append((rownum, checked, rid))
            lows = [s.low_answers(checked["answers"]) for _, checked, _ in fresh]
            needing = {
                i
                for i, (_, checked, _) in enumerate(fresh)
                if needs_improvement(lows[i], checked["complaint"])
            }
            numbers = iter(self.service.next_numbers("nonconformance", len(needing)))
            # Events, not aggregates: built and mapped straight to stored events, for the
            # recorder's COPY; each response before the action it causes.
            to_stored = self.service.store.mapper.to_stored_event
            responses: list[StoredEvent] = []
            actions: list[StoredEvent] = []
            source_base = {"type": "import", "sha256": sha}
            for i, (rownum, checked, rid) in enumerate(fresh):
                nc_ref = None
                if i in needing:
                    number = next(numbers)
                    nc_ref = {"id": str(id_for("nonconformance", number)), "number": number}
                    nc = improvement_action(ctx, s, rid, checked, lows[i], number)
                    actions.extend(to_stored(e) for e in nc.collect_events())
                event = SurveyResponse.recorded_event(
                    ctx, s, checked, {**source_base, "row": rownum}, nc_ref, rid
                )
                responses.append(to_stored(event))
            s.record_import(ctx, sha, len(parsed.rows), len(fresh), len(skipped), len(needing))
            summary.update(
                sha256=sha,
                rows=len(parsed.rows),
                recorded=len(fresh),
                duplicates=len(skipped),
                nonconformances=len(needing),
                skipped=skipped[:100],
                already_imported=False,
            )
            batch[:] = responses + actions
            fresh_ids[:] = [rid for _, _, rid in fresh]
            return None

        with without_gc():
            return self.access.execute(
                call,
                "survey.import",
                ref,
                step,
                extra=lambda s: {"import": dict(summary)},
                hooks=lambda s: [self.access.responses_hook(s.id, fresh_ids)],
                stored=lambda s: batch,
            )
