"""Every statement that shapes Qualtrace's database, in the order it runs.

Nothing here runs by itself and nothing adds to these lists at import time: the
composition root (`qualtrace.bootstrap`) runs them, in this order:

1. `SERVICE_TABLES` (`store.database.create_service_tables`): tables beside the event
   store, in `public`: idempotency keys, API tokens, revoked JWTs, the personal-data
   read log.
2. The events table. The `eventsourcing` library creates it (and the snapshots table)
   when the application is built; `store.recorder.QualtraceRecorder.create_table` then
   runs `EVENT_STORE`: the xid column and index, the hash-chain columns and triggers,
   and the write-side indexes that commit with the events (nonconformance recurrence,
   survey membership). `{schema}`, `{table}` and `{index}` are filled in there.
3. `NUMBER_SEQUENCE`: one sequence per kind of human number and year, made on first use.
4. `TRACKING` (`store.generations.setup`): where each consumer of the store stands.
5. Projection generations (`store.generations.create_generation`): each projection's
   own tables, declared beside the projection (`projections.*.tables`, the list of
   projections in `projections.registry`), in its schema `qt_<name>_g<N>`; the KPI
   projections list `KPI_CELL_TABLES` among theirs.
6. Publication (`store.generations.publish_read_views`): the stable views in
   `READ_SCHEMA`, then the publish hooks the composition root passes (the KPI cell
   views, the reporting schema, whose bookkeeping table is `REPORTING_VIEW_HASHES`).
"""

from __future__ import annotations

#: The events table (the library's, with the columns and triggers of `EVENT_STORE`).
EVENTS_TABLE = "qualtrace_events"
#: The schema of the stable views readers use; each points at a live generation.
READ_SCHEMA = "qt_read"

# -- 1. service tables -----------------------------------------------------------------
REVOKED_JWTS = """CREATE TABLE IF NOT EXISTS revoked_jwts (
    jti text PRIMARY KEY,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    reason text)"""

#: notify (docs/notifications.md): company-wide circulars raised by a process, each trigger
#: once (written in the circular's append transaction); notifications derived from events,
#: once per (event position, recipient, rule); webhook subscriptions; the delivery outbox.
NOTIFICATION_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS qt_circular_triggers (
        trigger_event text PRIMARY KEY,
        circular_id uuid NOT NULL,
        number text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS qt_notifications (
        id bigserial PRIMARY KEY,
        position bigint NOT NULL,
        rule text NOT NULL,
        recipient text NOT NULL,
        event_type text NOT NULL,
        issue_id uuid NOT NULL,
        issue_kind text NOT NULL,
        issue_number text,
        project text,
        title text NOT NULL,
        occurred_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        read_at timestamptz,
        CONSTRAINT qt_notifications_once UNIQUE (position, recipient, rule))""",
    "CREATE INDEX IF NOT EXISTS qt_notifications_recipient ON qt_notifications (recipient, id)",
    """CREATE TABLE IF NOT EXISTS qt_webhooks (
        id uuid PRIMARY KEY,
        url text NOT NULL,
        secret text NOT NULL,
        event_types text[] NOT NULL DEFAULT '{}',
        notification_kinds text[] NOT NULL DEFAULT '{}',
        after_position bigint NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'deleted')),
        status_reason text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS qt_deliveries (
        id bigserial PRIMARY KEY,
        dedup_key text NOT NULL UNIQUE,
        channel text NOT NULL,
        webhook_id uuid,
        notification_id bigint,
        position bigint NOT NULL,
        event_type text NOT NULL,
        target text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        claimed_until timestamptz,
        last_status int,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE INDEX IF NOT EXISTS qt_deliveries_open ON qt_deliveries (webhook_id, position, id)
        WHERE status IN ('pending', 'failed')""",
    """CREATE INDEX IF NOT EXISTS qt_deliveries_due ON qt_deliveries (next_attempt_at)
        WHERE status IN ('pending', 'failed')""",
    "CREATE INDEX IF NOT EXISTS qt_deliveries_webhook ON qt_deliveries (webhook_id, id)",
)

SERVICE_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        principal_id text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        status_code int NOT NULL,
        answer jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT idempotency_keys_pkey PRIMARY KEY (principal_id, key))""",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id text PRIMARY KEY,
        token_hash text NOT NULL UNIQUE,
        user_id text NOT NULL,
        name text NOT NULL,
        role text NOT NULL,
        projects text[] NOT NULL DEFAULT '{}',
        region text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        revoked_at timestamptz)""",
    # -- security: revoked JWT ids, and the append-only log of unmasked personal-data reads
    REVOKED_JWTS,
    """CREATE TABLE IF NOT EXISTS personal_data_reads (
        id bigserial PRIMARY KEY,
        read_at timestamptz NOT NULL,
        principal_id text NOT NULL,
        principal_name text NOT NULL,
        principal_role text NOT NULL,
        issue_id uuid NOT NULL,
        issue_kind text NOT NULL,
        issue_number text,
        project text,
        region text,
        fields text[] NOT NULL,
        via text NOT NULL,
        correlation_id text)""",
    "CREATE INDEX IF NOT EXISTS personal_data_reads_issue ON personal_data_reads (issue_id, id)",
    "CREATE INDEX IF NOT EXISTS personal_data_reads_principal ON personal_data_reads (principal_id, id)",
    """CREATE OR REPLACE FUNCTION qt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE OR REPLACE TRIGGER personal_data_reads_no_update BEFORE UPDATE OR DELETE ON personal_data_reads
    FOR EACH ROW EXECUTE FUNCTION qt_append_only()""",
    """CREATE OR REPLACE TRIGGER personal_data_reads_no_truncate BEFORE TRUNCATE ON personal_data_reads
    FOR EACH STATEMENT EXECUTE FUNCTION qt_append_only()""",
    # -- integrity verifications on record (store/verifications.py; issue #17): what a full
    # verification found, as of its snapshot: it saw every event up to through_position but
    # those of transactions still running then (snapshot_xip) or begun after (>= snapshot_xmax).
    # Append-only.
    """CREATE TABLE IF NOT EXISTS integrity_verifications (
        id bigserial PRIMARY KEY,
        verified_at timestamptz NOT NULL,
        through_position bigint NOT NULL,
        snapshot_xmax xid8 NOT NULL,
        snapshot_xip xid8[] NOT NULL,
        trigger text NOT NULL,
        seconds double precision NOT NULL,
        ok boolean NOT NULL,
        report jsonb NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS integrity_verifications_latest ON integrity_verifications (verified_at DESC, id DESC)",
    """CREATE OR REPLACE TRIGGER integrity_verifications_no_update BEFORE UPDATE OR DELETE ON integrity_verifications
    FOR EACH ROW EXECUTE FUNCTION qt_append_only()""",
    *NOTIFICATION_TABLES,  # notify
)

