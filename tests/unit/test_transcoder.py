"""The orjson transcoder writes the bytes the library's JSONTranscoder wrote, and reads
what it wrote (store/transcoder.py)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from store.transcoder import OrjsonTranscoder


def _registered(t: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


OLD = _registered(JSONTranscoder())
NEW = _registered(OrjsonTranscoder())

SHANGHAI = timezone(timedelta(hours=8))

#: Bytes stored by the library's transcoder before orjson (copied from a demo store):
#: a survey response with a UUID at the top, and a ticket snapshot with nested datetimes.
STORED_BEFORE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2025-03-02T07:39:00+00:00"},'
    b'"originator_topic":"domain.surveys:SurveyResponse","actor":{"id":"demo.desk",'
    b'"name":"\xe6\x9d\x8e\xe5\xa8\x9c","role":"front_desk"},"correlation_id":"demo-56f6a6e62c8a",'
    b'"causation_id":null,"reason":null,"campaign_id":{"_type_":"uuid_hex",'
    b'"_data_":"9755e69ba3065edd9a5d9109e7985ae1"},"campaign_number":"SV-2025-000001",'
    b'"score":91.11,"fee":{"_type_":"decimal_str","_data_":"12.50"}}'
)


def test_bytes_stored_before_decode_to_the_same_values_and_encode_back_byte_for_byte() -> None:
    old = OLD.decode(STORED_BEFORE)
    new = NEW.decode(STORED_BEFORE)
    assert new == old
    assert new["timestamp"] == datetime(2025, 3, 2, 7, 39, tzinfo=timezone.utc)
    assert new["campaign_id"] == UUID("9755e69ba3065edd9a5d9109e7985ae1")
    assert new["fee"] == Decimal("12.50") and isinstance(new["fee"], Decimal)
    assert new["actor"]["name"] == "李娜"
    assert NEW.encode(new) == STORED_BEFORE


def test_chinese_is_kept_as_utf8_and_the_timestamp_comes_first() -> None:
    state = {
        "timestamp": datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc),
        "description": "卫生间水管漏水，楼下天花板渗水",
    }
    out = NEW.encode(state)
    assert "卫生间水管漏水".encode() in out and b"\\u" not in out
    # store/schema.py's qt_event_time reads the time from exactly this prefix
    assert out.startswith(b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-05T01:00:00')
    assert out == OLD.encode(state)
    assert json.loads(out) == json.loads(OLD.encode(state))


@pytest.mark.parametrize(
    "value",
    [
        {"id": uuid4(), "nested": {"deep": [{"deeper": uuid4()}], "at": uuid4()}},
        {"tiny": 1e-05, "big": 1e16, "neg": -7.1850441006303285e-09, "score": 91.11},
        {"text": "e-mail 2e5 0.00001 and a uuid 9755e69b-a306-5edd-9a5d-9109e7985ae1"},
        {"uuid_string": "9755e69b-a306-5edd-9a5d-9109e7985ae1"},
        {"at": datetime(2026, 3, 1, 9, 30, 15, 123456, SHANGHAI)},
        {"naive": datetime(2026, 3, 1, 9, 30), "amounts": [Decimal("0.10"), Decimal("1E+3")]},
        {1: "int key", "tuple": (1, 2, "三"), "huge": 2**70, "bool": True, "none": None},
        {"control": 'line\nbreak\ttab\x01\x1f \u2028 quote" backslash\\ /'},
        {"_type_": "not typed", "_data_": 1, "other": 2},
        {"list": [[[{"when": datetime(2020, 1, 1, tzinfo=timezone.utc)}]]]},
        {"empty": {}, "nothing": [], "zero": 0.0, "minus_zero": -0.0},
    ],
)
def test_same_bytes_and_values_as_the_library(value: dict[Any, Any]) -> None:
    old_bytes = OLD.encode(value)
    assert NEW.encode(value) == old_bytes
    assert NEW.decode(old_bytes) == OLD.decode(old_bytes)


def test_the_state_given_is_not_changed_by_encoding() -> None:
    ref = uuid4()
    state = {"ref": ref, "inner": {"ref": ref}}
    NEW.encode(state)
    assert state == {"ref": ref, "inner": {"ref": ref}}


def test_an_unregistered_type_is_refused_as_before() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OLD.encode({"s": {1, 2}})
    with pytest.raises(TranscodingNotRegisteredError):
        NEW.encode({"s": {1, 2}})
    with pytest.raises(TranscodingNotRegisteredError):  # orjson would write it natively
        NEW.encode({"due": date(2026, 3, 1)})
    with pytest.raises(TranscodingNotRegisteredError):
        NEW.decode(b'{"x":{"_type_":"no_such_type","_data_":"1"}}')


def test_non_finite_floats_stored_by_the_library_still_decode() -> None:
    stored = OLD.encode({"x": float("nan"), "y": float("inf")})
    assert stored == b'{"x":NaN,"y":Infinity}'  # not JSON: orjson refuses it
    decoded = NEW.decode(stored)
    assert math.isnan(decoded["x"]) and decoded["y"] == math.inf


def test_a_snapshot_with_its_typed_values_before_a_long_list_decodes_fully() -> None:
    """The walk stops once it has seen every typed object the bytes hold; one placed
    after the long list must still be found."""
    notes = [{"text": f"note {i}", "at": "2026-01-05T01:00:00+00:00"} for i in range(1000)]
    late = datetime(2026, 2, 1, tzinfo=timezone.utc)
    state = {
        "timestamp": datetime(2026, 1, 5, tzinfo=timezone.utc),
        "state": {"notes": notes, "closed_at": late},
    }
    stored = OLD.encode(state)
    assert NEW.decode(stored) == state
    assert NEW.decode(stored)["state"]["closed_at"] == late


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.sampled_from([timezone.utc, SHANGHAI]))
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=8))
def test_any_state_encodes_to_the_library_bytes_and_back(state: dict[str, Any]) -> None:
    old_bytes = OLD.encode(state)
    assert NEW.encode(state) == old_bytes
    assert NEW.decode(old_bytes) == OLD.decode(old_bytes)
