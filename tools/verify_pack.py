#!/usr/bin/env python3
"""Verify a Qualtrace audit pack offline, with Python's standard library only.

    python3 verify_pack.py audit-pack-TK-2026-000123.json     (exit 0: intact, 1: not)
    python3 verify_pack.py audit-pack-TK-2026-000123.json --attachments DIR

Copy this one file anywhere; it imports nothing outside the standard library (run it
with `python3 -I -S` to be sure). It checks, in order:

1. The file is exactly the canonical form of its JSON (keys sorted, indent 1, UTF-8):
   a changed byte is either unreadable JSON, a changed value, or non-canonical layout.
2. The manifest hashes to `manifest_sha256`; the events and ledger segment hash to the
   manifest's `events_sha256` and `ledger_sha256`; counts agree.
3. Each event's stored bytes (`state_b64`) hash to its `state_sha256` and decode to its
   `payload` (a redacted event carries only the digest), and the event hashes to its
   `event_hash`: sha256(issue_id \\n version \\n topic \\n prev_hash \\n state_sha256).
4. Each issue's events chain: versions follow one another, version 1 starts from 64
   zeros, every `prev_hash` is the `event_hash` of the version before. A trace pack must
   hold every issue's events from version 1.
5. The ledger segment chains: chain_hash = sha256(prev_chain_hash \\n position \\n
   event_hash), entry after entry, and every sealed event is the one its entry sealed.
6. The manifest lists exactly the evidence files the events name (their payloads'
   `attachments`, by SHA-256 digest). With the files given beside the pack (in DIR, each
   named by its digest, with or without an extension; by default the directory
   `<pack name without .json>.attachments` next to the pack, if there is one), each file
   must be there, of the listed size, and hash to its digest: a changed file is reported.

What it cannot tell alone: that the pack is the system's and not a forger's complete
rewrite. For that, compare the pack's ledger head (printed at the end) with the ledger
entry of the same `seq` in the live system (a later pack, or `GET /audit/integrity`
when nothing was written since) or with a head hash recorded elsewhere earlier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from typing import Any

FORMAT = "qualtrace-audit-pack/1"
GENESIS = "0" * 64
TOP_KEYS = {"manifest", "manifest_sha256", "events", "ledger"}


def canonical(value: Any) -> bytes:
    """The bytes digests are taken of: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def file_bytes(pack: Any) -> bytes:
    """The exact bytes of a pack file."""
    return json.dumps(pack, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def event_hash(issue_id: str, version: int, topic: str, prev_hash: str, state_sha256: str) -> str:
    return sha256_hex(f"{issue_id}\n{version}\n{topic}\n{prev_hash}\n{state_sha256}".encode())


def chain_hash(prev_chain_hash: str, position: int, event_hash_hex: str) -> str:
    return sha256_hex(f"{prev_chain_hash}\n{position}\n{event_hash_hex}".encode())


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.notes: list[str] = []

    def fail(self, message: str) -> None:
        self.failures.append(message)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_bytes(raw: bytes, attachments_dir: str | None = None) -> Report:
    """Every check above on the bytes of one pack file (and the files in `attachments_dir`)."""
    report = Report()
    try:
        pack = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        report.fail(f"not a readable JSON file: {e}")
        return report
    if file_bytes(pack) != raw:
        report.fail("the file is not in its canonical form (bytes were changed, added or removed)")
    if not isinstance(pack, dict) or set(pack) != TOP_KEYS:
        report.fail(f"the pack must hold exactly {sorted(TOP_KEYS)}")
        return report
    try:
        _verify(pack, report)
        _verify_attachments(pack, report, attachments_dir)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        report.fail(f"malformed pack: {type(e).__name__}: {e}")
    return report


def _named_files(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """digest -> the (issue, version) of each event whose payload names the file."""
    named: dict[str, list[tuple[str, int]]] = {}
    for e in events:
        payload = e["payload"]
        files = payload.get("attachments") if isinstance(payload, dict) else None
        for digest in files or []:
            named.setdefault(digest, []).append((e["issue_id"], e["version"]))
    return named


def _file_for(directory: str, digest: str) -> str | None:
    """The file named `digest` (or `digest.<extension>`) in `directory`."""
    for name in sorted(os.listdir(directory)):
        if name == digest or name.startswith(digest + "."):
            return os.path.join(directory, name)
    return None


def _verify_attachments(pack: dict[str, Any], report: Report, directory: str | None) -> None:
    # 6. the evidence files
    listed = pack["manifest"].get("attachments", [])
    by_digest = {a["digest"]: a for a in listed}
    if len(by_digest) != len(listed):
        report.fail("the manifest lists an attachment twice")
    named = _named_files(pack["events"])
    for digest in sorted(set(named) - set(by_digest)):
        report.fail(f"attachment {digest} is named by an event but not listed in the manifest")
    for digest in sorted(set(by_digest) - set(named)):
        report.fail(f"attachment {digest} is listed in the manifest but no event names it")
    for digest, entry in sorted(by_digest.items()):
        if digest in named and sorted(
            (n["issue_id"], n["version"]) for n in entry["named_by"]
        ) != sorted(named[digest]):
            report.fail(f"attachment {digest}: the manifest's named_by is not the events'")
    if directory is None:
        if listed:
            report.notes.append(
                f"{len(listed)} attachment(s) listed; give the files with --attachments DIR"
                " to check them"
            )
        return
    if not os.path.isdir(directory):
        report.fail(f"the attachments directory {directory} does not exist")
        return
    checked = 0
    for digest, entry in sorted(by_digest.items()):
        path = _file_for(directory, digest)
        if path is None:
            report.fail(f"attachment {digest} is missing from {directory}")
            continue
        with open(path, "rb") as f:
            data = f.read()
        if sha256_hex(data) != digest:
            report.fail(
                f"attachment {os.path.basename(path)}: its bytes do not hash to its digest (changed)"
            )
        elif entry.get("size") is not None and len(data) != entry["size"]:
            report.fail(
                f"attachment {digest}: {len(data)} bytes, the manifest says {entry['size']}"
            )
        else:
            checked += 1
    report.notes.append(f"{checked} of {len(listed)} attachment file(s) match their digests")


def _verify(pack: dict[str, Any], report: Report) -> None:
    manifest, events, ledger = pack["manifest"], pack["events"], pack["ledger"]
    # 2. digests and counts
    if manifest.get("format") != FORMAT:
        report.fail(f"unknown format {manifest.get('format')!r} (expected {FORMAT})")
    if sha256_hex(canonical(manifest)) != pack["manifest_sha256"]:
        report.fail("the manifest does not hash to manifest_sha256")
    if sha256_hex(canonical(events)) != manifest["events_sha256"]:
        report.fail("the events do not hash to the manifest's events_sha256")
    if sha256_hex(canonical(ledger)) != manifest["ledger_sha256"]:
        report.fail("the ledger segment does not hash to the manifest's ledger_sha256")
    if manifest["event_count"] != len(events):
        report.fail(
            f"the manifest counts {manifest['event_count']} events, the pack holds {len(events)}"
        )
    positions = [e["position"] for e in events]
    if positions != sorted(set(positions)):
        report.fail("events are not in strictly increasing position order")

    # 3. each event
    for e in events:
        where = f"event at position {e['position']} ({e['issue_id']} v{e['version']})"
        if e["state_b64"] is None:
            if not e["redacted"]:
                report.fail(f"{where}: no stored bytes although not redacted")
        else:
            state = base64.b64decode(e["state_b64"], validate=True)
            if sha256_hex(state) != e["state_sha256"]:
                report.fail(f"{where}: the stored bytes do not hash to state_sha256")
            if (json.loads(state.decode("utf-8")) if state else None) != e["payload"]:
                report.fail(f"{where}: the payload is not what the stored bytes say")
        if (
            event_hash(e["issue_id"], e["version"], e["topic"], e["prev_hash"], e["state_sha256"])
            != e["event_hash"]
        ):
            report.fail(f"{where}: does not hash to its event_hash")

    # 4. per-issue chains
    by_issue: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_issue.setdefault(e["issue_id"], []).append(e)
    trace = manifest["subject"].get("type") == "trace"
    for issue_id, chain in by_issue.items():
        chain.sort(key=lambda x: x["version"])
        first = chain[0]
        if first["version"] == 1:
            if first["prev_hash"] != GENESIS:
                report.fail(f"{issue_id} v1: prev_hash is not the genesis hash")
        elif trace:
            report.fail(f"{issue_id}: the trace pack lacks versions 1 to {first['version'] - 1}")
        else:
            report.notes.append(
                f"{issue_id}: the period starts at version {first['version']} (its chain is checked from there)"
            )
        for before, after in zip(chain, chain[1:], strict=False):
            if after["version"] != before["version"] + 1:
                report.fail(
                    f"{issue_id}: version {after['version']} follows version {before['version']}"
                )
            elif after["prev_hash"] != before["event_hash"]:
                report.fail(
                    f"{issue_id} v{after['version']}: prev_hash is not the event_hash of v{before['version']}"
                )

    # 5. the ledger segment
    by_seq = {entry["seq"]: entry for entry in ledger}
    anchored = bool(ledger) and ledger[0]["seq"] == 1
    if (
        anchored
        and chain_hash(GENESIS, ledger[0]["position"], ledger[0]["event_hash"])
        != ledger[0]["chain_hash"]
    ):
        report.fail("ledger entry 1 does not chain to the genesis hash")
    for before, after in zip(ledger, ledger[1:], strict=False):
        if after["seq"] != before["seq"] + 1:
            report.fail(f"ledger entry {after['seq']} follows entry {before['seq']}")
        elif (
            chain_hash(before["chain_hash"], after["position"], after["event_hash"])
            != after["chain_hash"]
        ):
            report.fail(f"ledger entry {after['seq']} does not chain to entry {before['seq']}")
    unsealed = 0
    for e in events:
        seq = e["ledger_seq"]
        if seq is None:
            unsealed += 1
            continue
        entry = by_seq.get(seq)
        if entry is None:
            report.fail(
                f"event at position {e['position']}: its ledger entry {seq} is not in the segment"
            )
        elif entry["position"] != e["position"] or entry["event_hash"] != e["event_hash"]:
            report.fail(
                f"event at position {e['position']}: ledger entry {seq} sealed another event"
            )
        elif seq == ledger[0]["seq"] and not anchored:
            report.fail(
                f"event at position {e['position']}: sealed by the segment's anchor entry, which is not checked"
            )
    if unsealed != manifest["unsealed_count"]:
        report.fail(
            f"the manifest counts {manifest['unsealed_count']} unsealed events, the pack holds {unsealed}"
        )
    if unsealed:
        report.notes.append(
            f"{unsealed} event(s) were not yet sealed by the ledger when the pack was made"
            " (their issue chains are checked, not their place in the store)"
        )
    head = manifest["ledger_head"]
    last = ledger[-1] if ledger else None
    expected = (
        {"seq": last["seq"], "position": last["position"], "chain_hash": last["chain_hash"]}
        if last
        else None
    )
    if head != expected:
        report.fail("the manifest's ledger_head is not the last entry of the segment")


def main(argv: list[str]) -> int:
    args = argv[1:]
    directory = None
    if len(args) == 3 and args[1] == "--attachments":
        directory = args[2]
        args = args[:1]
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    path = args[0]
    beside = (path[:-5] if path.endswith(".json") else path) + ".attachments"
    if directory is None and os.path.isdir(beside):
        directory = beside
    with open(path, "rb") as f:
        raw = f.read()
    report = verify_bytes(raw, directory)
    for note in report.notes:
        print(f"note: {note}")
    if not report.ok:
        for failure in report.failures:
            print(f"FAIL: {failure}")
        print(f"NOT VERIFIED: {len(report.failures)} problem(s) in {path}")
        return 1
    pack = json.loads(raw.decode("utf-8"))
    m = pack["manifest"]
    issues = len({e["issue_id"] for e in pack["events"]})
    print(
        f"VERIFIED: {m['event_count']} events of {issues} issue(s), {m['redacted_count']} redacted,"
        f" {m['event_count'] - m['unsealed_count']} sealed by the ledger"
    )
    print(f"manifest_sha256 {pack['manifest_sha256']}")
    if m["ledger_head"]:
        h = m["ledger_head"]
        print(f"ledger head: seq {h['seq']} position {h['position']} chain_hash {h['chain_hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
