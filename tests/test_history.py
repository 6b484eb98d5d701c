"""The display history: the last ``capacity`` rows, oldest first, for any chunking."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stetho_rt.history import History


@settings(max_examples=80, deadline=None)
@given(capacity=st.integers(1, 12), chunks=st.lists(st.integers(0, 30), max_size=8),
       width=st.sampled_from([None, 3]), n=st.one_of(st.none(), st.integers(0, 15)))
def test_latest_is_the_tail_of_everything_appended(capacity, chunks, width, n) -> None:
    h = History(capacity, width)
    total = sum(chunks)
    data = np.arange(total * (width or 1), dtype=np.float32).reshape((total, width) if width
                                                                    else (total,))
    pos = 0
    for c in chunks:
        h.append(data[pos : pos + c])
        pos += c
    kept = data[max(0, total - capacity):]
    want = kept if n is None else kept[len(kept) - min(n, len(kept)):]
    assert h.total == total
    np.testing.assert_array_equal(h.latest(n), want)


def test_a_chunk_longer_than_the_capacity_after_others() -> None:
    """The case that returned [15, 11, 12, 13, 14]: a long chunk after a partial fill."""
    h = History(5)
    h.append(np.arange(3, dtype=np.float32))
    h.append(np.arange(10, 16, dtype=np.float32))
    np.testing.assert_array_equal(h.latest(), [11, 12, 13, 14, 15])
