"""Keeping a long crawl's memory flat under glibc.

Each list page arrives as a body of about 1 MB, read in a worker thread. glibc serves blocks
that large with mmap, and returns them to the system when freed, but after the first such free
it raises its mmap threshold ("dynamic threshold") and serves later bodies from the threads'
heaps instead, where small long-lived objects pin them: peak RSS then grows with the number of
pages (measured: 89 MB at 30,000 packages against 60 MB at 6,000; pinned, 68 MB against 53 MB).
Fixing the threshold at glibc's default turns the dynamic adjustment off.

Kept because `python -m bench.run --sizes 6000,30000 --skip-naive` still shows it paying
(with and without, same machine, load ~5, the SQLite catalogue sync included): peak RSS of a
full run 110 / 355 MB pinned against 117 / 374 MB unpinned (6,000 / 30,000 packages), of a
rerun 60 / 101 MB against 69 / 122 MB; CPU within the noise. tests/test_memory.py checks the
mechanism in a child process.
"""

from __future__ import annotations

import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own default


def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold for this process; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
