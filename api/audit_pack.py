"""Audit packs: one JSON file holding events exactly as stored, their hashes, the ledger
segment that seals them (from the entry before the first to the last), and a manifest — verifiable offline with `tools/verify_pack.py`
(Python's standard library only). The README describes the procedure step by step."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from api.presenters import masked_reporter, record_unmasked_read
from application.base import canonical_json
from application.security import UNMASKED_ROLES, Principal
from domain.errors import InvalidValue
from projections import audit, ledger
from store.integrity import state_digest

FORMAT = "qualtrace-audit-pack/1"
MAX_EVENTS = 50_000
#: The ledger segment of a pack spans every store event between its first and last one.
MAX_LEDGER = 1_000_000
HASH_SCHEME = {
    "state_sha256": "sha256(state bytes), hex",
    "event_hash": "sha256(utf8(issue_id + '\\n' + version + '\\n' + topic + '\\n' + prev_hash + '\\n' + state_sha256)), hex;"
    " prev_hash is the previous version's event_hash, 64 zeros for version 1",
    "chain_hash": "sha256(utf8(prev_chain_hash + '\\n' + position + '\\n' + event_hash)), hex;"
    " prev_chain_hash is the previous ledger entry's chain_hash, 64 zeros before entry 1",
    "digests": "sha256 of canonical JSON: keys sorted, separators (',', ':'), UTF-8, ensure_ascii false",
    "attachments": "each evidence file's digest is the sha256 of its bytes, hex; events name"
    " files in their payload's `attachments`",
}


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def file_bytes(pack: dict[str, Any]) -> bytes:
    """The exact bytes of a pack file: the verifier refuses any other layout, so that
    every changed byte is detected."""
    return json.dumps(pack, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def _redact(payload: Any) -> Any:
    if isinstance(payload, dict) and isinstance(payload.get("reporter"), dict):
        return {**payload, "reporter": masked_reporter(payload["reporter"])}
    return payload


def attachments_of(c: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every evidence file the pack's events name: digest, type, size, and which events
    (issue and version) name it. `tools/verify_pack.py --attachments DIR` checks the files."""
    named: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        payload = e["payload"]
        files = payload.get("attachments") if isinstance(payload, dict) else None
        for digest in files or []:
            named.setdefault(digest, []).append(
                {"issue_id": e["issue_id"], "version": e["version"]}
            )
    known = c.app.attachments.sizes(sorted(named))
    return [
        {
            "digest": digest,
            "media_type": known.get(digest, {}).get("media_type"),
            "size": known.get(digest, {}).get("size"),
            "named_by": named[digest],
        }
        for digest in sorted(named)
    ]


def build_pack(
    c: Any,
    principal: Principal,
    raw: list[dict[str, Any]],
    issues: dict[str, dict[str, Any]],
    subject: dict[str, Any],
) -> dict[str, Any]:
    """Assemble a pack from raw stored rows (`AuditQueries.raw_events`) and issue rows."""
    unmasked = principal.role in UNMASKED_ROLES
    positions = [r["position"] for r in raw]
    seq_of = ledger.seqs_of(c.pool, positions)
    entries: list[dict[str, Any]] = []
    if seq_of:
        # From the entry before the first sealed event (the anchor its chain starts
        # from; entry 1 starts from the genesis hash) to the last sealed event.
        first, last = max(min(seq_of.values()) - 1, 1), max(seq_of.values())
        if last - first >= MAX_LEDGER:
            raise InvalidValue(
                "to", f"the events span more than {MAX_LEDGER} ledger entries; narrow the pack"
            )
        entries = [dict(r) for r in ledger.segment(c.pool, first, last)]
    meta = audit.event_meta(c.pool, positions)
    events = []
    redacted = 0
    shown_unmasked: set[Any] = set()
    for r in raw:
        state = bytes(r["state"] or b"")
        payload = json.loads(state.decode("utf-8")) if state else None
        personal = payload != _redact(payload)
        hide = not unmasked and personal
        redacted += hide
        if personal and not hide:
            shown_unmasked.add(r["issue_id"])
        issue = issues.get(r["issue_id"], {})
        m = meta.get(r["position"])
        events.append(
            {
                "position": r["position"],
                "issue_id": r["issue_id"],
                "issue_number": issue.get("number"),
                "issue_kind": issue.get("kind"),
                "version": r["version"],
                "topic": r["topic"],
                "type": m["type"] if m else None,
                "occurred_at": m["occurred_at"].astimezone(timezone.utc).isoformat() if m else None,
                "actor": {"id": m["actor_id"], "name": m["actor_name"], "role": m["actor_role"]}
                if m
                else None,
                "prev_hash": r["prev_hash"],
                "event_hash": r["event_hash"],
                "state_sha256": state_digest(state),
                "state_b64": None if hide else base64.b64encode(state).decode("ascii"),
                "redacted": bool(hide),
                "payload": _redact(payload) if hide else payload,
                "ledger_seq": seq_of.get(r["position"]),
            }
        )
    for issue_id in shown_unmasked:
        issue = issues.get(issue_id, {})
        record_unmasked_read(
            c.app,
            principal,
            issue_id,
            issue.get("kind"),
            issue.get("number"),
            issue.get("project"),
            "audit pack",
        )
    head = entries[-1] if entries else None
    manifest = {
        "attachments": attachments_of(c, events),
        "format": FORMAT,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "generated_by": {"id": principal.id, "name": principal.name, "role": principal.role},
        "subject": subject,
        "issues": sorted(
            (
                {
                    "id": str(i["id"]),
                    "number": i.get("number"),
                    "kind": i.get("kind"),
                    "project": i.get("project"),
                }
                for i in issues.values()
            ),
            key=lambda i: (i["kind"] or "", i["number"] or "", i["id"]),
        ),
        "event_count": len(events),
        "redacted_count": redacted,
        "unsealed_count": sum(1 for e in events if e["ledger_seq"] is None),
        "ledger_head": {
            "seq": head["seq"],
            "position": head["position"],
            "chain_hash": head["chain_hash"],
        }
        if head
        else None,
        "hash_scheme": HASH_SCHEME,
        "events_sha256": digest(events),
        "ledger_sha256": digest(entries),
    }
    return {
        "manifest": manifest,
        "manifest_sha256": digest(manifest),
        "events": events,
        "ledger": entries,
    }
