"""Call ids from a buffer of random bytes look like ``uuid.uuid4().hex`` and never repeat."""

from __future__ import annotations

import uuid

from outrigger.proxy.ids import CallIds


def test_ids_are_random_version_4_uuids_in_hex_across_buffer_refills() -> None:
    source = CallIds(batch=8)
    ids = [source.new() for _ in range(100)]  # 12 refills
    assert len(set(ids)) == 100
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)
