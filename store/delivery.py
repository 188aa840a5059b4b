"""The delivery outbox and its loop: webhooks and e-mail behind one `Channel` interface.

`qt_deliveries` holds one row per (channel, target, event or notification) with a status
`pending, sent, failed, dead`, its attempts and `next_attempt_at`. The loop

1. CLAIMS due rows in a short transaction (`FOR UPDATE SKIP LOCKED`, so several loops
   share the work): it sets a lease (`claimed_until`) and counts the attempt, and COMMITS;
2. SENDS each claimed row with no database connection checked out and no transaction
   open — a slow receiver holds nothing of the database;
3. RECORDS the outcome: `sent`; `failed` with the next attempt after an exponential
   backoff with jitter, capped; `dead` after `max_attempts`; a webhook answering 410 Gone
   disables its subscription (the delivery is `dead`).

A loop that dies between 1 and 3 leaves a lease that expires: the row is sent again (at
least once; receivers deduplicate by `X-Qualtrace-Delivery`). Webhook deliveries go out
in position order per subscription: only the subscription's oldest unfinished delivery
is ever claimed, so position N+1 waits until N is sent or dead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.delivery")

STATUSES = ("pending", "sent", "failed", "dead")
#: Headers of a webhook delivery (docs/notifications.md).
SIGNATURE_HEADER = "X-Qualtrace-Signature"
TIMESTAMP_HEADER = "X-Qualtrace-Timestamp"
DELIVERY_HEADER = "X-Qualtrace-Delivery"
POSITION_HEADER = "X-Qualtrace-Position"
EVENT_HEADER = "X-Qualtrace-Event"
#: What a receiver should accept: a timestamp within this many seconds of its clock.
REPLAY_WINDOW_SECONDS = 300
#: `application_name` of the loop's connections (the claim/record one is closed while sending).
APPLICATION_NAME = "qualtrace-deliveries"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 of `timestamp + "." + body` under the subscription's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    gone: bool = False  # the receiver asked to stop (HTTP 410): disable the subscription


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    target: str
    position: int
    event_type: str
    payload: dict[str, Any]
    attempts: int
    secret: str | None = None
    url: str | None = None


class Channel(Protocol):
    name: str

    def send(self, d: Delivery) -> Outcome: ...


def webhook_body(d: Delivery) -> bytes:
    body = {"delivery": d.id, "position": d.position, "type": d.event_type, **d.payload}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookChannel:
    name = "webhook"

    def __init__(self, timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.timeout = timeout
        self.clock = clock

    def send(self, d: Delivery) -> Outcome:
        assert d.url is not None and d.secret is not None
        body = webhook_body(d)
        ts = str(int(self.clock()))
        request = urllib.request.Request(
            d.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Qualtrace-Webhooks/1",
                TIMESTAMP_HEADER: ts,
                SIGNATURE_HEADER: sign(d.secret, ts, body),
                DELIVERY_HEADER: str(d.id),
                POSITION_HEADER: str(d.position),
                EVENT_HEADER: d.event_type,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only, checked at registration
                return Outcome(200 <= response.status < 300, response.status)
        except urllib.error.HTTPError as e:
            return Outcome(False, e.code, f"HTTP {e.code}", gone=e.code == 410)
        except (OSError, ValueError) as e:  # refused, reset, timed out, bad URL
            return Outcome(False, None, f"{type(e).__name__}: {e}"[:500])


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "qualtrace@localhost"
    timeout: float = 10.0


class EmailChannel:
    name = "email"

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    def send(self, d: Delivery) -> Outcome:
        msg = EmailMessage()
        msg["From"] = self.smtp.sender
        msg["To"] = d.target
        msg["Subject"] = str(d.payload.get("subject", "Qualtrace"))
        msg["X-Qualtrace-Delivery"] = str(d.id)
        msg.set_content(str(d.payload.get("text", "")))
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout) as s:
                if self.smtp.starttls:
                    s.starttls()
                if self.smtp.user:
                    s.login(self.smtp.user, self.smtp.password or "")
                s.send_message(msg)
            return Outcome(True, 250)
        except smtplib.SMTPResponseException as e:
            return Outcome(False, e.smtp_code, f"SMTP {e.smtp_code}")
        except (OSError, smtplib.SMTPException) as e:
            return Outcome(False, None, f"{type(e).__name__}: {e}"[:500])


@dataclass
class Backoff:
    """Exponential backoff with full jitter in [delay/2, delay], capped; dead after N."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int) -> float:
        raw = min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return raw / 2 + self.rng.random() * raw / 2


