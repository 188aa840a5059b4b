"""Reads of a survey campaign's responses, straight from the event store and the
write-side index `survey_response_ids` (written in the responses' own transactions),
and the campaign's results computed from them."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from application.errors import NotFound
from application.service import CommandService
from domain.surveys import SurveyCampaign, SurveyResponse, response_id
from domain.surveys.results import compute_results


@contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building 100,000s of small, acyclic
    objects (rows, events): its repeated full passes over them cost more than the work."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class SurveyReads:
    def __init__(self, service: CommandService) -> None:
        self.service = service
        self.store = service.store

    def _events_of_responses(self) -> Any:
        events = Identifier(self.store.datastore.schema, self.store.recorder.events_table_name)  # type: ignore[attr-defined]
        index = Identifier(self.store.datastore.schema, "survey_response_ids")
        return SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {} i JOIN {} e"
            " ON e.originator_id = i.response_id WHERE i.campaign_id = %s"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(index, events)

    def response_ids(self, campaign_id: UUID) -> set[UUID]:
        rows = self.service.sql(
            "SELECT response_id FROM survey_response_ids WHERE campaign_id = %s", (campaign_id,)
        )
        return {r["response_id"] for r in rows}

    def response_exists(self, campaign_id: UUID, rid: UUID) -> bool:
        return bool(
            self.service.sql(
                "SELECT 1 FROM survey_response_ids WHERE campaign_id = %s AND response_id = %s",
                (campaign_id, rid),
            )
        )

    def count(self, campaign_id: UUID) -> int:
        rows = self.service.sql(
            "SELECT count(*) AS n FROM survey_response_ids WHERE campaign_id = %s", (campaign_id,)
        )
        return int(rows[0]["n"])

    def load_response(self, campaign: SurveyCampaign, rid: str) -> SurveyResponse:
        """A response by its id, or by the respondent's reference within the campaign."""
        try:
            uid = UUID(str(rid))
        except ValueError:
            uid = response_id(campaign.id, str(rid).strip())
        response = self.service.load(SurveyResponse, uid)
        if response.campaign_id != campaign.id:
            raise NotFound("survey_response", rid)
        return response

    def response_inputs(self, campaign_id: UUID) -> list[dict[str, Any]]:
        """What the results module needs of every response of a campaign, read from the
        responses' events in one query (without rebuilding 100,000 aggregates): the
        `Recorded` event's fields, and `valid` false once an `Invalidated` event exists."""
        recorded_topic = get_topic(SurveyResponse.Recorded)
        invalidated_topic = get_topic(SurveyResponse.Invalidated)
        decode = self.store.mapper.transcoder.decode
        out: dict[UUID, dict[str, Any]] = {}
        with self.store.datastore.transaction(commit=False) as cur:
            cur.execute(self._events_of_responses(), (campaign_id,))
            for row in cur:
                if row["topic"] == recorded_topic:
                    data = decode(bytes(row["state"]))
                    out[row["originator_id"]] = {
                        "id": str(row["originator_id"]),
                        "project": data["project"],
                        "segment": data["segment"],
                        "method": data["method"],
                        "answers": data["answers"],
                        "valid": True,
                    }
                elif row["topic"] == invalidated_topic and row["originator_id"] in out:
                    out[row["originator_id"]]["valid"] = False
        return list(out.values())

    def previous_published(self, campaign: SurveyCampaign) -> SurveyCampaign | None:
        """The latest campaign of the same scope (party and projects) published before this one."""
        rows = self.service.sql(
            "SELECT campaign_id FROM survey_campaign_scopes WHERE scope = %s AND campaign_id <> %s",
            (campaign.scope_key, campaign.id),
        )
        best: SurveyCampaign | None = None
        for row in rows:
            other = self.service.load(SurveyCampaign, row["campaign_id"])
            if (
                other.status == "published"
                and other.results
                and (best is None or other.published_at > best.published_at)
            ):
                best = other
        return best

    def compute_results(self, campaign: SurveyCampaign) -> dict[str, Any]:
        prev = self.previous_published(campaign)
        previous = None
        if prev is not None and prev.results is not None:
            previous = {
                "id": str(prev.id),
                "number": prev.number,
                "csi": prev.results.get("csi"),
                "cli": prev.results.get("cli"),
            }
        with without_gc():
            responses = self.response_inputs(campaign.id)
        return compute_results(
            questions=campaign.questions,
            responses=responses,
            loyalty_mapping=campaign.loyalty_mapping,
            target_sample=campaign.target_sample,
            target_csi=campaign.target_csi,
            party=campaign.party,
            previous=previous,
        )
