"""Evidence files (issue #16 item 4; docs/attachments.md): upload, read within scope,
reference from a command, and sweep what no command referenced.

- An upload is checked from its bytes (`application.attachment_files`) and stored in
  PostgreSQL by the SHA-256 of the bytes kept; the same bytes again are the same file.
- A command that names files (`attachments: [digest, ...]`) puts the digests in its event
  (the hash chain covers them) and, in the same append transaction, one reference row per
  file (`references`): the event and its references commit together or not at all.
- Who may read a file: its uploader, and whoever may read an issue that references it
  (the issue's `<kind>.read` and scope, as for the issue itself). Anyone else gets 404.
- `sweep` deletes uploads no command referenced within the TTL. A referenced file cannot
  be deleted at all: the reference's foreign key refuses (ON DELETE RESTRICT).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError
from psycopg import Cursor
from psycopg.rows import DictRow

from application.attachment_files import display_name as checked_name
from application.attachment_files import extension_for, inspect
from application.base import Call
from application.errors import Forbidden, NotFound, UnknownReference
from application.security import Principal, can
from application.service import CommandService, Hook
from domain.attachments import is_digest, require_digests
from domain.base import QAggregate
from store.background import BackgroundLoop

log = logging.getLogger("qualtrace.attachments")

#: The policy when none is configured (bootstrap passes the settings').
DEFAULT_POLICY: dict[str, Any] = {"max_bytes": 10 * 1_048_576, "keep_gps": False, "ttl_hours": 24.0}
#: Uploads deleted per sweep statement.
SWEEP_BATCH = 500

_UPSERT = """INSERT INTO qt_attachments (digest, media_type, size, content, width, height,
        gps_removed, thumbnail, first_uploaded_at, last_uploaded_at)
    VALUES (%(digest)s, %(media_type)s, %(size)s, %(content)s, %(width)s, %(height)s,
        %(gps_removed)s, %(thumbnail)s, %(now)s, %(now)s)
    ON CONFLICT (digest) DO UPDATE SET last_uploaded_at = greatest(
        qt_attachments.last_uploaded_at, EXCLUDED.last_uploaded_at)
    RETURNING first_uploaded_at"""
_UPLOADER = """INSERT INTO qt_attachment_uploads (digest, principal_id, name, uploaded_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (digest, principal_id) DO UPDATE SET
        name = coalesce(EXCLUDED.name, qt_attachment_uploads.name),
        uploaded_at = EXCLUDED.uploaded_at"""
_REFERENCE = """INSERT INTO qt_attachment_refs
        (digest, issue_id, issue_kind, issue_number, project, step, version, position)
    SELECT unnest(%s::text[]), %s, %s, %s, %s, %s, %s, %s
    ON CONFLICT DO NOTHING"""
_SWEEP = """DELETE FROM qt_attachments WHERE digest IN (
    SELECT a.digest FROM qt_attachments a
    WHERE a.last_uploaded_at < %s
      AND NOT EXISTS (SELECT 1 FROM qt_attachment_refs r WHERE r.digest = a.digest)
    ORDER BY a.last_uploaded_at LIMIT %s
    FOR UPDATE SKIP LOCKED)"""
_META = """SELECT a.digest, a.media_type, a.size, a.width, a.height, a.gps_removed,
        a.first_uploaded_at, a.thumbnail IS NOT NULL AS has_thumbnail,
        coalesce((SELECT u.name FROM qt_attachment_uploads u
                  WHERE u.digest = a.digest AND u.principal_id = %(me)s),
                 (SELECT u.name FROM qt_attachment_uploads u WHERE u.digest = a.digest
                  AND u.name IS NOT NULL ORDER BY u.uploaded_at LIMIT 1)) AS name,
        EXISTS (SELECT 1 FROM qt_attachment_uploads u
                WHERE u.digest = a.digest AND u.principal_id = %(me)s) AS mine,
        coalesce((SELECT json_agg(json_build_object('kind', r.issue_kind, 'project', r.project))
                  FROM qt_attachment_refs r WHERE r.digest = a.digest), '[]') AS refs
    FROM qt_attachments a WHERE a.digest = ANY(%(digests)s)"""


class AttachmentService:
    def __init__(self, service: CommandService) -> None:
        self.service = service

    @property
    def policy(self) -> dict[str, Any]:
        return {**DEFAULT_POLICY, **(self.service.policies.get("attachments") or {})}

    # -- upload ----------------------------------------------------------------------
    def may_upload(self, call: Call) -> None:
        """403 for a role that takes no evidence (checked before the body is read)."""
        if not can(call.principal, "attachment.upload"):
            raise Forbidden(call.principal.role, "attachment.upload")

    def upload(
        self, call: Call, data: bytes, declared: str | None, name: str | None
    ) -> dict[str, Any]:
        """Check and store one file; the answer describes it by its digest. Nothing is
        stored when a check fails (`FileRefused`)."""
        self.may_upload(call)
        policy = self.policy
        evidence = inspect(
            data, declared, max_bytes=int(policy["max_bytes"]), keep_gps=bool(policy["keep_gps"])
        )
        shown = checked_name(name, evidence.media_type)

        digest = hashlib.sha256(evidence.content).hexdigest()
        now = self.service.clock()
        with self.service.store.datastore.transaction(commit=True) as cur:
            cur.execute(
                _UPSERT,
                {
                    "digest": digest,
                    "media_type": evidence.media_type,
                    "size": len(evidence.content),
                    "content": evidence.content,
                    "width": evidence.width,
                    "height": evidence.height,
                    "gps_removed": evidence.gps_removed,
                    "thumbnail": evidence.thumbnail,
                    "now": now,
                },
            )
            cur.execute(_UPLOADER, (digest, call.principal.id, shown, now))
        return {
            "digest": digest,
            "media_type": evidence.media_type,
            "size": len(evidence.content),
            "name": shown,
            "width": evidence.width,
            "height": evidence.height,
            "gps_removed": evidence.gps_removed,
            "received_size": len(data),
            "uploaded_at": now.isoformat(),
            "url": f"/attachments/{digest}",
            "thumbnail_url": f"/attachments/{digest}/thumbnail" if evidence.thumbnail else None,
        }

    # -- read ------------------------------------------------------------------------
    def _visible(self, principal: Principal, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The files among `digests` the principal may read, with what is known of them."""
        rows = self.service.sql(_META, {"me": principal.id, "digests": list(digests)})
        return {r["digest"]: r for r in rows if r["mine"] or self._reads_a_referrer(principal, r)}

    def _reads_a_referrer(self, principal: Principal, row: dict[str, Any]) -> bool:
        for ref in row["refs"]:
            project = ref.get("project")
            if can(principal, f"{ref['kind']}.read") and principal.sees(
                project, self.service.project_region(project) if project else None
            ):
                return True
        return False

    def describe(self, call: Call, digest: str) -> dict[str, Any]:
        """What is known of one file the caller may read; 403 for a role that reads no
        evidence, 404 for a file it may not read (as for one that does not exist)."""
        if not can(call.principal, "attachment.read"):
            raise Forbidden(call.principal.role, "attachment.read")
        row = self._visible(call.principal, [digest]).get(digest) if is_digest(digest) else None
        if row is None:
            raise NotFound("attachment", digest)
        out = {k: v for k, v in row.items() if k not in ("mine", "refs")}
        out["file_name"] = row["name"] or f"{digest}{extension_for(row['media_type'])}"
        return out

    def content(
        self, call: Call, digest: str, part: str = "content"
    ) -> tuple[bytes, dict[str, Any]]:
        """The stored bytes (or the thumbnail, `part="thumbnail"`) and the file's description."""
        meta = self.describe(call, digest)
        if part == "thumbnail" and not meta["has_thumbnail"]:
            raise NotFound(f"thumbnail of {meta['media_type']} attachment", digest)
        column = "thumbnail" if part == "thumbnail" else "content"
        rows = self.service.sql(
            f"SELECT {column} AS data FROM qt_attachments WHERE digest = %s", (digest,)
        )
        if not rows:  # swept between the two statements
            raise NotFound("attachment", digest)
        return bytes(rows[0]["data"]), meta

    # -- referencing from a command --------------------------------------------------
    def require(self, call: Call, digests: Any, field: str = "attachments") -> list[str]:
        """The digests a command names, each a file the caller may read (422 naming the
        first that is unknown, or not the caller's to name: the same answer)."""
        wanted = require_digests(field, digests)
        if not wanted:
            return []
        visible = self._visible(call.principal, wanted)
        for i, digest in enumerate(wanted):
            if digest not in visible:
                raise UnknownReference(f"{field}.{i}", f"unknown attachment '{digest}'")
        return wanted

    @staticmethod
    def references(agg: QAggregate, step: str, digests: Sequence[str]) -> Hook:
        """A hook of the command's append transaction: the issue references `digests` from
        the event just written. The files are locked first (FOR KEY SHARE: the sweep skips
        them from then on); one swept since the command checked it fails the command, 422,
        and nothing of it is recorded."""

        def write(cur: Cursor[DictRow], ids: Sequence[int]) -> None:
            cur.execute(
                "SELECT digest FROM qt_attachments WHERE digest = ANY(%s) FOR KEY SHARE",
                (list(digests),),
            )
            kept = {r["digest"] for r in cur.fetchall()}
            for i, digest in enumerate(digests):
                if digest not in kept:
                    raise UnknownReference(
                        f"attachments.{i}", f"unknown attachment '{digest}' (deleted meanwhile)"
                    )
            cur.execute(
                _REFERENCE,
                (
                    list(digests),
                    agg.id,
                    agg.KIND,
                    getattr(agg, "number", None),
                    getattr(agg, "project", None),
                    step,
                    agg.version,
                    max(ids),
                ),
            )

        return write

    def hooks(self, agg: QAggregate, step: str, digests: Sequence[str]) -> list[Hook]:
        return [self.references(agg, step, digests)] if digests else []

    def of_issues(
        self, issue_ids: Sequence[Any], through_version: int | None = None
    ) -> list[dict[str, Any]]:
        """Every file the issues' events reference: digest, type, size, by which step, the
        issue's version after that command and its store position (with `through_version`:
        only those named up to that version of the one issue, for as-of views)."""
        if not issue_ids:
            return []
        return self.service.sql(
            """SELECT r.digest, a.media_type, a.size, r.issue_id::text AS issue_id,
                   r.issue_kind, r.issue_number, r.step, r.version, r.position
               FROM qt_attachment_refs r JOIN qt_attachments a USING (digest)
               WHERE r.issue_id = ANY(%s::uuid[]) AND (%s::int IS NULL OR r.version <= %s)
               ORDER BY r.position, r.digest""",
            ([str(i) for i in issue_ids], through_version, through_version),
        )

    def sizes(self, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Type and size of each stored file among `digests` (for audit packs)."""
        if not digests:
            return {}
        rows = self.service.sql(
            "SELECT digest, media_type, size FROM qt_attachments WHERE digest = ANY(%s)",
            (list(digests),),
        )
        return {r["digest"]: {"media_type": r["media_type"], "size": int(r["size"])} for r in rows}

    # -- the sweep -------------------------------------------------------------------
    def sweep(self, now: datetime | None = None, ttl_hours: float | None = None) -> int:
        """Delete the uploads no command referenced within the TTL; how many went."""
        ttl = float(self.policy["ttl_hours"] if ttl_hours is None else ttl_hours)
        cutoff = (now or self.service.clock()) - timedelta(hours=ttl)
        deleted = 0
        while True:
            try:
                with self.service.store.datastore.transaction(commit=True) as cur:
                    cur.execute(_SWEEP, (cutoff, SWEEP_BATCH))
                    count = cur.rowcount
            except IntegrityError:
                # A command referenced one of them while we looked: it stays. Next time.
                log.info("an upload was referenced during the sweep; sweeping again later")
                return deleted
            deleted += count
            if count < SWEEP_BATCH:
                return deleted


class AttachmentSweeper(BackgroundLoop):
    """Runs `AttachmentService.sweep` every `interval` seconds."""

    thread_name = "attachment-sweep"

    def __init__(self, attachments: AttachmentService, interval: float) -> None:
        super().__init__()
        self.attachments = attachments
        self.interval = float(interval)
        self.swept = 0

    def _session(self) -> None:
        while not self._stop.wait(self.interval):
            self.swept += self.attachments.sweep()
