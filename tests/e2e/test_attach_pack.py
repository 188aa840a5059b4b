"""Evidence files in audit packs (docs/attachments.md): the manifest lists every file the
events name, with type and size; `tools/verify_pack.py --attachments DIR` checks the
files given beside the pack, and reports a changed or missing one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.attach_files import pdf, photo, ticket

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_pack.py"
DESK = {"role": "front_desk", "user": "li.na", "name": "Li Na"}
SUP = {"role": "supervisor", "user": "zhao.lei", "name": "Zhao Lei"}
STAFF = {"role": "staff", "user": "wang.wei", "name": "Wang Wei"}
AUDITOR = {"role": "auditor", "user": "sun.li", "name": "Sun Li"}


def verify(pack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """As an auditor would: a bare interpreter, no site-packages, no project on the path."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(VERIFIER), str(pack), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=pack.parent,
    )


def upload(api: Any, data: bytes, name: str, media_type: str, who: dict[str, str]) -> str:
    r = api.client.post(
        "/attachments", files={"file": (name, data, media_type)}, headers=api.token(**who)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["digest"])


def test_a_pack_lists_its_files_and_the_verifier_checks_them(api: Any, tmp_path: Path) -> None:
    api.setup_org()
    before = upload(api, photo(color=(90, 10, 10)), "before.jpg", "image/jpeg", DESK)
    t = api.post("/tickets", ticket(attachments=[before]), **DESK).json()
    api.post(
        f"/tickets/{t['id']}/dispatch", {"department": "engineering", "assignee": "wang.wei"}, **SUP
    )
    api.post(f"/tickets/{t['id']}/accept", {}, **STAFF)
    after = upload(api, photo(color=(10, 90, 10)), "after.jpg", "image/jpeg", STAFF)
    order = upload(api, pdf("work order"), "order.pdf", "application/pdf", STAFF)
    done = api.post(
        f"/tickets/{t['id']}/resolve",
        {"resolution": "更换水管", "attachments": [after, order]},
        **STAFF,
    )
    assert done.status_code == 200, done.text

    r = api.get(
        f"/audit/{t['number']}/pack", params={"min_position": done.json()["position"]}, **AUDITOR
    )
    assert r.status_code == 200, r.text
    listed = json.loads(r.content)["manifest"]["attachments"]
    assert [(a["digest"], a["media_type"]) for a in listed] == sorted(
        [(before, "image/jpeg"), (after, "image/jpeg"), (order, "application/pdf")]
    )
    assert {a["digest"]: a["named_by"][0]["version"] for a in listed} == {
        before: 1,
        after: 4,
        order: 4,
    }
    pack = tmp_path / "audit-pack.json"
    pack.write_bytes(r.content)

    # Without the files: verified, with a note that they were not checked.
    alone = verify(pack)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "3 attachment(s) listed" in alone.stdout

    # The files, downloaded by the auditor into a directory, named by digest.
    files = tmp_path / "files"
    files.mkdir()
    for a in listed:
        got = api.get(f"/attachments/{a['digest']}", **AUDITOR)
        assert got.status_code == 200 and len(got.content) == a["size"]
        ext = ".pdf" if a["media_type"] == "application/pdf" else ""
        (files / f"{a['digest']}{ext}").write_bytes(got.content)
    good = verify(pack, "--attachments", str(files))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "3 of 3 attachment file(s) match their digests" in good.stdout
    # Beside the pack, in `<pack>.attachments`, they are found without the option.
    shutil.copytree(files, tmp_path / "audit-pack.attachments")
    assert "3 of 3" in verify(pack).stdout

    # One changed byte in the "after" photo: reported, naming the file.
    changed = bytearray((files / after).read_bytes())
    changed[len(changed) // 2] ^= 0x01
    (files / after).write_bytes(bytes(changed))
    bad = verify(pack, "--attachments", str(files))
    assert bad.returncode == 1
    assert f"FAIL: attachment {after}: its bytes do not hash to its digest" in bad.stdout
    # A missing file: reported too.
    (files / f"{order}.pdf").unlink()
    bad = verify(pack, "--attachments", str(files))
    assert bad.returncode == 1 and f"attachment {order} is missing from" in bad.stdout


def test_a_manifest_that_drops_a_file_fails_even_without_the_files(api: Any) -> None:
    """The manifest is hashed, and the verifier holds it to the events' own digests."""
    import importlib.util

    api.setup_org()
    before = upload(api, photo(), "before.jpg", "image/jpeg", DESK)
    t = api.post("/tickets", ticket(attachments=[before]), **DESK).json()
    raw = api.get(
        f"/audit/{t['number']}/pack", params={"min_position": t["position"]}, **AUDITOR
    ).content
    spec = importlib.util.spec_from_file_location("verify_pack_attach", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.verify_bytes(raw).ok
    # Re-seal a manifest without the file (as a forger would): the events still name it.
    pack = json.loads(raw)
    pack["manifest"]["attachments"] = []
    pack["manifest_sha256"] = module.sha256_hex(module.canonical(pack["manifest"]))
    report = module.verify_bytes(module.file_bytes(pack))
    assert not report.ok
    assert f"attachment {before} is named by an event but not listed in the manifest" in (
        report.failures
    )
