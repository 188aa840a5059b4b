"""What an evidence file is, judged from its bytes: its type (sniffed, never taken from
the name), whether it really is a readable image or PDF, its EXIF GPS position removed
unless the policy keeps it, and a thumbnail for the console. Pillow does the image work
(docs/attachments.md says why and how).

Errors are `FileRefused(status, field, message)`: 413 over the size limit, 415 a type we
do not accept, 422 a file that is not what it says or a file name that is a path trick.
"""

from __future__ import annotations

import io
import mimetypes
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

#: The types accepted, by what their bytes start with.
JPEG, PNG, WEBP, PDF = "image/jpeg", "image/png", "image/webp", "application/pdf"
ACCEPTED = (JPEG, PNG, WEBP, PDF)
PILLOW_FORMAT = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}
EXTENSION = {JPEG: ".jpg", PNG: ".png", WEBP: ".webp", PDF: ".pdf"}
#: Declared types that declare nothing (browsers send them for files they do not know).
UNDECLARED = {"", "application/octet-stream", "binary/octet-stream"}
#: Longest edge of a thumbnail, in pixels.
THUMBNAIL_EDGE = 320
#: An image of more pixels than this is refused (a decompression bomb, not a photo).
MAX_PIXELS = 80_000_000
#: The EXIF tag of the GPS block, and of the orientation (kept: it says which way is up).
GPS_IFD = 0x8825
MAX_NAME = 200


class FileRefused(ValueError):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Evidence:
    """A file ready to store: the bytes kept (GPS removed where the policy says), what
    they are, and the thumbnail (JPEG) of an image."""

    content: bytes
    media_type: str
    width: int | None
    height: int | None
    gps_removed: bool
    thumbnail: bytes | None


def sniff(data: bytes) -> str | None:
    """The accepted type the bytes are, by their signature; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def display_name(name: str | None, media_type: str) -> str | None:
    """The file name shown to people, or None when the client gave none. A name that
    tries to be a path (separators, `..`, a drive letter) or holds control characters is
    refused rather than silently changed: the client learns its name was not taken."""
    if name is None or name == "":
        return None
    problems = []
    if "/" in name or "\\" in name:
        problems.append("contains a path separator")
    if name.strip() in (".", "..") or name.startswith(".."):
        problems.append("is a relative path")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        problems.append("starts with a drive letter")
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name):
        problems.append("contains a control character")
    if len(name) > MAX_NAME:
        problems.append(f"is longer than {MAX_NAME} characters")
    if problems:
        raise FileRefused(422, "file", f"the file name {name!r} " + " and ".join(problems))
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed is not None and _normal(guessed) != media_type:
        raise FileRefused(
            422,
            "file",
            f"the file name {name!r} says {guessed} but its bytes are {media_type}",
        )
    return name.strip()


def _normal(media_type: str) -> str:
    t = media_type.split(";")[0].strip().lower()
    return {"image/jpg": JPEG, "image/pjpeg": JPEG, "application/x-pdf": PDF}.get(t, t)


def inspect(
    data: bytes, declared: str | None, *, max_bytes: int, keep_gps: bool = False
) -> Evidence:
    """Check `data` (as received) and return what to store; raise `FileRefused`."""
    if len(data) > max_bytes:
        raise FileRefused(413, "file", f"the file is larger than the limit of {max_bytes} bytes")
    if not data:
        raise FileRefused(422, "file", "the file is empty")
    media_type = sniff(data)
    if media_type is None:
        raise FileRefused(
            415,
            "file",
            "the file's bytes are none of the accepted types: " + ", ".join(ACCEPTED),
        )
    said = _normal(declared or "")
    if said not in UNDECLARED and said != media_type:
        raise FileRefused(422, "file", f"declared as {said} but the file's bytes are {media_type}")
    if media_type == PDF:
        _check_pdf(data)
        return Evidence(data, PDF, None, None, False, None)
    _check_complete(data, media_type)
    image = _open(data, media_type)
    content, removed = (data, False) if keep_gps else strip_gps(data, media_type, image)
    return Evidence(content, media_type, image.width, image.height, removed, thumbnail_of(image))


def _check_pdf(data: bytes) -> None:
    # A PDF ends with its trailer (`%%EOF`, possibly followed by a line end or padding).
    if b"%%EOF" not in data[-1024:]:
        raise FileRefused(422, "file", "the PDF is truncated (no %%EOF at its end)")


def _check_complete(data: bytes, media_type: str) -> None:
    """A truncated image is refused by its structure, not by Pillow alone: WeasyPrint
    (imported by the service for documents) sets Pillow's process-wide
    `ImageFile.LOAD_TRUNCATED_IMAGES`, with which Pillow decodes a truncated file quietly."""
    complete = True
    if media_type == JPEG:
        # The end-of-image marker after the first scan (a thumbnail in EXIF comes before it;
        # data after it, such as a motion photo's video, is allowed).
        segments = _jpeg_segments(data)
        complete = data.find(b"\xff\xd9", segments[-1][1] if segments else 2) != -1
    elif media_type == PNG:
        complete = b"IEND\xaeB`\x82" in data
    elif media_type == WEBP:
        complete = int.from_bytes(data[4:8], "little") + 8 <= len(data)
    if not complete:
        raise FileRefused(422, "file", f"the {media_type} image is truncated")


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the image data, the start-of-scan last."""
    out: list[tuple[int, int, int]] = []
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise FileRefused(422, "file", "not a well-formed JPEG (bad segment marker)")
        if data[pos + 1] == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:  # start of scan: the image data follows
            break
        pos += 2 + length
    return out


