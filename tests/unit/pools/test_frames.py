"""The prefork pool's frames: a length and a pickle, split back out of what a socket reads."""

from __future__ import annotations

import pickle

from celeriac.pools._child import FrameReader, dump_frame


def _objects(frames: list[bytes]) -> list[object]:
    return [pickle.loads(frame) for frame in frames]


def test_whole_frames_split_and_joined_frames_all_come_out_in_order() -> None:
    one, two, three = dump_frame(("job", 1)), dump_frame(("job", 2)), dump_frame("x" * 5000)
    reader = FrameReader()
    assert _objects(reader.feed(one)) == [("job", 1)]  # one read, one frame
    assert _objects(reader.feed(two + three)) == [("job", 2), "x" * 5000]  # two in one read
    assert reader.feed(three[:2]) == []  # not even a whole length yet
    assert reader.feed(three[2:100]) == []
    assert _objects(reader.feed(three[100:] + one[:7])) == ["x" * 5000]
    assert _objects(reader.feed(one[7:])) == [("job", 1)]  # the rest of a started frame
    assert _objects(reader.feed(two)) == [("job", 2)]  # nothing left over after it
    empty = dump_frame(b"")
    assert _objects(reader.feed(empty + one)) == [b"", ("job", 1)]
