"""Keeping a long crawl's memory flat under glibc.

Each list page arrives as a body of about 1 MB, read in a worker thread. glibc serves blocks
that large with mmap, and returns them to the system when freed, but after the first such free
it raises its mmap threshold ("dynamic threshold") and serves later bodies from the threads'
heaps instead, where small long-lived objects pin them: peak RSS then grows with the number of
pages. Fixing the threshold at glibc's default turns the dynamic adjustment off. What it saves
is measured in docs/benchmarks.md ("Memory: the mmap threshold"); tests/test_memory.py checks
the mechanism in a child process.
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
