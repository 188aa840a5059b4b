"""Read models built from the event store, written in batches together with their
tracking position (one transaction per batch), so a crash never skips or repeats one.

Each projection owns tables in a schema of its own generation (`qt_<name>_g<N>`);
readers use stable views in the `qt_read` schema. A rebuild fills a new generation
beside the live one and switches the views in one transaction (see
`store.generations.rebuild`). A projection implements `Projection` and reads
`EventRecord`s; both belong to the store's consumer interface (`store.records`).
"""

from __future__ import annotations

from store.records import META_FIELDS, EventRecord, Projection
from store.schema import READ_SCHEMA

__all__ = ["META_FIELDS", "READ_SCHEMA", "EventRecord", "Projection"]
