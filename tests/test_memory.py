"""The fetch command pins glibc's mmap threshold (memory.py): a freed large body must go back
to the system instead of staying on the heap, where small long-lived objects pin it.

Checked by behaviour in child processes (the setting is process-wide): 4 MB bodies allocated
and freed twenty times between small objects that stay; glibc's `mallinfo2` then tells how big
the heap grew. Unpinned, glibc raises its threshold after the first free and the heap keeps a
body's worth; pinned, it does not. (What this saves a whole crawl is measured by bench.run.)
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHILD = """
import ctypes, sys
from pkgharvest.fetch.memory import pin_mmap_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pin":
    assert pin_mmap_threshold()
kept = []
for _ in range(20):
    body = bytearray(4 * 1024 * 1024)
    body[::4096] = b"x" * len(body[::4096])  # touch every page, as a read body is
    del body
    kept.append(bytearray(64))  # a small object that outlives the body
print(libc.mallinfo2().arena)
"""


def heap_after_large_bodies(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or platform.libc_ver()[0] != "glibc"
    or tuple(int(p) for p in platform.libc_ver()[1].split(".")[:2]) < (2, 33),
    reason="mallopt and mallinfo2 are glibc's (2.33+)",
)
def test_pinned_large_bodies_go_back_to_the_system() -> None:
    body = 4 * 1024 * 1024
    assert heap_after_large_bodies("unpinned") >= body  # what the pin is for
    assert heap_after_large_bodies("pin") < body // 2
