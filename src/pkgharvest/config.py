"""Defaults and environment variables. Imported by the CLI at start-up: keep it light."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://djangopackages.org/api/v4/"
ENV_BASE_URL = "PKGHARVEST_BASE_URL"
ENV_DATA_DIR = "PKGHARVEST_DATA_DIR"
APP_NAME = "pkgharvest"

DEFAULT_PAGE_SIZE = 1504
"""Records per list page: 1,500 new ones and the 4 each page repeats (crawl.OVERLAP). The
service's work for a whole catalogue is a cost per request plus a cost per record, so fewer
requests cost it less; pages this size read today's catalogue in seven requests, each well
under a second of the service's CPU, and hold a fetch's peak memory within its budget (the
cost model, its figures and the memory measured: docs/fetch.md, "How fetch crawls")."""

MAX_PAGE_SIZE = 5000
"""The largest `--page-size`: a page of real packages stays well under the body cap
(runtime.RequestLimits.max_body_bytes)."""

MAX_CONCURRENCY = 16
"""The most requests `--concurrency` may keep in flight at once."""


def default_data_dir() -> Path:
    """`$PKGHARVEST_DATA_DIR`, else platformdirs' user data dir (~/.local/share/pkgharvest)."""
    configured = os.environ.get(ENV_DATA_DIR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)