def _open(data: bytes, media_type: str) -> Image.Image:
    """Decode the whole image (a truncated or forged file fails here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMAT[media_type]])
            if image.width * image.height > MAX_PIXELS:
                raise FileRefused(422, "file", f"the image has more than {MAX_PIXELS} pixels")
            image.load()
    except FileRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise FileRefused(422, "file", f"not a readable {media_type} image: {e}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise FileRefused(422, "file", f"the image has more than {MAX_PIXELS} pixels") from None
    return image


def gps_of(image: Image.Image) -> dict[int, object]:
    """The EXIF GPS block of an image ({} when it has none)."""
    return dict(image.getexif().get_ifd(GPS_IFD))


def strip_gps(data: bytes, media_type: str, image: Image.Image) -> tuple[bytes, bool]:
    """`data` without the EXIF GPS block and without XMP (which may repeat the position);
    everything else, the orientation included, stays. A JPEG's compressed image is not
    touched (its segments are rewritten); PNG is lossless anyway; WebP is re-encoded."""
    exif = image.getexif()
    has_gps = GPS_IFD in exif and bool(exif.get_ifd(GPS_IFD))
    has_xmp = bool(image.info.get("xmp")) or b"http://ns.adobe.com/xap/1.0/" in data
    if not has_gps and not has_xmp:
        return data, False
    if GPS_IFD in exif:
        del exif[GPS_IFD]
    if media_type == JPEG:
        return _jpeg_with_exif(data, exif.tobytes() if len(exif) else None), True
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes()} if len(exif) else {}
    if media_type == WEBP:
        lossless = b"VP8L" in data[12:64]
        options.update(lossless=True) if lossless else options.update(quality=95)
    elif "icc_profile" in image.info:
        options["icc_profile"] = image.info["icc_profile"]
    image.save(out, PILLOW_FORMAT[media_type], **options)
    return out.getvalue(), True


def _jpeg_with_exif(data: bytes, exif: bytes | None) -> bytes:
    """The JPEG with its APP1 segments (EXIF, XMP) replaced by `exif` (None: dropped)."""
    out = bytearray(data[:2])  # SOI
    wrote = False
    rest = 2
    for marker, start, end in _jpeg_segments(data):
        if marker == 0xDA:  # start of scan: it and the image data are copied as they are
            rest = start
            break
        rest = end
        if marker == 0xE1:  # APP1: EXIF or XMP
            if exif is not None and not wrote:
                out += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
                wrote = True
            continue
        out += data[start:end]
    return bytes(out + data[rest:])


def thumbnail_of(image: Image.Image) -> bytes:
    """A JPEG of at most THUMBNAIL_EDGE pixels a side, turned the way the EXIF says is up."""
    thumb = ImageOps.exif_transpose(image)
    thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    if thumb.mode not in ("RGB", "L"):
        background = Image.new("RGB", thumb.size, "white")
        rgba = thumb.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        thumb = background
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()


def extension_for(media_type: str) -> str:
    return EXTENSION.get(media_type, "")
