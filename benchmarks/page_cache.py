"""The OS page cache of the database's files: how much of a file it holds, and evicting it
without root (no `drop_caches`), for the cold-cache figures.

`posix_fadvise(POSIX_FADV_DONTNEED)` drops a file's clean cached pages, except those mapped
into some process: Linux keeps a page that a page table points at. The bot's connections map
the database (`PRAGMA mmap_size`), so every page a search has touched stays mapped in the
searching process, and fadvise alone would leave exactly the pages a search needs. `evict`
therefore first unmaps them from this process's own mappings of the file with
`madvise(MADV_DONTNEED)`, which on a shared, file-backed mapping only drops the page-table
entries (the next access faults the page back in from the cache, or the disk), then fadvises.
SQLite keeps its mapping and the connection its own page cache and parsed schema, as the bot's
search thread does. `resident` counts the cached pages with `mincore(2)`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
_MADV_DONTNEED = 4
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long)  # fmt: skip
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
_libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)


def database_files(path: Path) -> list[Path]:
    """The database file and its WAL, when there is one (not -shm: that is the WAL's index,
    shared memory every connection needs, not data read from disk)."""
    wal = path.with_name(path.name + "-wal")
    return [path, wal] if wal.exists() else [path]


def resident(path: Path) -> int:
    """Bytes of `path` in the OS page cache now."""
    size = path.stat().st_size
    if size == 0:
        return 0
    fd = os.open(path, os.O_RDONLY)
    try:
        # A mapping of our own, never touched: mincore reports the cache's pages for it.
        address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
        try:
            pages = -(-size // PAGE)
            vector = ctypes.create_string_buffer(pages)
            if _libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path} failed")
            return (pages - vector.raw.count(0)) * PAGE  # mincore writes 0 or 1 per page
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)


def evict(paths: Iterable[Path]) -> None:
    """Drop `paths`' pages from this process's mappings, then from the OS page cache."""
    paths = [p.resolve() for p in paths]
    for start, end in _mappings_of({str(p) for p in paths}):
        if _libc.madvise(start, end - start, _MADV_DONTNEED) != 0:
            raise OSError(ctypes.get_errno(), "madvise(MADV_DONTNEED) failed")
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _mappings_of(names: set[str]) -> list[tuple[int, int]]:
    """The address ranges of this process's mappings of the files `names`."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() in names:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
    return ranges