# -- 2. the events table, after the library created it ----------------------------------
#: Our own column and index: every row carries the id of the transaction that wrote it
#: (readers consume in (xid, notification_id) order; see `store.source`).
EVENTS_XID: tuple[str, ...] = (
    # A volatile default: every row carries the id of the (top-level) transaction that wrote it.
    "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS xid xid8 NOT NULL DEFAULT pg_current_xact_id()",
    "CREATE INDEX IF NOT EXISTS {index} ON {schema}.{table} (xid, notification_id)",
)

#: Tamper evidence (`store.integrity`): per-issue hash chain, the event's own time, and
#: refusal of UPDATE, DELETE and TRUNCATE. The bodies must hold no braces but the
#: placeholders (they are filled in with `psycopg.sql.SQL.format`).
EVENTS_INTEGRITY: tuple[str, ...] = (
    "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS prev_hash text",
    "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS event_hash text",
    # The event's own time (the command's `now`, inside the state), so that "the version at
    # a moment" is an index range read instead of a JSON parse of every version.
    "ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS occurred_at timestamptz",
    # The time inside a stored event: the transcoder writes it first, as
    # {"timestamp":{"_type_":"datetime_iso","_data_":"<ISO 8601>"}, ... (chr(123) is a brace,
    # which this template cannot hold). Anything else (not an event of ours) gives NULL.
    """CREATE OR REPLACE FUNCTION {schema}.qt_event_time(s bytea) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
        SELECT CASE WHEN left(encode(substring(s FROM 1 FOR 48), 'escape'), 48)
                         = chr(123) || '"timestamp":' || chr(123) || '"_type_":"datetime_iso","_data_":"'
               THEN split_part(encode(substring(s FROM 49 FOR 64), 'escape'), '"', 1)::timestamptz END
    $$""",
    """CREATE OR REPLACE FUNCTION {schema}.qt_event_hash() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- Version 1 starts the chain: no lookup (every new issue, e.g. POST /tickets). The
        -- lookup is a statement of its own: inside the assignment (a CASE holding a
        -- subquery) it made every assignment a full query instead of a simple expression
        -- (bench/append_cost.py: 3 µs of a new issue's row). The values are unchanged.
        IF NEW.originator_version = 1 THEN
            NEW.prev_hash := '0000000000000000000000000000000000000000000000000000000000000000';
        ELSE
            SELECT e.event_hash INTO NEW.prev_hash FROM {schema}.{table} e
             WHERE e.originator_id = NEW.originator_id
               AND e.originator_version = NEW.originator_version - 1;
            NEW.prev_hash := coalesce(NEW.prev_hash, repeat('0', 64));
        END IF;
        NEW.event_hash := encode(sha256(convert_to(
            NEW.originator_id::text || E'\\n' || NEW.originator_version::text || E'\\n'
            || coalesce(NEW.topic, '') || E'\\n' || NEW.prev_hash || E'\\n'
            || encode(sha256(coalesce(NEW.state, ''::bytea)), 'hex'), 'UTF8')), 'hex');
        NEW.occurred_at := {schema}.qt_event_time(NEW.state);
        RETURN NEW;
    END $$""",
    """CREATE OR REPLACE FUNCTION {schema}.qt_events_are_immutable() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'qualtrace events are immutable: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'record a correcting event instead';
    END $$""",
    # Rows written before integrity was installed get their hashes once (in issue order).
    # Only then: a row slipped in later around the trigger must stay unhashed for verify.
    """DO $$
    DECLARE r record; prev text; h text;
    BEGIN
        IF EXISTS (SELECT 1 FROM {schema}.{table} WHERE event_hash IS NULL)
           AND NOT EXISTS (SELECT 1 FROM {schema}.{table} WHERE event_hash IS NOT NULL) THEN
            ALTER TABLE {schema}.{table} DISABLE TRIGGER USER;
            FOR r IN SELECT originator_id, originator_version, topic, state
                     FROM {schema}.{table} ORDER BY originator_id, originator_version LOOP
                prev := coalesce((SELECT e.event_hash FROM {schema}.{table} e
                                   WHERE e.originator_id = r.originator_id
                                     AND e.originator_version = r.originator_version - 1),
                                 repeat('0', 64));
                h := encode(sha256(convert_to(
                    r.originator_id::text || E'\\n' || r.originator_version::text || E'\\n'
                    || coalesce(r.topic, '') || E'\\n' || prev || E'\\n'
                    || encode(sha256(coalesce(r.state, ''::bytea)), 'hex'), 'UTF8')), 'hex');
                UPDATE {schema}.{table} SET prev_hash = prev, event_hash = h
                 WHERE originator_id = r.originator_id AND originator_version = r.originator_version
                   AND event_hash IS NULL;
            END LOOP;
            ALTER TABLE {schema}.{table} ENABLE TRIGGER USER;
        END IF;
    END $$""",
    """DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM {schema}.{table} WHERE occurred_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM {schema}.{table} WHERE occurred_at IS NOT NULL) THEN
            ALTER TABLE {schema}.{table} DISABLE TRIGGER USER;
            UPDATE {schema}.{table}
               SET occurred_at = {schema}.qt_event_time(state)
             WHERE occurred_at IS NULL;
            ALTER TABLE {schema}.{table} ENABLE TRIGGER USER;
        END IF;
    END $$""",
    """CREATE OR REPLACE TRIGGER qt_event_hash BEFORE INSERT ON {schema}.{table}
    FOR EACH ROW EXECUTE FUNCTION {schema}.qt_event_hash()""",
    """CREATE OR REPLACE TRIGGER qt_events_no_update BEFORE UPDATE ON {schema}.{table}
    FOR EACH ROW EXECUTE FUNCTION {schema}.qt_events_are_immutable()""",
    """CREATE OR REPLACE TRIGGER qt_events_no_delete BEFORE DELETE ON {schema}.{table}
    FOR EACH ROW EXECUTE FUNCTION {schema}.qt_events_are_immutable()""",
    """CREATE OR REPLACE TRIGGER qt_events_no_truncate BEFORE TRUNCATE ON {schema}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.qt_events_are_immutable()""",
)

