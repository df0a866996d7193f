"""Defaults and environment variables. Imported by the CLI at start-up: keep it light."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://djangopackages.org/api/v4/"
ENV_BASE_URL = "PKGHARVEST_BASE_URL"
ENV_DATA_DIR = "PKGHARVEST_DATA_DIR"
APP_NAME = "pkgharvest"

DEFAULT_PAGE_SIZE = 2250
"""Records per list page. The service's work for a whole catalogue is a cost per request plus
a cost per record, so the fewest requests cost it least; 2,250 keeps one request under about a
second of its CPU while the packages list of today's catalogue still takes only three pages
(the cost model and its figures: docs/fetch.md, "How fetch crawls")."""

MAX_PAGE_SIZE = 5000
"""The largest `--page-size`: a page of real packages stays well under the body cap
(runtime.RequestLimits.max_body_bytes)."""


def default_data_dir() -> Path:
    """`$PKGHARVEST_DATA_DIR`, else platformdirs' user data dir (~/.local/share/pkgharvest)."""
    configured = os.environ.get(ENV_DATA_DIR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)
