"""The fetch command pins glibc's mmap threshold so that a long crawl's RSS stays flat."""

from __future__ import annotations

import platform
import sys

import pytest

from pkgharvest.memory import pin_mmap_threshold


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_glibc_accepts_the_pinned_threshold() -> None:
    assert pin_mmap_threshold() is True
