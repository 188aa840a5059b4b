"""`qualtrace projections status`: how far each projection is behind the store, and
whether it is stuck, so that the command can serve as a container health check.

Two samples, `interval` seconds apart, each reading the store head (the highest stored
position) and every live projection's tracking position. A projection is

- `caught up` when at the second sample its position is at the head (lag 0);
- `catching up` when it is behind but moved between the samples, or is behind only by
  events stored after the first sample (a live runner wakes within half a second);
- `stuck` when at the second sample it has still not consumed events that were already
  stored at the first, and its position did not move at all in between. A projection
  that fails is retried from where it stands, so a failing one is stuck too; so is every
  projection while a long transaction on the server holds the read horizon back (see
  docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CAUGHT_UP = "caught up"
CATCHING_UP = "catching up"
STUCK = "stuck"


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    lag: int
    state: str


@dataclass(frozen=True)
class StoreStatus:
    head: int
    interval: float
    projections: list[ProjectionStatus]

    @property
    def healthy(self) -> bool:
        return all(p.state != STUCK for p in self.projections)

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "interval_seconds": self.interval,
            "healthy": self.healthy,
            "projections": {
                p.name: {"position": p.position, "lag": p.lag, "state": p.state}
                for p in self.projections
            },
        }


def classify(
    head_before: int, before: dict[str, int], head: int, after: dict[str, int]
) -> list[ProjectionStatus]:
    """The state of each projection from two samples (see the module docstring)."""
    out = []
    for name in sorted(after):
        position = after[name]
        lag = max(0, head - position)
        if lag == 0:
            state = CAUGHT_UP
        elif position < head_before and position == before.get(name, position):
            state = STUCK
        else:
            state = CATCHING_UP
        out.append(ProjectionStatus(name, position, lag, state))
    return out


def sample_status(
    read: Callable[[], tuple[int, dict[str, int]]],
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
) -> StoreStatus:
    """`read()` returns (store head, {projection: position}); it is called twice."""
    head_before, before = read()
    sleep(interval)
    head, after = read()
    return StoreStatus(head, interval, classify(head_before, before, head, after))
