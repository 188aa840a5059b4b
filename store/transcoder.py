"""The event store's transcoder: orjson, writing the same bytes the library's JSONTranscoder
wrote (docs/performance.md, "JSON").

Stored events and snapshots stay readable JSON exactly as before: compact separators,
UTF-8 with non-ASCII kept (Chinese text is not escaped), keys in insertion order (the
event's `timestamp` first, which `qt_event_time` in store/schema.py relies on), and
datetimes, UUIDs and Decimals as the library's typed objects
`{"_type_":"datetime_iso"|"uuid_hex"|"decimal_str","_data_":...}`.

orjson differs from the standard library in a few places; each is handled so that the
bytes do not change:

- datetimes (and dates, times, dataclasses) would be written natively: they are passed
  through to `default`, which writes the typed object as before;
- UUIDs are always written natively (orjson has no pass-through for them): UUIDs at the
  top of the state and one dict below it (an event's `campaign_id`, a snapshot's
  `state.*`) are turned into typed objects before encoding, and if the output still holds
  a UUID-shaped JSON string, the object is encoded again by the standard library;
- floats the standard library writes with an exponent (`1e-05`, `1e+16`) orjson may write
  otherwise (`0.00001`, `1e16`): output holding an exponent or `0.0000` is encoded again
  by the standard library (realistic scores like `91.11` never are);
- anything orjson refuses (non-string keys, integers beyond 64 bits, an unregistered type)
  goes to the standard library, which behaves exactly as before (raising where it did).

Decoding: `orjson.loads`, then the typed objects are turned back into values by one walk
that stops as soon as it has converted as many as the bytes hold (`"_type_"` counted in
the bytes), so a 1,000-note ticket snapshot whose typed values all come before its notes
is not walked through the notes. Bytes orjson refuses (`NaN`, which the standard library
used to write for a non-finite float) or would read differently (an integer beyond 64 bits,
which it reads as a float: any 19 digits in a row send the bytes to the standard library)
are decoded by the standard library.
"""

from __future__ import annotations

import re
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

#: Output orjson may have written differently from the standard library: a UUID written
#: natively (its hyphenated form as a whole JSON string), a float with an exponent, or a
#: float below 1e-4 written without one. Each pattern starts with a literal, which `re`
#: searches for quickly; a false alarm (text such as "e-mail") only costs a second encoding.
_UUID_STRING = re.compile(rb"-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\"")
_EXPONENT = re.compile(rb"e[-+0-9]")
_TINY = b"0.0000"
_TYPE_KEY = b'"_type_"'
#: 19 digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


class OrjsonTranscoder(JSONTranscoder):
    """`JSONTranscoder` (same registrations, same stored bytes) encoding and decoding with
    orjson, and falling back to the standard library where orjson would differ."""

    def __init__(self) -> None:
        super().__init__()
        self._uuid_name = "uuid_hex"

    # -- encoding -----------------------------------------------------------------------
    def encode(self, obj: Any) -> bytes:
        try:
            out = orjson.dumps(_typed_uuids(obj, self), default=self._encode_obj, option=_OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            return self.encode_stdlib(obj)
        if _EXPONENT.search(out) or _UUID_STRING.search(out) or _TINY in out:
            return self.encode_stdlib(obj)
        return out

    def encode_stdlib(self, obj: Any) -> bytes:
        """The library's own encoding (the bytes stored before orjson)."""
        return self.encoder.encode(obj).encode("utf8")

    # -- decoding -----------------------------------------------------------------------
    def decode(self, data: bytes) -> Any:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return self.decode_stdlib(data)
        if _LONG_NUMBER in data.translate(_DIGITS_TO_ZERO):
            return self.decode_stdlib(data)  # orjson reads integers beyond 64 bits as floats
        typed = data.count(_TYPE_KEY)
        if not typed:
            return obj
        return _Walk(self, typed).value(obj)

    def decode_stdlib(self, data: bytes) -> Any:
        """The library's own decoding."""
        return self.decoder.decode(bytes(data).decode("utf8"))


def _typed_uuids(obj: Any, t: OrjsonTranscoder) -> Any:
    """`obj` with UUIDs among its values, and among the values of dicts it holds, written as
    the library's typed objects (a copy where anything changed; `obj` itself is kept)."""
    if type(obj) is not dict:
        return obj
    out = None
    for k, v in obj.items():
        tv = type(v)
        if tv is UUID:
            new: Any = {"_type_": t._uuid_name, "_data_": v.hex}
        elif tv is dict:
            new = v
            for k2, v2 in v.items():
                if type(v2) is UUID:
                    if new is v:
                        new = dict(v)
                    new[k2] = {"_type_": t._uuid_name, "_data_": v2.hex}
            if new is v:
                continue
        else:
            continue
        if out is None:
            out = dict(obj)
        out[k] = new
    return obj if out is None else out


class _Walk:
    """Turns typed objects back into values, in document order, until `remaining` have
    been seen (an upper bound: the count of `"_type_"` in the bytes)."""

    __slots__ = ("names", "remaining")

    def __init__(self, t: OrjsonTranscoder, remaining: int) -> None:
        self.names = t.names
        self.remaining = remaining

    def value(self, o: Any) -> Any:
        t = type(o)
        if t is dict:
            if len(o) == 2 and "_type_" in o and "_data_" in o:
                self.remaining -= 1
                name = o["_type_"]
                try:
                    transcoding = self.names[cast(str, name)]
                except (KeyError, TypeError) as e:
                    msg = (
                        f"Data serialized with name '{name}' is not deserializable."
                        " Please register a custom transcoding for this type."
                    )
                    raise TranscodingNotRegisteredError(msg) from e
                data = o["_data_"]
                if type(data) is dict or type(data) is list:
                    data = self.value(data)
                return transcoding.decode(data)
            for k, v in o.items():
                if self.remaining <= 0:
                    break
                tv = type(v)
                if tv is dict or tv is list:
                    o[k] = self.value(v)
            return o
        if t is list:
            for i, v in enumerate(o):
                if self.remaining <= 0:
                    break
                tv = type(v)
                if tv is dict or tv is list:
                    o[i] = self.value(v)
            return o
        return o
