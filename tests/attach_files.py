"""Evidence files built in the tests (Pillow): photos with and without an EXIF GPS
position, and a small PDF; and the repair ticket the tests attach them to."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

ORIENTATION, MAKE, GPS_IFD = 0x0112, 0x010F, 0x8825
#: 31°14'N 121°28'E: the People's Square, Shanghai.
GPS = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}


def photo(
    fmt: str = "JPEG",
    color: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (640, 480),
    gps: bool = True,
    orientation: int = 6,
) -> bytes:
    """A photo as a phone takes it: orientation and camera make in EXIF, and (`gps`) where."""
    image = Image.new("RGB", size, color)
    image.putpixel((1, 1), (0, 0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "Qualtrace Test Camera"
    if gps:
        exif.get_ifd(GPS_IFD).update(GPS)
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def gps_of(data: bytes) -> dict[int, object]:
    return dict(Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD))


def exif_of(data: bytes) -> dict[int, object]:
    return dict(Image.open(io.BytesIO(data)).getexif())


def pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).tobytes()


def pdf(text: str = "rectification report") -> bytes:
    """A one-page PDF (its cross-reference table is not checked by anyone here)."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def ticket(project: str = "P1", **extra: Any) -> dict[str, Any]:
    """A repair ticket's body (`POST /tickets`, or `TicketService.receive`'s keywords)."""
    return {
        "project": project,
        "kind": "repair",
        "channel": "phone",
        "priority": "high",
        "category": "水电维修",
        "description": "门厅漏水",
        "reporter": {"name": "张三", "unit": "3-1201", "phone": "13812345678"},
        **extra,
    }
