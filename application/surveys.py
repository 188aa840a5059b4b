"""Survey campaign use cases (DOMAIN.md §4): plan, approve, collect, import, publish.

Consistency without a big aggregate:
- A response is its own aggregate; the campaign's stream holds one event per step and
  one per import. Which responses belong to a campaign is kept in the write-side index
  `survey_response_ids`, written in the same transaction as the responses' events.
- Every command that appends to a campaign holds an exclusive PostgreSQL advisory lock
  on the campaign from loading it to committing. A command on a response (record,
  invalidate) takes the same lock *shared* inside its append transaction and checks
  that the campaign has not moved since it was loaded (else it retries). So a response
  can never be recorded after the campaign closed, nor invalidated after publication,
  and the published results are computed from exactly the responses committed before.
- Bulk import: the whole file is one transaction (all or nothing): the campaign's
  `ResponsesImported` event, every response and every nonconformance raised, in one
  `save()`, i.e. one multi-row INSERT.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from application.base import Call, CommandResult, QualtraceBase, parse_ref
from application.errors import Conflict, Forbidden, NotFound, PreconditionFailed, UnknownReference
from application.org import OrgCommands
from application.security import can
from domain.base import Ctx, QAggregate, event_id, id_for
from domain.nonconformances import Nonconformance
from domain.surveys import (
    SCALE_LABELS,
    SurveyCampaign,
    SurveyResponse,
    improvement_description,
    needs_improvement,
    response_id,
)
from domain.surveys.csv import parse_responses_csv
from domain.surveys.results import compute_results, parameters

#: Runs in a command's append transaction; may return ids of further events it wrote.
Hook = Callable[[Cursor[DictRow], Sequence[int]], Sequence[int] | None]


@contextmanager
def _without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building 100,000s of small, acyclic
    objects (rows, events): its repeated full passes over them cost more than the work."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def campaign_moved(error: Exception) -> bool:
    """The campaign changed between loading it and appending a response event: retry."""
    return "qt_campaign_moved" in str(error)


def _severity(low: dict[str, int]) -> str:
    return "major" if any(v == 1 for v in low.values()) else "minor"


class SurveyCommands(OrgCommands, QualtraceBase):
    # -- plumbing ----------------------------------------------------------------------
    def _lock_key(self, campaign_id: UUID) -> str:
        return f"survey:{campaign_id}"

    @contextmanager
    def _campaign_lock(self, campaign_id: UUID) -> Iterator[None]:
        """Exclusive advisory lock on a campaign for the whole load → save of a command."""
        with self.datastore.get_connection() as conn:
            conn.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (self._lock_key(campaign_id),)
            )
            try:
                yield
            finally:
                conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                    (self._lock_key(campaign_id),),
                )

    def _campaign_unchanged_hook(self, campaign: SurveyCampaign) -> Hook:
        """In the response's transaction: share the campaign's lock, then check its version."""
        guard = Identifier(self.datastore.schema, "qt_survey_guard")
        args = (campaign.id, campaign.version, self._lock_key(campaign.id))

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(SQL("SELECT {}(%s, %s, %s)").format(guard), args)
            cur.fetchall()

        return hook

    def _index_hook(self, campaign_id: UUID, response_ids: list[UUID]) -> Hook:
        table = Identifier(self.datastore.schema, "survey_response_ids")

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            if response_ids:
                cur.execute(
                    SQL(
                        "INSERT INTO {} (campaign_id, response_id) SELECT %s, unnest(%s::uuid[])"
                    ).format(table),
                    (campaign_id, response_ids),
                )

        return hook

    def _save_bulk(
        self,
        call: Call,
        campaign: SurveyCampaign,
        stored: list[StoredEvent],
        hooks: Sequence[Hook],
        extra: dict[str, Any],
    ) -> CommandResult:
        """Record the campaign's pending events, then `stored` (a bulk import's events),
        with COPY in one append transaction: the same table, defaults (notification id,
        xid), triggers (the integrity hashes) and the same first statement as the
        recorder's INSERT, several times faster for 100,000 rows."""
        result = CommandResult(
            id=str(campaign.id),
            number=campaign.number,
            status=campaign.status,
            version=campaign.version,
            position=None,
            created=bool(stored),
            extra=extra,
        )
        idem = self._idempotency_writer(call, result) if call.idempotency is not None else None
        events = [self.mapper.to_stored_event(e) for e in campaign.collect_events()] + stored
        table = Identifier(self.datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]
        copy = SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        )
        try:
            with self.datastore.transaction(commit=True) as cur:
                # As the recorder does: the transaction's xid is taken before any row draws
                # a notification id (readers rely on it; see store/recorder.py).
                cur.execute(
                    SQL("SELECT set_config('lock_timeout', {}, true), pg_current_xact_id()").format(
                        Literal(f"{self.datastore.lock_timeout}s")
                    )
                )
                with cur.copy(copy.format(table)) as cp:
                    cp.set_types(["uuid", "int8", "text", "bytea"])
                    for e in events:
                        cp.write_row((e.originator_id, e.originator_version, e.topic, e.state))
                cur.execute(
                    SQL(
                        "SELECT max(notification_id) AS p FROM {} WHERE xid = pg_current_xact_id()"
                    ).format(table)
                )
                row = cur.fetchone()
                ids = [int(row["p"])] if row and row["p"] is not None else []
                for hook in hooks:
                    hook(cur, ids)
                if idem is not None:
                    idem(cur, ids)
        except IntegrityError as e:
            if "idempotency" in str(e):
                return self._replay_after_race(call)
            raise Conflict(
                "survey", campaign.status, f"the campaign was changed concurrently ({e}); retry"
            ) from None
        self.recorder.notifier.poke()  # type: ignore[attr-defined]
        result.position = ids[0] if ids else None
        return result

    def _scope_hook(self, campaign: SurveyCampaign) -> Hook:
        table = Identifier(self.datastore.schema, "survey_campaign_scopes")
        scope = campaign.scope_key

        def hook(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(
                SQL(
                    "INSERT INTO {} (campaign_id, scope) VALUES (%s, %s)"
                    " ON CONFLICT (campaign_id) DO UPDATE SET scope = EXCLUDED.scope"
                ).format(table),
                (campaign.id, scope),
            )

        return hook

    def _save(
        self,
        call: Call,
        main: QAggregate,
        *others: QAggregate,
        hooks: Sequence[Hook] = (),
        created: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> CommandResult:
        """Like `commit`, with our in-transaction hooks before the idempotency record."""
        result = CommandResult(
            id=str(main.id),
            number=str(getattr(main, "number", "")),
            status=main.status,
            version=main.version,
            position=None,
            created=created,
            extra=extra or {},
        )
        idem = self._idempotency_writer(call, result) if call.idempotency is not None else None
        written: list[int] = []

        def after_insert(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            written[:] = ids
            for hook in hooks:
                written.extend(hook(cur, list(written)) or ())
            if idem is not None:
                idem(cur, written)

        recordings = self.save(main, *others, after_insert=after_insert)
        positions = [r.notification.id for r in recordings] + written
        result.position = max(positions) if positions else self.recorder.max_notification_id()
        return result

    # -- authorisation over a campaign's projects ----------------------------------------
    def _authorize_all(
        self, call: Call, action: str, projects: Sequence[str], missing: bool = False
    ) -> None:
        """The principal may do `action` and sees every project (else 403; 404 if it sees none)."""
        p = call.principal
        visible = [code for code in projects if p.sees(code, self.project_region(code))]
        if (
            missing and not visible
        ):  # before the role: a campaign out of scope is as good as missing
            raise NotFound("survey", "")
        if not can(p, action):
            raise Forbidden(p.role, action)
        for code in projects:
            if code not in visible:
                raise Forbidden(
                    p.role, f"{action} a campaign that includes project {code}, outside its scope"
                )

    def _authorize_read(self, call: Call, action: str, campaign: SurveyCampaign) -> None:
        p = call.principal
        if not any(p.sees(code, self.project_region(code)) for code in campaign.projects):
            raise NotFound("survey", "")
        if not can(p, action):
            raise Forbidden(p.role, action)

    def _check_projects(self, projects: Any) -> None:
        if isinstance(projects, list):
            for i, code in enumerate(projects):
                if isinstance(code, str) and self.project_region(code) is None:
                    raise UnknownReference(f"projects.{i}", f"unknown project code '{code}'")

    def _campaign_command(
        self,
        call: Call,
        action: str,
        ref: str,
        step: Callable[[SurveyCampaign, Ctx], Sequence[QAggregate] | CommandResult | None],
        extra: Callable[[SurveyCampaign], dict[str, Any]] | None = None,
        hooks: Callable[[SurveyCampaign], list[Hook]] | None = None,
    ) -> CommandResult:
        """load → authorise → If-Match → step → save, under the campaign's exclusive lock.
        A step may return a CommandResult to answer without recording anything."""
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        cid = parse_ref("survey", ref)
        with self._campaign_lock(cid):
            campaign = self.load(SurveyCampaign, cid)
            self._authorize_all(call, action, campaign.projects, missing=True)
            if call.if_match is not None and call.if_match != campaign.version:
                raise PreconditionFailed(campaign.version, call.if_match)
            out = step(campaign, self.ctx(call))
            if isinstance(out, CommandResult):
                return out
            try:
                return self._save(
                    call,
                    campaign,
                    *(out or ()),
                    hooks=[self._scope_hook(campaign), *(hooks(campaign) if hooks else [])],
                    extra=extra(campaign) if extra else None,
                )
            except IntegrityError as e:
                if "idempotency" in str(e):
                    return self._replay_after_race(call)
                raise Conflict(
                    "survey", campaign.status, f"the campaign was changed concurrently ({e}); retry"
                ) from None

    # -- the campaign's lifecycle -------------------------------------------------------
    def draft_survey(self, call: Call, **fields: Any) -> CommandResult:
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        self._check_projects(fields.get("projects"))
        if isinstance(fields.get("projects"), list):
            self._authorize_all(
                call, "survey.draft", [p for p in fields["projects"] if isinstance(p, str)]
            )
        else:
            self._authorize_all(call, "survey.draft", [])
        campaign = SurveyCampaign.draft(self.ctx(call), number=self.next_number("survey"), **fields)
        try:
            return self._save(call, campaign, hooks=[self._scope_hook(campaign)], created=True)
        except IntegrityError as e:
            if "idempotency" in str(e):
                return self._replay_after_race(call)
            raise Conflict("survey", "exists", f"survey {campaign.number} already exists") from None

    def revise_survey(self, call: Call, ref: str, **fields: Any) -> CommandResult:
        self._check_projects(fields.get("projects"))

        def step(s: SurveyCampaign, ctx: Ctx) -> None:
            if isinstance(fields.get("projects"), list):
                self._authorize_all(call, "survey.draft", fields["projects"])
            s.revise(ctx, **fields)

        return self._campaign_command(call, "survey.draft", ref, step)

    def submit_survey(self, call: Call, ref: str) -> CommandResult:
        return self._campaign_command(call, "survey.submit", ref, lambda s, c: s.submit(c))

    def decide_survey(
        self, call: Call, ref: str, approved: bool, reason: str | None
    ) -> CommandResult:
        return self._campaign_command(
            call, "survey.decide", ref, lambda s, c: s.decide(c, approved, reason)
        )

    def open_survey(self, call: Call, ref: str) -> CommandResult:
        return self._campaign_command(call, "survey.open", ref, lambda s, c: s.open(c))

    def close_survey(self, call: Call, ref: str) -> CommandResult:
        return self._campaign_command(call, "survey.close", ref, lambda s, c: s.close(c))

    def publish_survey(self, call: Call, ref: str) -> CommandResult:
        """Compute the results from the recorded responses and record them with the
        formulas' parameters in the `Published` event (under the campaign's lock)."""
        published: dict[str, Any] = {}

        def step(s: SurveyCampaign, ctx: Ctx) -> None:
            s.check_step("publish")
            results = self.compute_survey_results(s)
            params = parameters(s.questions, s.loyalty_mapping, SCALE_LABELS)
            s.publish(ctx, results, params)
            published.update(results=results, parameters=params)

        return self._campaign_command(
            call, "survey.publish", ref, step, extra=lambda s: dict(published)
        )

    # -- responses ------------------------------------------------------------------------
    def record_survey_response(
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
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        drawn: dict[str, str] = {}
        for _attempt in range(self.MAX_CONFLICT_RETRIES):
            campaign = self.load(SurveyCampaign, ref)
            self._authorize_read(call, "survey.respond", campaign)
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
            self.authorize(call, "survey.respond", checked["project"])
            rid = response_id(campaign.id, checked["respondent_ref"])
            if self._response_exists(campaign.id, rid):
                raise Conflict(
                    "survey_response",
                    "recorded",
                    f"respondent {checked['respondent_ref']} already answered {campaign.number} (response {rid})",
                )
            ctx = self.ctx(call)
            low = campaign.low_answers(checked["answers"])
            nc_ref = None
            if needs_improvement(low, checked["complaint"]):
                drawn.setdefault("number", self.next_number("nonconformance"))
                nc_ref = {
                    "id": str(id_for("nonconformance", drawn["number"])),
                    "number": drawn["number"],
                }
            response = SurveyResponse.record_new(ctx, campaign, checked, {"type": "single"}, nc_ref)
            others: list[QAggregate] = []
            if nc_ref is not None:
                others.append(
                    self._raise_nc(ctx, campaign, response.id, checked, low, nc_ref["number"])
                )
            try:
                return self._save(
                    call,
                    response,
                    *others,
                    created=True,
                    hooks=[
                        self._campaign_unchanged_hook(campaign),
                        self._index_hook(campaign.id, [response.id]),
                    ],
                    extra={
                        "campaign": {"id": str(campaign.id), "number": campaign.number},
                        "nonconformance": nc_ref,
                    },
                )
            except PersistenceError as e:
                if campaign_moved(e):
                    continue
                if not isinstance(e, IntegrityError):
                    raise
                if "idempotency" in str(e):
                    return self._replay_after_race(call)
                raise Conflict(
                    "survey_response",
                    "recorded",
                    f"respondent {checked['respondent_ref']} already answered {campaign.number}",
                ) from None
        raise Conflict("survey", "changing", "the campaign kept changing while recording; retry")

    def _raise_nc(
        self,
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

    def _response_exists(self, campaign_id: UUID, rid: UUID) -> bool:
        return bool(
            self.sql(
                "SELECT 1 FROM survey_response_ids WHERE campaign_id = %s AND response_id = %s",
                (campaign_id, rid),
            )
        )

    def _response_command(
        self,
        call: Call,
        action: str,
        ref: str,
        rid: str,
        step_name: str,
        step: Callable[[SurveyResponse, Ctx], None],
        guard: bool,
    ) -> CommandResult:
        replay = self.replay_idempotent(call)
        if replay is not None:
            return replay
        for _attempt in range(self.MAX_CONFLICT_RETRIES):
            campaign = self.load(SurveyCampaign, ref)
            self._authorize_read(call, "survey.read", campaign)
            response = self.load_response(campaign, rid)
            self.authorize(call, action, response.project)
            if call.if_match is not None and call.if_match != response.version:
                raise PreconditionFailed(response.version, call.if_match)
            campaign.check_step(step_name)
            step(response, self.ctx(call))
            try:
                return self._save(
                    call,
                    response,
                    hooks=[self._campaign_unchanged_hook(campaign)] if guard else [],
                    extra={"campaign": {"id": str(campaign.id), "number": campaign.number}},
                )
            except PersistenceError as e:
                if campaign_moved(e):
                    continue
                if not isinstance(e, IntegrityError):
                    raise
                if "idempotency" in str(e):
                    return self._replay_after_race(call)
                if call.if_match is not None:
                    raise PreconditionFailed(None, call.if_match) from None
        raise Conflict(
            "survey_response", "changing", "the response or its campaign kept changing; retry"
        )

    def load_response(self, campaign: SurveyCampaign, rid: str) -> SurveyResponse:
        """A response by its id, or by the respondent's reference within the campaign."""
        try:
            uid = UUID(str(rid))
        except ValueError:
            uid = response_id(campaign.id, str(rid).strip())
        response = self.load(SurveyResponse, uid)
        if response.campaign_id != campaign.id:
            raise NotFound("survey_response", rid)
        return response

    def acknowledge_survey_response(self, call: Call, ref: str, rid: str) -> CommandResult:
        return self._response_command(
            call,
            "survey.acknowledge",
            ref,
            rid,
            "acknowledge",
            lambda r, c: r.acknowledge(c),
            guard=False,
        )

    def invalidate_survey_response(
        self, call: Call, ref: str, rid: str, reason: str
    ) -> CommandResult:
        return self._response_command(
            call,
            "survey.invalidate",
            ref,
            rid,
            "invalidate",
            lambda r, c: r.invalidate(c, reason),
            guard=True,
        )

    # -- bulk import ----------------------------------------------------------------------
    def import_survey_responses(self, call: Call, ref: str, data: bytes) -> CommandResult:
        """All or nothing: a bad row rejects the file (`CsvRejected`, listing every error).
        The same file again (same SHA-256) records nothing; a respondent already recorded
        is skipped (and reported), never recorded twice."""
        sha = hashlib.sha256(data).hexdigest()
        summary: dict[str, Any] = {"sha256": sha}

        def step(s: SurveyCampaign, ctx: Ctx) -> Sequence[QAggregate] | CommandResult:
            earlier = s.imported(sha)
            if earlier is not None:
                summary.update(
                    {
                        **earlier,
                        "recorded": 0,
                        "already_imported": True,
                        "recorded_earlier": earlier["recorded"],
                    }
                )
                return CommandResult(
                    str(s.id),
                    s.number,
                    s.status,
                    s.version,
                    self.recorder.max_notification_id(),
                    extra={"import": dict(summary)},
                )
            s.check_step("import")
            parsed = parse_responses_csv(s, data)
            for code in sorted({checked["project"] for _, checked in parsed.rows}):
                self.authorize(call, "survey.respond", code)
            existing = self._response_ids(s.id)
            fresh: list[tuple[int, dict[str, Any], UUID]] = []
            skipped: list[dict[str, Any]] = []
            for rownum, checked in parsed.rows:
                rid = response_id(s.id, checked["respondent_ref"])
                if rid in existing:
                    skipped.append({"row": rownum, "respondent_ref": checked["respondent_ref"]})
                else:
                    fresh.append((rownum, checked, rid))
            lows = [s.low_answers(checked["answers"]) for _, checked, _ in fresh]
            needing = [
                i
                for i, (_, checked, _) in enumerate(fresh)
                if needs_improvement(lows[i], checked["complaint"])
            ]
            numbers = iter(self.next_numbers("nonconformance", len(needing)))
            needing_set = set(needing)
            # Events, not aggregates: built and mapped straight to stored events, then
            # written with COPY in the campaign's append transaction (see `_copy_hook`).
            to_stored = self.mapper.to_stored_event
            responses: list[StoredEvent] = []
            actions: list[StoredEvent] = []
            source_base = {"type": "import", "sha256": sha}
            for i, (rownum, checked, rid) in enumerate(fresh):
                nc_ref = None
                if i in needing_set:
                    number = next(numbers)
                    nc_ref = {"id": str(id_for("nonconformance", number)), "number": number}
                    nc = self._raise_nc(ctx, s, rid, checked, lows[i], number)
                    actions.extend(to_stored(e) for e in nc.collect_events())
                event = SurveyResponse.recorded_event(
                    ctx, s, checked, {**source_base, "row": rownum}, nc_ref, rid
                )
                responses.append(to_stored(event))
            s.record_import(ctx, sha, len(parsed.rows), len(fresh), len(skipped), len(needing))
            summary.update(
                rows=len(parsed.rows),
                recorded=len(fresh),
                duplicates=len(skipped),
                nonconformances=len(needing),
                skipped=skipped[:100],
                already_imported=False,
            )
            summary.pop("sha256")
            return self._save_bulk(
                call,
                s,
                responses + actions,  # each response before the action it causes
                hooks=[self._scope_hook(s), self._index_hook(s.id, [rid for _, _, rid in fresh])],
                extra={"import": {"sha256": sha, **summary}},
            )

        with _without_gc():
            return self._campaign_command(call, "survey.import", ref, step)

    def next_numbers(self, kind: str, count: int) -> list[str]:
        """`count` numbers of `kind` in one round trip (same sequence as `next_number`)."""
        if count <= 0:
            return []
        if count == 1:
            return [self.next_number(kind)]
        first = self.next_number(kind)
        prefix, year, _ = first.split("-")
        seq = f"qt_number_{prefix.lower()}_{year}"
        rows = self.sql(f"SELECT nextval('{seq}') AS n FROM generate_series(1, %s)", (count - 1,))
        return [first, *(f"{prefix}-{year}-{int(r['n']):06d}" for r in rows)]

    # -- reading --------------------------------------------------------------------------
    def _response_ids(self, campaign_id: UUID) -> set[UUID]:
        rows = self.sql(
            "SELECT response_id FROM survey_response_ids WHERE campaign_id = %s", (campaign_id,)
        )
        return {r["response_id"] for r in rows}

    def response_inputs(self, campaign_id: UUID) -> list[dict[str, Any]]:
        """What the results module needs of every response of a campaign, read from the
        responses' events in one query (without rebuilding 100,000 aggregates): the
        `Recorded` event's fields, and `valid` false once an `Invalidated` event exists."""
        events = Identifier(self.datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]
        index = Identifier(self.datastore.schema, "survey_response_ids")
        query = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {} i JOIN {} e"
            " ON e.originator_id = i.response_id WHERE i.campaign_id = %s"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(index, events)
        recorded_topic = get_topic(SurveyResponse.Recorded)
        invalidated_topic = get_topic(SurveyResponse.Invalidated)
        decode = self.mapper.transcoder.decode
        out: dict[UUID, dict[str, Any]] = {}
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(query, (campaign_id,))
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

    def load_responses(self, campaign_id: UUID) -> list[SurveyResponse]:
        """Every response of a campaign, reconstructed from its events in one query."""
        events = Identifier(self.datastore.schema, self.recorder.events_table_name)  # type: ignore[attr-defined]
        index = Identifier(self.datastore.schema, "survey_response_ids")
        query = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {} i JOIN {} e"
            " ON e.originator_id = i.response_id WHERE i.campaign_id = %s"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(index, events)
        out: list[SurveyResponse] = []
        current: Any = None
        with self.datastore.transaction(commit=False) as cur:
            cur.execute(query, (campaign_id,))
            for row in cur:
                event: Any = self.mapper.to_domain_event(
                    StoredEvent(
                        row["originator_id"],
                        row["originator_version"],
                        row["topic"],
                        bytes(row["state"]),
                    )
                )
                if current is not None and current.id != row["originator_id"]:
                    out.append(current)
                    current = None
                current = event.mutate(current)
        if current is not None:
            out.append(current)
        return out

    def count_responses(self, campaign_id: UUID) -> int:
        rows = self.sql(
            "SELECT count(*) AS n FROM survey_response_ids WHERE campaign_id = %s", (campaign_id,)
        )
        return int(rows[0]["n"])

    def previous_published(self, campaign: SurveyCampaign) -> SurveyCampaign | None:
        """The latest campaign of the same scope (party and projects) published before this one."""
        rows = self.sql(
            "SELECT campaign_id FROM survey_campaign_scopes WHERE scope = %s AND campaign_id <> %s",
            (campaign.scope_key, campaign.id),
        )
        best: SurveyCampaign | None = None
        for row in rows:
            other = self.load(SurveyCampaign, row["campaign_id"])
            if (
                other.status == "published"
                and other.results
                and (best is None or other.published_at > best.published_at)
            ):
                best = other
        return best

    def compute_survey_results(self, campaign: SurveyCampaign) -> dict[str, Any]:
        prev = self.previous_published(campaign)
        previous = None
        if prev is not None and prev.results is not None:
            previous = {
                "id": str(prev.id),
                "number": prev.number,
                "csi": prev.results.get("csi"),
                "cli": prev.results.get("cli"),
            }
        with _without_gc():
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

    def get_survey(self, call: Call, ref: str, version: int | None = None) -> SurveyCampaign:
        campaign = self.load(SurveyCampaign, ref, version)
        self._authorize_read(call, "survey.read", campaign)
        return campaign

    def get_survey_response(self, call: Call, ref: str, rid: str) -> SurveyResponse:
        campaign = self.get_survey(call, ref)
        response = self.load_response(campaign, rid)
        self.authorize(call, "survey.read", response.project)
        return response

    def survey_results(self, call: Call, ref: str) -> dict[str, Any]:
        """The published results; before publication, a provisional computation."""
        campaign = self.load(SurveyCampaign, ref)
        self._authorize_read(call, "survey.results", campaign)
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
            "results": self.compute_survey_results(campaign),
            "parameters": parameters(campaign.questions, campaign.loyalty_mapping, SCALE_LABELS),
        }