#: Recurrence of nonconformances (same project and checklist item within 90 days),
#: written in the same transaction as the events that raise or cancel one.
NONCONFORMANCE_RECURRENCE: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.qt_nc_recurrence (
        nc_id uuid PRIMARY KEY,
        number text NOT NULL,
        project text NOT NULL,
        item text NOT NULL,
        raised_at timestamptz NOT NULL,
        cancelled boolean NOT NULL DEFAULT false)""",
    "CREATE INDEX IF NOT EXISTS qt_nc_recurrence_item ON {schema}.qt_nc_recurrence (project, item, raised_at)",
)

#: Which responses belong to a survey campaign, its scope, and the guard a response's
#: append runs against the campaign's lock (see `application.survey_campaigns`).
SURVEY_MEMBERSHIP: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.survey_response_ids (
        campaign_id uuid NOT NULL,
        response_id uuid NOT NULL,
        PRIMARY KEY (campaign_id, response_id))""",
    """CREATE TABLE IF NOT EXISTS {schema}.survey_campaign_scopes (
        campaign_id uuid PRIMARY KEY,
        scope text NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS survey_campaign_scopes_scope ON {schema}.survey_campaign_scopes (scope)",
    # Called inside a response's append transaction: wait for (share) the campaign's
    # lock, then fail the transaction if the campaign moved on since it was loaded.
    # (A database error, so the transaction rolls back; a Python exception would not.)
    """CREATE OR REPLACE FUNCTION {schema}.qt_survey_guard(campaign uuid, expected bigint, lock_key text)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(lock_key, 0));
        IF (SELECT max(originator_version) FROM {schema}.{table} WHERE originator_id = campaign)
            IS DISTINCT FROM expected THEN
            RAISE EXCEPTION 'qt_campaign_moved';
        END IF;
    END $$""",
)

#: loop (issue #15): planned inspections' due times, for the deadline watcher's scan (the
#: aggregate decides; `settled` only stops rescanning one that is done or recorded missed),
#: and one assessment per project and period; both written with the events that make them.
ASSESSMENT_LOOP: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.qt_inspection_dues (
        inspection_id uuid PRIMARY KEY,
        project text NOT NULL,
        kind text NOT NULL,
        due_at timestamptz NOT NULL,
        settled boolean NOT NULL DEFAULT false)""",
    "CREATE INDEX IF NOT EXISTS qt_inspection_dues_open ON {schema}.qt_inspection_dues (due_at) WHERE NOT settled",
    """CREATE TABLE IF NOT EXISTS {schema}.qt_assessment_periods (
        project text NOT NULL,
        period text NOT NULL,
        assessment_id uuid NOT NULL,
        number text NOT NULL,
        PRIMARY KEY (project, period))""",
    # Closing an assessment finds a project's inspections, misses and deductions in the
    # event store itself: a partial index over just those topics (cheap to keep up).
    """CREATE OR REPLACE FUNCTION {schema}.qt_event_project(s bytea) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT convert_from(s, 'UTF8')::jsonb ->> 'project' $$""",
    """CREATE INDEX IF NOT EXISTS qt_events_loop_project ON {schema}.{table}
        ({schema}.qt_event_project(state), topic, notification_id)
        WHERE topic IN ('domain.inspections:Inspection.Scheduled',
                        'domain.inspections:Inspection.InspectionMissed',
                        'domain.nonconformances:Nonconformance.DeductionRecorded')""",
)