class Outbox:
    """Claiming and recording deliveries (short transactions, never across a send)."""

    #: Deliveries of one subscription claimed together (sent one after the other, in order).
    PER_SUBSCRIPTION = 50

    def __init__(self, url: str, backoff: Backoff | None = None, lease_seconds: float = 60.0):
        self.url = url
        self.backoff = backoff or Backoff()
        self.lease_seconds = lease_seconds

    def claim(self, conn: psycopg.Connection[Any], limit: int = 200) -> list[Delivery]:
        """Due deliveries: for each webhook subscription, the longest run of due, unclaimed
        deliveries from its oldest unfinished one (position order); due e-mails. Each is
        leased (`claimed_until`) and its attempt counted, and the claim commits."""
        lease = timedelta(seconds=self.lease_seconds)
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                """SELECT x.id, w.id AS webhook_id, x.due FROM qt_webhooks w
                   CROSS JOIN LATERAL (
                       SELECT d.id, d.next_attempt_at <= now()
                              AND (d.claimed_until IS NULL OR d.claimed_until < now()) AS due
                       FROM qt_deliveries d
                       WHERE d.webhook_id = w.id AND d.status IN ('pending', 'failed')
                       ORDER BY d.position, d.id LIMIT %s) x
                   WHERE w.status = 'active'""",
                (self.PER_SUBSCRIPTION,),
            )
            runs: dict[Any, list[int]] = {}
            stopped: set[Any] = set()
            for r in cur.fetchall():  # in order per subscription: keep the due prefix
                w = r["webhook_id"]
                if w in stopped or not r["due"]:
                    stopped.add(w)
                    continue
                runs.setdefault(w, []).append(r["id"])
            wanted = [i for ids in runs.values() for i in ids]
            cur.execute(
                """SELECT id FROM qt_deliveries
                   WHERE status IN ('pending', 'failed') AND next_attempt_at <= now()
                     AND (claimed_until IS NULL OR claimed_until < now())
                     AND (id = ANY(%s) OR id IN (
                         SELECT id FROM qt_deliveries WHERE channel = 'email'
                           AND status IN ('pending', 'failed') AND next_attempt_at <= now()
                           AND (claimed_until IS NULL OR claimed_until < now())
                         ORDER BY id LIMIT %s))
                   FOR UPDATE SKIP LOCKED""",
                (wanted, limit),
            )
            locked = {r["id"] for r in cur.fetchall()}
            ids = [i for i in locked if i not in set(wanted)]  # e-mails
            for run in runs.values():  # a run stops at the first one another claimer holds
                for i in run:
                    if i not in locked:
                        break
                    ids.append(i)
            if not ids:
                return []
            cur.execute(
                """UPDATE qt_deliveries d SET claimed_until = now() + %s,
                       attempts = d.attempts + 1, updated_at = now()
                   WHERE d.id = ANY(%s)
                   RETURNING d.id, d.channel, d.target, d.position, d.event_type, d.payload,
                       d.attempts,
                       (SELECT w.secret FROM qt_webhooks w WHERE w.id = d.webhook_id) AS secret,
                       (SELECT w.url FROM qt_webhooks w WHERE w.id = d.webhook_id) AS url""",
                (lease, ids),
            )
            return sorted((Delivery(**r) for r in cur.fetchall()), key=lambda d: (d.position, d.id))

    def outcome_status(self, d: Delivery, outcome: Outcome) -> tuple[str, float | None]:
        if outcome.ok:
            return "sent", None
        if outcome.gone or d.attempts >= self.backoff.max_attempts:
            return "dead", None
        return "failed", self.backoff.delay(d.attempts)

    def record(
        self,
        conn: psycopg.Connection[Any],
        results: list[tuple[Delivery, Outcome | None]],
    ) -> list[str]:
        """Store what the sends gave, in one transaction; `None`: not sent (an earlier
        delivery of its subscription failed): the claim is released, the attempt uncounted."""
        statuses: list[str] = []
        with conn.transaction():
            for d, outcome in results:
                if outcome is None:
                    conn.execute(
                        "UPDATE qt_deliveries SET claimed_until = NULL, attempts = attempts - 1"
                        " WHERE id = %s",
                        (d.id,),
                    )
                    statuses.append("pending")
                    continue
                status, wait = self.outcome_status(d, outcome)
                statuses.append(status)
                conn.execute(
                    """UPDATE qt_deliveries SET status = %s, claimed_until = NULL,
                           last_status = %s, last_error = %s, updated_at = now(),
                           sent_at = CASE WHEN %s = 'sent' THEN now() ELSE sent_at END,
                           next_attempt_at = CASE WHEN %s::float8 IS NULL THEN next_attempt_at
                                             ELSE now() + make_interval(secs => %s::float8) END
                       WHERE id = %s""",
                    (status, outcome.status, outcome.error, status, wait, wait, d.id),
                )
                if outcome.gone and d.channel == "webhook":
                    conn.execute(
                        "UPDATE qt_webhooks SET status = 'disabled', status_reason = %s,"
                        " updated_at = now() WHERE status = 'active'"
                        " AND id = (SELECT webhook_id FROM qt_deliveries WHERE id = %s)",
                        ("the receiver answered 410 Gone", d.id),
                    )
        return statuses


