"""uuid4_text gives what str(uuid.uuid4()) gives: version 4, RFC 4122 variant, random."""

from __future__ import annotations

import uuid

from celeriac._internal.ids import uuid4_text


def test_uuid4_text_is_a_version_4_uuid_in_canonical_form() -> None:
    made = [uuid4_text() for _ in range(1000)]
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(made)) == len(made)
