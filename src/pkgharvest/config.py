"""Defaults and environment variables. Imported by the CLI at start-up: keep it light."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://djangopackages.org/api/v4/"
ENV_BASE_URL = "PKGHARVEST_BASE_URL"
ENV_DATA_DIR = "PKGHARVEST_DATA_DIR"
APP_NAME = "pkgharvest"

DEFAULT_PAGE_SIZE = 250
"""Records per list page. From the server's work per record (README "How fetch crawls"): a
page costs the real service ~17 ms plus ~0.62 ms per record, so 250 a page (4 overlapping)
costs 0.69 ms per record against 0.82 at 100 and 0.64 at 1,000, while one request stays under
0.2 s of server CPU and a failed page stays cheap to retry."""

MAX_PAGE_SIZE = 1000
"""The largest `--page-size` (the service's own limit is higher; a larger page only makes a
failed one dearer to retry)."""
MAX_CONCURRENCY = 16
"""The most requests `--concurrency` may keep in flight at once."""


def default_data_dir() -> Path:
    """`$PKGHARVEST_DATA_DIR`, else platformdirs' user data dir (~/.local/share/pkgharvest)."""
    configured = os.environ.get(ENV_DATA_DIR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)
