"""The delivery outbox's retry policy: exponential backoff with jitter and a cap, dead
after N attempts, 410 Gone is final; and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import random

from store.delivery import Backoff, Delivery, Outbox, Outcome, sign


def delivery(attempts: int) -> Delivery:
    return Delivery(1, "webhook", "w", 7, "Ticket.Received", {}, attempts)


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    b = Backoff(base_seconds=2, cap_seconds=60, max_attempts=8, rng=random.Random(7))
    for attempts in range(1, 12):
        raw = min(60, 2 * 2 ** (attempts - 1))
        delays = [b.delay(attempts) for _ in range(200)]
        assert all(raw / 2 <= d <= raw for d in delays), attempts
        assert len(set(delays)) > 100  # jittered, not a fixed schedule
    assert max(b.delay(30) for _ in range(100)) <= 60


def test_a_failure_is_retried_until_the_last_attempt_then_dead_and_410_is_final() -> None:
    outbox = Outbox("postgresql://unused", Backoff(max_attempts=3, rng=random.Random(1)))
    fail = Outcome(False, 503, "HTTP 503")
    assert outbox.outcome_status(delivery(1), fail)[0] == "failed"
    assert outbox.outcome_status(delivery(2), fail)[0] == "failed"
    assert outbox.outcome_status(delivery(3), fail) == ("dead", None)
    assert outbox.outcome_status(delivery(1), Outcome(False, 410, gone=True)) == ("dead", None)
    assert outbox.outcome_status(delivery(1), Outcome(True, 200)) == ("sent", None)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"position":7}'
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k" * 16, "1700000000", body) == "v1=" + expected
