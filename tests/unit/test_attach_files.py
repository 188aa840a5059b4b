"""Evidence files judged from their bytes (application/attachment_files.py): the type is
sniffed, never taken from the name; GPS goes, orientation stays; path tricks and
mismatches are refused naming what is wrong."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageFile

from application.attachment_files import (
    JPEG,
    PDF,
    PNG,
    WEBP,
    FileRefused,
    display_name,
    inspect,
    sniff,
)
from domain.attachments import require_digests
from domain.errors import InvalidValue
from tests.attach_files import GPS, MAKE, ORIENTATION, exif_of, gps_of, pdf, photo, pixels

LIMIT = 10 * 1_048_576


@pytest.mark.parametrize(
    "data, media_type",
    [(photo("JPEG"), JPEG), (photo("PNG"), PNG), (photo("WEBP"), WEBP), (pdf(), PDF)],
)
def test_the_type_is_sniffed_from_the_bytes(data: bytes, media_type: str) -> None:
    assert sniff(data) == media_type
    assert inspect(data, None, max_bytes=LIMIT).media_type == media_type


def test_a_jpeg_loses_its_gps_but_keeps_orientation_make_and_every_pixel() -> None:
    original = photo("JPEG")
    assert gps_of(original) == GPS
    kept = inspect(original, "image/jpeg", max_bytes=LIMIT)
    assert kept.gps_removed is True
    assert gps_of(kept.content) == {}
    exif = exif_of(kept.content)
    assert exif[ORIENTATION] == 6 and exif[MAKE] == "Qualtrace Test Camera"
    # The compressed image is untouched: the same pixels decode, byte for byte.
    assert pixels(kept.content) == pixels(original)
    assert len(kept.content) < len(original)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_lose_their_gps_and_keep_orientation(fmt: str) -> None:
    kept = inspect(photo(fmt), None, max_bytes=LIMIT)
    assert kept.gps_removed and gps_of(kept.content) == {}
    assert exif_of(kept.content)[ORIENTATION] == 6


def test_the_policy_may_keep_the_gps_position() -> None:
    original = photo("JPEG")
    kept = inspect(original, None, max_bytes=LIMIT, keep_gps=True)
    assert kept.content == original and kept.gps_removed is False
    assert gps_of(kept.content) == GPS


def test_a_photo_without_gps_is_stored_as_it_came() -> None:
    original = photo("JPEG", gps=False)
    kept = inspect(original, None, max_bytes=LIMIT)
    assert kept.content == original and kept.gps_removed is False


def test_the_thumbnail_is_small_and_turned_the_way_exif_says_is_up() -> None:
    kept = inspect(photo("JPEG", size=(1600, 1200), orientation=6), None, max_bytes=LIMIT)
    assert kept.thumbnail is not None
    thumb = Image.open(io.BytesIO(kept.thumbnail))
    # 1600 x 1200 landscape, orientation 6 (rotate 90°): a 240 x 320 portrait thumbnail.
    assert (thumb.format, thumb.size) == ("JPEG", (240, 320))
    assert (kept.width, kept.height) == (1600, 1200)


def test_a_pdf_is_kept_as_is_without_a_thumbnail() -> None:
    kept = inspect(pdf(), "application/pdf", max_bytes=LIMIT)
    assert kept.content == pdf() and kept.thumbnail is None and kept.width is None


def refused(data: bytes, declared: str | None = None, limit: int = LIMIT) -> FileRefused:
    with pytest.raises(FileRefused) as e:
        inspect(data, declared, max_bytes=limit)
    return e.value


def test_a_file_over_the_limit_is_413_naming_the_limit() -> None:
    e = refused(photo("JPEG"), limit=1000)
    assert e.status == 413 and "limit of 1000 bytes" in e.message


def test_a_declared_type_that_disagrees_with_the_bytes_is_422_naming_both() -> None:
    e = refused(pdf(), "image/jpeg")
    assert e.status == 422
    assert "declared as image/jpeg" in e.message and "application/pdf" in e.message


def test_an_undeclared_or_generic_type_is_taken_from_the_bytes() -> None:
    assert inspect(pdf(), "application/octet-stream", max_bytes=LIMIT).media_type == PDF
    assert inspect(photo("PNG"), "image/png; charset=binary", max_bytes=LIMIT).media_type == PNG


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + b"\0" * 100, b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"PK\x03\x04zip"],
    ids=["gif", "svg", "zip"],
)
def test_other_types_are_415_listing_the_accepted_ones(data: bytes) -> None:
    e = refused(data)
    assert e.status == 415 and "image/jpeg, image/png, image/webp, application/pdf" in e.message


@pytest.mark.parametrize("lenient", [False, True], ids=["pillow-strict", "pillow-lenient"])
def test_a_truncated_or_forged_image_is_422(lenient: bool, monkeypatch: Any) -> None:
    # WeasyPrint, which the service imports, makes Pillow decode truncated files quietly
    # (a process-wide switch): truncation is caught either way.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient)
    for fmt in ("JPEG", "PNG", "WEBP"):
        data = photo(fmt)
        for cut in (data[: len(data) // 2], data[:-2]):
            e = refused(cut)
            assert e.status == 422 and ("truncated" in e.message or "readable" in e.message), fmt
    assert refused(b"\xff\xd8\xff" + b"not really a jpeg" * 10).status == 422
    assert refused(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).status == 422


def test_data_after_a_jpeg_such_as_a_motion_photo_video_is_kept() -> None:
    data = photo("JPEG") + b"ftypmp42" + b"\1" * 100
    kept = inspect(data, None, max_bytes=LIMIT)
    assert kept.gps_removed and kept.content.endswith(b"ftypmp42" + b"\1" * 100)


def test_a_truncated_pdf_is_422() -> None:
    e = refused(pdf()[:-20])
    assert e.status == 422 and "truncated" in e.message


def test_an_empty_file_is_422() -> None:
    assert refused(b"").status == 422


@pytest.mark.parametrize(
    "name, problem",
    [
        ("../../etc/passwd.jpg", "path separator"),
        ("..\\..\\boot.ini.jpg", "path separator"),
        ("/var/evidence/before.jpg", "path separator"),
        ("C:before.jpg", "drive letter"),
        ("..", "relative path"),
        ("before\x00.jpg", "control character"),
        ("before\n.jpg", "control character"),
        ("x" * 300 + ".jpg", "longer than"),
    ],
)
def test_a_name_that_is_a_path_trick_is_refused_naming_it(name: str, problem: str) -> None:
    with pytest.raises(FileRefused) as e:
        display_name(name, JPEG)
    assert e.value.status == 422 and problem in e.value.message


def test_a_name_whose_extension_says_another_type_is_refused() -> None:
    with pytest.raises(FileRefused) as e:
        display_name("report.pdf", JPEG)
    assert "says application/pdf" in e.value.message and "image/jpeg" in e.value.message


def test_plain_names_are_kept_as_given() -> None:
    assert display_name("门厅 漏水 (前).JPG", JPEG) == "门厅 漏水 (前).JPG"
    assert display_name("scan", PDF) == "scan"
    assert display_name(None, PDF) is None and display_name("", PDF) is None


def test_steps_name_files_by_distinct_sha256_digests() -> None:
    d = "ab" * 32
    assert require_digests("attachments", None) == []
    assert require_digests("attachments", [d]) == [d]
    for bad, where in (
        (["AB" * 32], "attachments.0"),
        ([d, "x"], "attachments.1"),
        ([d, d], "attachments.1"),
        ("ab" * 32, "attachments"),
        (["ab" * 32 + "00"], "attachments.0"),
        ([f"{i:064x}" for i in range(21)], "attachments"),
    ):
        with pytest.raises(InvalidValue) as e:
            require_digests("attachments", bad)
        assert e.value.field == where
