"""Evidence files over HTTP (issue #16 item 4; docs/attachments.md): upload, read within
the scope of the issues that reference them, name them from commands by digest. Bad
input is a clear 4xx and stores nothing."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest

from qualtrace.settings import Settings
from tests.attach_files import GPS, gps_of, pdf, photo, ticket

LIMIT = 300_000


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url, pool_size=4, read_wait_seconds=5.0, attachment_max_bytes=LIMIT
    )


def upload(
    api: Any,
    data: bytes,
    name: str | None = "photo.jpg",
    declared: str | None = "image/jpeg",
    role: str = "front_desk",
    **who: Any,
) -> Any:
    part: tuple[Any, ...] = (name, data, declared) if declared else (name, data)
    return api.client.post("/attachments", files={"file": part}, headers=api.token(role, **who))


def stored(api: Any) -> tuple[int, int, int]:
    """Rows of files, uploads and references."""
    with psycopg.connect(api.container.url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM qt_attachments), (SELECT count(*) FROM"
            " qt_attachment_uploads), (SELECT count(*) FROM qt_attachment_refs)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_an_upload_answers_the_digest_of_the_stored_bytes_and_serves_them(api: Any) -> None:
    api.setup_org()
    original = photo()
    r = upload(api, original, "门厅 漏水.jpg")
    assert r.status_code == 201, r.text
    body = r.json()
    digest = body["digest"]
    assert body["media_type"] == "image/jpeg" and body["gps_removed"] is True
    assert body["name"] == "门厅 漏水.jpg" and body["received_size"] == len(original)
    assert r.headers["location"] == f"/attachments/{digest}"
    # Its uploader reads the stored bytes: GPS gone, the digest is theirs.
    got = api.get(f"/attachments/{digest}", role="front_desk")
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == digest == got.headers["etag"].strip('"')
    assert got.headers["content-type"] == "image/jpeg" and body["size"] == len(got.content)
    assert gps_of(original) == GPS and gps_of(got.content) == {}
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''%E9%97%A8" in got.headers["content-disposition"]
    thumb = api.get(f"/attachments/{digest}/thumbnail", role="front_desk")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert len(thumb.content) < len(got.content)
    # The same bytes again: the same file, one row.
    again = upload(api, original, "again.jpg")
    assert again.status_code == 201 and again.json()["digest"] == digest
    assert stored(api) == (1, 1, 0)


def test_a_pdf_is_served_as_uploaded_and_has_no_thumbnail(api: Any) -> None:
    api.setup_org()
    r = upload(api, pdf(), "report.pdf", "application/pdf", role="staff")
    assert r.status_code == 201, r.text
    digest = r.json()["digest"]
    assert digest == hashlib.sha256(pdf()).hexdigest() and r.json()["thumbnail_url"] is None
    assert api.get(f"/attachments/{digest}", role="staff").content == pdf()
    assert api.get(f"/attachments/{digest}/thumbnail", role="staff").status_code == 404


@pytest.mark.parametrize(
    "case, status, words",
    [
        ("over the limit", 413, f"limit of {LIMIT} bytes"),
        ("declared otherwise", 422, "declared as image/png but the file's bytes are image/jpeg"),
        ("named otherwise", 422, "says application/pdf but its bytes are image/jpeg"),
        ("path trick", 422, "contains a path separator"),
        ("not an accepted type", 415, "accepted types"),
        ("truncated", 422, "the image/jpeg image is truncated"),
        ("not multipart", 415, "multipart/form-data"),
        ("no file part", 422, "file: is required"),
    ],
)
def test_bad_uploads_are_refused_naming_what_is_wrong_and_store_nothing(
    api: Any, case: str, status: int, words: str
) -> None:
    api.setup_org()
    h = api.token("staff")
    big = photo("PNG", size=(1200, 1200), gps=False)
    big = big + b"\0" * max(0, LIMIT + 10 - len(big))
    r = {
        "over the limit": lambda: upload(api, big, "big.png", "image/png", role="staff"),
        "declared otherwise": lambda: upload(api, photo(), "a.jpg", "image/png", role="staff"),
        "named otherwise": lambda: upload(
            api, photo(), "a.pdf", "application/octet-stream", role="staff"
        ),
        "path trick": lambda: upload(api, photo(), "../../evidence/a.jpg", role="staff"),
        "not an accepted type": lambda: upload(api, b"GIF89a" + b"\0" * 64, "a", None, "staff"),
        "truncated": lambda: upload(api, photo()[:-600], "cut.jpg", role="staff"),
        "not multipart": lambda: api.client.post(
            "/attachments", content=photo(), headers={**h, "Content-Type": "image/jpeg"}
        ),
        "no file part": lambda: api.client.post(
            "/attachments", files={"other": ("a.jpg", photo(), "image/jpeg")}, headers=h
        ),
    }[case]()
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"], r.json()
    assert stored(api) == (0, 0, 0)


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(api: Any) -> None:
    api.setup_org()
    r = upload(api, b"\xff\xd8\xff" + b"\0" * (LIMIT + 100_000), "a.jpg", role="staff")
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    assert stored(api) == (0, 0, 0)


def test_roles_that_take_no_evidence_may_not_upload(api: Any) -> None:
    api.setup_org()
    for role in ("auditor", "reporting", "admin"):
        assert upload(api, photo(), role=role).status_code == 403, role
    assert stored(api) == (0, 0, 0)


def test_who_may_read_a_file_follows_the_issues_that_reference_it(api: Any) -> None:
    api.setup_org()
    digest = upload(api, photo(), "before.jpg", user="desk-1").json()["digest"]
    # Unreferenced: its uploader only; anyone else, in any scope, gets the 404 of a
    # digest that names nothing.
    missing = api.get(f"/attachments/{'0' * 64}", role="supervisor").json()
    assert api.get(f"/attachments/{digest}", role="front_desk", user="desk-1").status_code == 200
    for role, scope in (("supervisor", {}), ("auditor", {}), ("front_desk", {"user": "desk-2"})):
        r = api.get(f"/attachments/{digest}", role=role, **scope)
        assert (r.status_code, r.json()) == (404, missing), role
    # A P1 ticket references it (before photos at reception).
    t = api.post("/tickets", ticket("P1", attachments=[digest]), role="front_desk", user="desk-1")
    assert t.status_code == 201, t.text
    view = api.get(f"/tickets/{t.json()['id']}", role="supervisor").json()
    assert view["attachments"] == [
        {
            "digest": digest,
            "media_type": "image/jpeg",
            "size": len(api.get(f"/attachments/{digest}", role="supervisor").content),
            "step": "receive",
            "version": 1,
            "position": t.json()["position"],
            "url": f"/attachments/{digest}",
            "thumbnail_url": f"/attachments/{digest}/thumbnail",
        }
    ]
    for role, scope in (
        ("supervisor", {}),
        ("auditor", {}),
        ("staff", {"projects": ("P1",)}),
        ("quality_manager", {"region": "SH"}),
    ):
        r = api.get(f"/attachments/{digest}", role=role, **scope)
        assert r.status_code == 200, (role, scope, r.text)
        assert api.get(f"/attachments/{digest}/thumbnail", role=role, **scope).status_code == 200
    # Outside P1: 404 exactly as for nothing; a role that reads no issues: 403.
    for role, scope in (("staff", {"projects": ("P2",)}), ("auditor", {"region": "BJ"})):
        r = api.get(f"/attachments/{digest}", role=role, **scope)
        assert (r.status_code, r.json()) == (404, missing), role
        assert api.get(f"/attachments/{digest}/thumbnail", role=role, **scope).status_code == 404
    for role in ("admin", "reporting", "general_manager"):
        assert api.get(f"/attachments/{digest}", role=role).status_code == 403, role
    assert api.get("/attachments/not-a-digest", role="supervisor").status_code == 404


def test_a_command_naming_an_unknown_or_unseen_file_is_422_and_records_nothing(
    api: Any,
) -> None:
    api.setup_org()
    mine = upload(api, photo(), user="desk-1").json()["digest"]
    unknown = "f" * 64
    head = api.container.app.recorder.max_notification_id()
    r = api.post("/tickets", ticket(attachments=[mine, unknown]), role="front_desk", user="desk-1")
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {"path": "attachments.1", "message": f"unknown attachment '{unknown}'"}
    ]
    # Another user's unreferenced upload is not yours to name: the same answer.
    r = api.post("/tickets", ticket(attachments=[mine]), role="front_desk", user="desk-2")
    assert r.status_code == 422 and f"unknown attachment '{mine}'" in r.text
    bad = api.post("/tickets", ticket(attachments=["ABC"]), role="front_desk", user="desk-1")
    assert bad.status_code == 422 and "attachments.0" in bad.text
    assert api.container.app.recorder.max_notification_id() == head
    assert stored(api)[2] == 0


def test_a_failed_step_leaves_no_reference(api: Any) -> None:
    api.setup_org()
    digest = upload(api, photo(), role="staff", user="wang.wei").json()["digest"]
    t = api.post("/tickets", ticket(), role="front_desk").json()
    # Not yet dispatched: resolving is an illegal step (409), its photo is not referenced.
    r = api.post(
        f"/tickets/{t['id']}/resolve",
        {"resolution": "修好了", "attachments": [digest]},
        role="staff",
        user="wang.wei",
    )
    assert r.status_code == 409, r.text
    assert stored(api) == (1, 1, 0)
    # Nobody else can read it (it is still only its uploader's).
    assert api.get(f"/attachments/{digest}", role="supervisor").status_code == 404


def test_inspection_findings_and_nonconformance_steps_carry_their_photos(api: Any) -> None:
    api.setup_org()
    # A checklist template, an inspection with a finding photographed.
    template = {
        "name": "月度品质检查表",
        "sections": [
            {
                "code": "CS",
                "name": "客户服务",
                "items": [
                    {"code": "CS-01", "requirement": "消防通道畅通", "max_points": 10},
                ],
            }
        ],
    }
    tpl = api.post("/checklist-templates", template, role="quality_manager").json()
    api.post(f"/checklist-templates/{tpl['id']}/publish", {}, role="quality_manager")
    ins = api.post(
        "/inspections",
        {
            "project": "P1",
            "kind": "regional_monthly",
            "template_id": tpl["number"],
            "planned_for": "2026-03-05",
            "inspectors": ["Chen Jie"],
        },
        role="quality_manager",
    ).json()
    api.post(f"/inspections/{ins['id']}/start", {}, role="inspector")
    finding = upload(api, photo(color=(10, 10, 200)), "finding.jpg", role="inspector").json()
    r = api.post(
        f"/inspections/{ins['id']}/scores",
        {
            "item": "CS-01",
            "points": 0,
            "result": "fail",
            "finding": "通道堆放杂物",
            "attachments": [finding["digest"]],
        },
        role="inspector",
    )
    assert r.status_code == 200, r.text
    # A nonconformance rectified with a photo and a scanned report, verified with a photo.
    nc = api.post(
        "/nonconformances",
        {
            "project": "P1",
            "source": {"type": "audit", "ref": "IA-2026-03"},
            "severity": "major",
            "description": "消防通道堆放杂物",
            "department": "security",
        },
        role="quality_manager",
    ).json()
    for path, body, role in (
        (
            "notice",
            {"responsible_department": "security", "responsible_person": "Wang Qiang"},
            "quality_manager",
        ),
        ("root-cause", {"analysis": "巡查制度未落实"}, "project_manager"),
        (
            "plan",
            {"corrective_actions": ["清理"], "preventive_actions": ["巡查"]},
            "project_manager",
        ),
        ("plan-decision", {"approved": True}, "quality_manager"),
    ):
        assert api.post(f"/nonconformances/{nc['id']}/{path}", body, role=role).status_code == 200
    after = upload(api, photo(color=(10, 200, 10)), "after.jpg", role="project_manager").json()
    report = upload(api, pdf(), "report.pdf", "application/pdf", role="project_manager").json()
    r = api.post(
        f"/nonconformances/{nc['id']}/rectified",
        {"summary": "已清理", "attachments": [after["digest"], report["digest"]]},
        role="project_manager",
    )
    assert r.status_code == 200, r.text
    check = upload(api, photo(color=(200, 200, 10)), "recheck.jpg", role="inspector").json()
    r = api.post(
        f"/nonconformances/{nc['id']}/verification",
        {"effective": True, "attachments": [check["digest"]]},
        role="inspector",
    )
    assert r.status_code == 200, r.text
    # Each event carries its digests; an auditor reads the files of both issues.
    for number, kind, want in (
        (ins["number"], "ItemScored", [finding["digest"]]),
        (nc["number"], "RectificationReported", [after["digest"], report["digest"]]),
        (nc["number"], "Verified", [check["digest"]]),
    ):
        events = api.get(
            f"/audit/{number}", role="auditor", params={"min_position": r.json()["position"]}
        ).json()["events"]
        assert next(e for e in events if e["type"] == kind)["data"]["attachments"] == want
    for digest in (finding["digest"], after["digest"], report["digest"], check["digest"]):
        assert api.get(f"/attachments/{digest}", role="auditor").status_code == 200
        assert (
            api.get(f"/attachments/{digest}", role="auditor", projects=("P2",)).status_code == 404
        )
    assert stored(api)[2] == 4
    # Each issue's view lists its files, by the step that named them.
    ins_view = api.get(f"/inspections/{ins['id']}", role="auditor").json()
    assert [(a["digest"], a["step"]) for a in ins_view["attachments"]] == [
        (finding["digest"], "score")
    ]
    nc_view = api.get(f"/nonconformances/{nc['id']}", role="auditor").json()
    # As of a version before the rectification, the view had none; as of the last, all.
    old = api.get(f"/audit/{nc['number']}/as-of", params={"version": 1}, role="auditor").json()
    assert old["attachments"] == []
    latest = {"version": nc_view["version"]}
    now = api.get(f"/audit/{nc['number']}/as-of", params=latest, role="auditor").json()
    assert now["attachments"] == nc_view["attachments"]
    assert sorted(
        (a["digest"], a["step"], a["thumbnail_url"] is None) for a in nc_view["attachments"]
    ) == sorted(
        [
            (after["digest"], "rectify", False),
            (report["digest"], "rectify", True),
            (check["digest"], "verify", False),
        ]
    )