EVENT_STORE: tuple[str, ...] = (
    *EVENTS_XID,
    *EVENTS_INTEGRITY,
    *NONCONFORMANCE_RECURRENCE,
    *SURVEY_MEMBERSHIP,
    *ASSESSMENT_LOOP,  # loop (issue #15)
)

# -- 3. human numbers -----------------------------------------------------------------------
#: `{name}` is `qt_number_<prefix>_<year>` (see `application.service.CommandService.next_number`).
NUMBER_SEQUENCE = "CREATE SEQUENCE IF NOT EXISTS {name}"

# -- 4. tracking ------------------------------------------------------------------------------
TRACKING: tuple[str, ...] = (
    "CREATE SCHEMA IF NOT EXISTS qt_read",
    """CREATE TABLE IF NOT EXISTS qt_projection_tracking (
        name text NOT NULL,
        generation int NOT NULL,
        live boolean NOT NULL DEFAULT false,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, generation))""",
    # The reader's place in (xid, notification id) order, and a sequence value waiting
    # for every transaction that could hold a smaller id to finish (see ReadCursor).
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS cursor_xid bigint NOT NULL DEFAULT 0",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS cursor_id bigint NOT NULL DEFAULT 0",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS pending_position bigint",
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS pending_xmax bigint",
    # The layout a generation was built with (`store.generations.layout`: its tables' DDL
    # and the projection's version): a worker rebuilds a read model whose code changed.
    "ALTER TABLE qt_projection_tracking ADD COLUMN IF NOT EXISTS layout text",
    # Events the process follower recorded for a trigger (its inline run having failed):
    # a read at the trigger's position waits for them as well.
    """CREATE TABLE IF NOT EXISTS qt_process_consequences (
        trigger_position bigint PRIMARY KEY,
        through bigint NOT NULL)""",
    # Every change to the tracking rows notifies at its commit (store.read_positions: the
    # API's X-Read-Position without a query per read). Under the setup lock (re-entrant in
    # `store.generations.setup`'s transaction): processes starting at once replace it in turn.
    "SELECT pg_advisory_xact_lock(hashtext('qt_projection_setup'))",
    """CREATE OR REPLACE FUNCTION qt_tracking_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('qualtrace_positions', '');
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER qt_tracking_moved
    AFTER INSERT OR UPDATE OR DELETE ON qt_projection_tracking
    FOR EACH STATEMENT EXECUTE FUNCTION qt_tracking_moved()""",
)

