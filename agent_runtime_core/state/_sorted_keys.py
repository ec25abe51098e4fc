"""A sorted set of string keys with cheap inserts, deletes and prefix scans, for the in-memory
state store's `list_keys(prefix)`.

One sorted list would make each insert move half the list (a 300,000-key store: ~90 µs per new
key); here the keys live in sorted chunks of at most `2 * load`, found by a binary search over
each chunk's last key, so an insert or delete moves at most one chunk. The layout is the one of
`sortedcontainers.SortedList`, kept minimal and written here because the core has no
dependencies.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

__all__ = ["SortedKeys"]


class SortedKeys:
    """Keys in sorted order; `add` takes a key not present, `remove` one present."""

    def __init__(self, load: int = 512) -> None:
        self._load = load
        self._chunks: list[list[str]] = []  # sorted, none empty, each sorted
        self._maxes: list[str] = []  # the last key of each chunk
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, key: str) -> None:
        chunks, maxes = self._chunks, self._maxes
        self._len += 1
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):  # after every key: the end of the last chunk
            i -= 1
            chunks[i].append(key)
            maxes[i] = key
        else:
            insort(chunks[i], key)
        if len(chunks[i]) > 2 * self._load:
            chunk = chunks[i]
            chunks.insert(i + 1, chunk[self._load :])
            del chunk[self._load :]
            maxes.insert(i, chunk[-1])

    def remove(self, key: str) -> None:
        chunks, maxes = self._chunks, self._maxes
        i = bisect_left(maxes, key)
        chunk = chunks[i]
        del chunk[bisect_left(chunk, key)]
        self._len -= 1
        if not chunk:
            del chunks[i], maxes[i]
            return
        maxes[i] = chunk[-1]
        if len(chunk) < self._load // 2 and len(chunks) > 1:  # merge a small chunk into a neighbour
            j = i if i + 1 < len(chunks) else i - 1
            chunks[j] += chunks.pop(j + 1)
            del maxes[j]
            maxes[j] = chunks[j][-1]
            if len(chunks[j]) > 2 * self._load:
                merged = chunks[j]
                chunks.insert(j + 1, merged[self._load :])
                del merged[self._load :]
                maxes.insert(j, merged[-1])

    def with_prefix(self, prefix: str) -> Iterator[str]:
        """The keys that start with `prefix`, in order (a binary search, then those keys only).
        Do not add or remove keys while iterating."""
        chunks = self._chunks
        i = bisect_left(self._maxes, prefix)  # the first chunk with a key >= prefix
        if i == len(chunks):
            return
        j = bisect_left(chunks[i], prefix)
        while i < len(chunks):
            chunk = chunks[i]
            for k in range(j, len(chunk)):
                key = chunk[k]
                if not key.startswith(prefix):
                    return  # sorted: every key with the prefix comes before the first without
                yield key
            i, j = i + 1, 0