class DeliveryLoop(BackgroundLoop):
    """Claims, sends (no connection checked out) and records deliveries until stopped."""

    thread_name = "deliveries"

    def __init__(
        self,
        url: str,
        channels: Mapping[str, Channel],
        outbox: Outbox | None = None,
        poll_seconds: float = 0.5,
        channel_name: str = "qt_deliveries",
    ) -> None:
        super().__init__()
        self.url = url
        self.channels = dict(channels)
        self.outbox = outbox or Outbox(url)
        self.poll_seconds = poll_seconds
        self.channel_name = channel_name
        self.sent = 0
        self._pool: ConnectionPool[Any] | None = None

    @property
    def pool(self) -> ConnectionPool[Any]:
        """One or two connections, checked out only to claim and to record (never while a
        delivery is being sent), opened on first use."""
        if self._pool is None:
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=2,
                kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
                open=True,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.close()

    def run_once(self) -> int:
        """Claim and send what is due now, until nothing is; return how many were tried."""
        done = 0
        while True:
            n = self._round()
            if n == 0:
                return done
            done += n

    def _round(self) -> int:
        with self.pool.connection() as conn:
            claimed = self.outbox.claim(conn)
        if not claimed:
            return 0
        results: list[tuple[Delivery, Outcome | None]] = []
        failed: set[str] = set()  # subscriptions whose earlier delivery failed in this round
        for d in claimed:  # no connection checked out while sending
            key = d.target if d.channel == "webhook" else f"email:{d.id}"
            if key in failed:
                results.append((d, None))
                continue
            outcome = self._send(d)
            if not outcome.ok:
                failed.add(key)
            results.append((d, outcome))
        with self.pool.connection() as conn:
            statuses = self.outbox.record(conn, results)
        self.sent += statuses.count("sent")
        return sum(1 for _, o in results if o is not None)

    def _send(self, d: Delivery) -> Outcome:
        channel = self.channels.get(d.channel)
        if channel is None:
            return Outcome(False, None, f"channel '{d.channel}' is not configured")
        try:
            return channel.send(d)
        except Exception as e:  # noqa: BLE001 - a channel's bug is this delivery's failure
            log.exception("delivery %s failed in channel %s", d.id, d.channel)
            return Outcome(False, None, f"{type(e).__name__}: {e}"[:500])

    def _session(self) -> None:
        with psycopg.connect(
            self.url, autocommit=True, application_name=f"{APPLICATION_NAME}-listen"
        ) as listen:
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel_name)))
            while not self._stop.is_set():
                if self._round():
                    continue
                for _ in listen.notifies(timeout=self.poll_seconds, stop_after=1):
                    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
