"""Evidence files (issue #16 item 4; docs/attachments.md): upload one, read one or its
thumbnail. Commands name files by the `digest` the upload answers."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import errors
from api.deps import CommandCall, QualtraceApp, QueryCall
from application.attachment_files import ACCEPTED, FileRefused

router = APIRouter(prefix="/attachments", tags=["attachments"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "multipart/form-data with one part named `file`: a JPEG, PNG or WebP"
        " photo or a PDF (the type is read from the bytes; a declared type or a file name"
        " that says otherwise is refused). Photos lose their EXIF GPS position unless the"
        " policy keeps it.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
UPLOADED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Stored (the same bytes again answer the same digest).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["digest", "media_type", "size"],
                    "properties": {
                        "digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "media_type": {
                            "type": "string",
                            "description": "sniffed from the bytes: " + ", ".join(ACCEPTED),
                        },
                        "size": {"type": "integer"},
                        "name": {"type": ["string", "null"]},
                        "width": {"type": ["integer", "null"]},
                        "height": {"type": ["integer", "null"]},
                        "gps_removed": {"type": "boolean"},
                        "received_size": {"type": "integer"},
                        "uploaded_at": {"type": "string", "format": "date-time"},
                        "url": {"type": "string"},
                        "thumbnail_url": {"type": ["string", "null"]},
                    },
                }
            }
        },
    }
}
FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The stored bytes.",
        "content": {t: _BINARY for t in ACCEPTED},
    }
}
THUMBNAIL: dict[int | str, dict[str, Any]] = {
    200: {"description": "A JPEG of at most 320 pixels a side.", "content": {"image/jpeg": _BINARY}}
}


@router.post("", status_code=201, responses=UPLOADED, openapi_extra=UPLOAD_BODY)
async def upload_attachment(
    request: Request, call: CommandCall, app: QualtraceApp, response: Response
) -> Any:
    """Upload one evidence file; the answer's `digest` is how commands name it."""
    app.attachments.may_upload(call)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise HTTPException(415, "send the file as multipart/form-data, in a part named file")
    async with request.form(max_files=1, max_fields=0) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            return errors.problem(
                422,
                "file: is required (a multipart part named file, with a file name)",
                errors=[{"path": "file", "message": "is required"}],
            )
        limit = int(app.attachments.policy["max_bytes"])
        data = await part.read(limit + 1)
        declared = part.headers.get("content-type")
        name = part.filename
    try:
        answer = await run_in_threadpool(app.attachments.upload, call, data, declared, name)
    except FileRefused as e:
        return errors.problem(e.status, str(e), errors=[{"path": e.field, "message": e.message}])
    response.headers["Location"] = answer["url"]
    return answer


def _file_response(
    data: bytes, meta: dict[str, Any], media_type: str, name: str, whole: bool = True
) -> Response:
    digest = meta["digest"]
    headers = {
        # The bytes of a digest never change.
        "ETag": f'"{digest}"' if whole else f'"{digest}-thumbnail"',
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
        # Uploaded content: never interpreted as anything but what it is.
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if whole:  # RFC 9530: the SHA-256 of the bytes served is the digest itself
        headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    return Response(data, media_type=media_type, headers=headers)


@router.get("/{digest}", responses=FILE, response_class=Response)
def get_attachment(digest: str, call: QueryCall, app: QualtraceApp) -> Any:
    """One evidence file, to its uploader and to whoever may read an issue referencing it."""
    data, meta = app.attachments.content(call, digest)
    return _file_response(data, meta, meta["media_type"], meta["file_name"])


@router.get("/{digest}/thumbnail", responses=THUMBNAIL, response_class=Response)
def get_attachment_thumbnail(digest: str, call: QueryCall, app: QualtraceApp) -> Any:
    """A photo's thumbnail (a PDF has none: 404), read as the file itself is."""
    data, meta = app.attachments.content(call, digest, "thumbnail")
    return _file_response(data, meta, "image/jpeg", f"thumbnail-{digest[:12]}.jpg", False)