# -- 5. projection generations -------------------------------------------------------------------
#: Report cells, in every KPI projection's generation (see `projections.kpis.cells`).
KPI_CELL_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS {schema}.kpi_cells (
        level text NOT NULL,
        unit text NOT NULL,
        period_start timestamp NOT NULL,
        rows json NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (level, unit, period_start))""",
    """CREATE TABLE IF NOT EXISTS {schema}.kpi_cell_state (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        position bigint NOT NULL,
        lo timestamp,
        hi timestamp,
        cells int NOT NULL DEFAULT 0,
        refreshed int NOT NULL DEFAULT 0,
        seconds double precision,
        refreshed_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS {schema}.kpi_cell_dirty (
        id bigserial PRIMARY KEY,
        since timestamp NOT NULL,
        until timestamp NOT NULL)""",
)

# -- 6. publication ------------------------------------------------------------------------------
#: The SQL each reporting view was created with (outside the reporting schema).
REPORTING_VIEW_HASHES = (
    "CREATE TABLE IF NOT EXISTS qt_reporting_views (name text PRIMARY KEY, sql_hash text NOT NULL)"
)

# -- attachments (docs/attachments.md): evidence files by the SHA-256 of their stored
# bytes; who uploaded each (and under which name); which issue's event references each.
# A reference holds its file (ON DELETE RESTRICT): the unreferenced-upload sweep can never
# take a file an event names. Service tables (step 1).
ATTACHMENT_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS qt_attachments (
        digest text PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
        media_type text NOT NULL,
        size bigint NOT NULL,
        content bytea NOT NULL,
        width int,
        height int,
        gps_removed boolean NOT NULL,
        thumbnail bytea,
        first_uploaded_at timestamptz NOT NULL,
        last_uploaded_at timestamptz NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS qt_attachments_sweep ON qt_attachments (last_uploaded_at)",
    """CREATE TABLE IF NOT EXISTS qt_attachment_uploads (
        digest text NOT NULL REFERENCES qt_attachments (digest) ON DELETE CASCADE,
        principal_id text NOT NULL,
        name text,
        uploaded_at timestamptz NOT NULL,
        PRIMARY KEY (digest, principal_id))""",
    """CREATE TABLE IF NOT EXISTS qt_attachment_refs (
        digest text NOT NULL REFERENCES qt_attachments (digest) ON DELETE RESTRICT,
        issue_id uuid NOT NULL,
        issue_kind text NOT NULL,
        issue_number text,
        project text,
        step text NOT NULL,
        version int NOT NULL,
        position bigint NOT NULL,
        PRIMARY KEY (digest, issue_id, position))""",
    "CREATE INDEX IF NOT EXISTS qt_attachment_refs_issue ON qt_attachment_refs (issue_id)",
    # A reference is a fact of its event: append-only, like the event (qt_append_only above).
    """CREATE OR REPLACE TRIGGER qt_attachment_refs_no_update BEFORE UPDATE OR DELETE
    ON qt_attachment_refs FOR EACH ROW EXECUTE FUNCTION qt_append_only()""",
    """CREATE OR REPLACE TRIGGER qt_attachment_refs_no_truncate BEFORE TRUNCATE
    ON qt_attachment_refs FOR EACH STATEMENT EXECUTE FUNCTION qt_append_only()""",
)
SERVICE_TABLES += ATTACHMENT_TABLES
