"""Policy tables as data. Each result records the policy that produced it."""

from __future__ import annotations

from typing import Any

from domain.vocabulary import PRIORITIES

#: Default ticket SLA in minutes (DOMAIN.md §1): response = dispatch, resolution = resolved.
DEFAULT_SLA: dict[str, dict[str, int]] = {
    "response": {"urgent": 15, "high": 30, "normal": 120, "low": 24 * 60},
    "resolution": {"urgent": 4 * 60, "high": 24 * 60, "normal": 72 * 60, "low": 7 * 24 * 60},
}

#: Unreached callback attempts after which a supervisor may close with an override.
DEFAULT_UNREACHED_ATTEMPTS_FOR_OVERRIDE = 3


def validate_sla(policy: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Return a complete SLA table, or raise ValueError naming the missing entry."""
    out: dict[str, dict[str, int]] = {}
    for phase in ("response", "resolution"):
        table = policy.get(phase)
        if not isinstance(table, dict):
            raise ValueError(f"SLA policy lacks '{phase}'")
        out[phase] = {}
        for prio in PRIORITIES:
            minutes = table.get(prio)
            if not isinstance(minutes, int) or minutes <= 0:
                raise ValueError(f"SLA policy {phase}.{prio} must be a positive number of minutes")
            out[phase][prio] = minutes
    return out
