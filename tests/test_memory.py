"""Handing freed memory back to the OS (glibc malloc_trim)."""

from __future__ import annotations

import pytest

import streams.kafka.memory as memory


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not memory.can_release(), reason="needs glibc's malloc_trim")
def test_memory_freed_inside_the_heap_goes_back_to_the_os() -> None:
    # 64 KiB blocks come from malloc's heap (below its mmap threshold); the last one
    # stays, so the freed ones are not at the heap's top and free() keeps them.
    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # ~190 MiB, touched (zeroed)
    keep = blocks[-1]
    del blocks
    before = _rss()
    took = memory.release_free_memory()
    after = _rss()
    assert took is not None and took >= 0
    assert before - after > 100 * 2**20, (before, after)
    assert keep[0] == 0


def test_without_malloc_trim_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_TRIM", None)
    assert memory.release_free_memory() is None
    assert not memory.can_release()
