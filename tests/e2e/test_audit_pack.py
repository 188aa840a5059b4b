"""Audit packs: one file per trace or period, verified offline by `tools/verify_pack.py`
with Python's standard library only; any one changed byte makes verification fail."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_pack.py"
DESK = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
SUP = {"role": "supervisor", "user": "zhao.lei", "name": "Zhao Lei"}
QM = {"role": "quality_manager", "user": "zhou.min", "name": "Zhou Min"}
AUDITOR = {"role": "auditor", "user": "sun.li", "name": "Sun Li"}
TICKET = {
    "project": "P1",
    "kind": "complaint",
    "channel": "phone",
    "priority": "high",
    "category": "保洁",
    "description": "楼道三天没有清扫",
    "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
}


def verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_pack", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_verifier(path: Path) -> subprocess.CompletedProcess[str]:
    """As an auditor would: a bare interpreter, no site-packages (-I -S), no project on the path."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(VERIFIER), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
    )


def scenario(api: Any) -> dict[str, Any]:
    api.setup_org()
    t = api.post("/tickets", TICKET, **DESK).json()
    api.post(
        f"/tickets/{t['id']}/dispatch", {"department": "cleaning", "assignee": "wang.wei"}, **SUP
    )
    esc = api.post(
        f"/tickets/{t['id']}/escalate", {"reason": "重复投诉", "severity": "major"}, **SUP
    ).json()
    r = api.post(
        f"/nonconformances/{esc['nonconformance']['id']}/notice",
        {"responsible_department": "cleaning", "responsible_person": "Wang Qiang"},
        **QM,
    ).json()
    # Wait for every projection, the ledger included, so every event is sealed.
    api.get("/audit/events", params={"min_position": r["position"]}, **AUDITOR)
    api.container.run_projections_once()
    return {"ticket": t, "nc": esc["nonconformance"]}


def test_a_trace_pack_verifies_offline_and_any_changed_byte_fails(api: Any, tmp_path: Path) -> None:
    s = scenario(api)
    r = api.get(f"/audit/{s['ticket']['number']}/pack", **AUDITOR)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    raw = r.content
    pack = json.loads(raw)
    manifest = pack["manifest"]
    assert manifest["subject"]["type"] == "trace"
    assert {i["number"] for i in manifest["issues"]} == {s["ticket"]["number"], s["nc"]["number"]}
    assert manifest["event_count"] == len(pack["events"]) >= 5 and manifest["unsealed_count"] == 0
    assert r.headers["X-Pack-Manifest-SHA256"] == pack["manifest_sha256"]
    # The auditor may not see personal data: the ticket's reporter is withheld, only its digest given.
    received = next(
        e
        for e in pack["events"]
        if e["issue_number"] == s["ticket"]["number"] and e["version"] == 1
    )
    assert received["redacted"] is True and received["state_b64"] is None
    assert received["payload"]["reporter"]["phone"] == "138****5678"
    assert b"13812345678" not in raw

    path = tmp_path / "pack.json"
    path.write_bytes(raw)
    good = run_verifier(path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("VERIFIED") and pack["manifest_sha256"] in good.stdout

    # One byte changed anywhere (a digit, a letter, a quote, layout) is caught.
    check = verifier().verify_bytes
    assert check(raw).ok
    rng = random.Random(6)
    spots = rng.sample(range(len(raw)), 150) + [
        raw.index(b'"event_hash"') + 20,
        raw.index(b'"chain_hash"') + 20,
        raw.index(b'"state_b64": "') + 20,
        len(raw) - 1,
    ]
    for i in spots:
        changed = bytearray(raw)
        changed[i] = (changed[i] + 1) % 256
        assert not check(bytes(changed)).ok, (i, raw[max(0, i - 30) : i + 30])
    # And through the script: a changed byte in a stored event's bytes (re-encoded validly) fails.
    forged = json.loads(raw)
    event = next(e for e in forged["events"] if e["state_b64"])
    event["state_b64"] = event["state_b64"][:-4] + (
        "AAAA" if event["state_b64"][-4:] != "AAAA" else "BBBB"
    )
    bad_path = tmp_path / "forged.json"
    bad_path.write_bytes(verifier().file_bytes(forged))
    bad = run_verifier(bad_path)
    assert bad.returncode == 1 and "NOT VERIFIED" in bad.stdout
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x01
    bad_path.write_bytes(bytes(flipped))
    assert run_verifier(bad_path).returncode == 1


def test_a_consistently_rewritten_event_fails_on_its_chain(api: Any) -> None:
    """A forger who edits an event and recomputes its own hash and every digest still breaks
    the issue chain (and the ledger) that the pack carries."""
    s = scenario(api)
    v = verifier()
    pack = json.loads(api.get(f"/audit/{s['ticket']['number']}/pack", **AUDITOR).content)
    event = next(e for e in pack["events"] if e["type"] == "Dispatched")
    event["payload"]["department"] = "security"
    import base64

    state = json.dumps(event["payload"]).encode()
    event["state_b64"] = base64.b64encode(state).decode()
    event["state_sha256"] = v.sha256_hex(state)
    event["event_hash"] = v.event_hash(
        event["issue_id"],
        event["version"],
        event["topic"],
        event["prev_hash"],
        event["state_sha256"],
    )
    pack["manifest"]["events_sha256"] = v.sha256_hex(v.canonical(pack["events"]))
    pack["manifest_sha256"] = v.sha256_hex(v.canonical(pack["manifest"]))
    report = v.verify_bytes(v.file_bytes(pack))
    assert not report.ok
    assert any("prev_hash" in f for f in report.failures) and any(
        "ledger entry" in f for f in report.failures
    )


def test_a_period_pack_holds_the_scoped_events_of_the_period_and_verifies(
    api: Any, tmp_path: Path, clock: Any
) -> None:
    s = scenario(api)
    frm = "2026-03-01T00:00:00+00:00"
    to = clock.now.replace(year=2027).isoformat()
    r = api.get("/audit/pack", params={"from": frm, "to": to}, **AUDITOR)
    assert r.status_code == 200, r.text
    pack = json.loads(r.content)
    assert pack["manifest"]["subject"] == {"type": "period", "from": frm, "to": to}
    numbers = {e["issue_number"] for e in pack["events"]}
    assert {s["ticket"]["number"], s["nc"]["number"], "P1", "SH"} <= numbers
    path = tmp_path / "period.json"
    path.write_bytes(r.content)
    done = run_verifier(path)
    assert done.returncode == 0, done.stdout
    # A project manager of P2 gets a pack without P1's issues, verifiable all the same.
    r = api.get(
        "/audit/pack",
        params={"from": frm, "to": to},
        role="project_manager",
        user="pm2",
        projects=("P2",),
    )
    assert r.status_code == 200, r.text
    scoped = json.loads(r.content)
    assert s["ticket"]["number"] not in {e["issue_number"] for e in scoped["events"]}
    assert verifier().verify_bytes(r.content).ok
    assert api.get("/audit/pack", params={"from": frm}, **AUDITOR).status_code == 422
