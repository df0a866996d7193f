"""Defaults and environment variables. Imported by the CLI at start-up: keep it light."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://djangopackages.org/api/v4/"
ENV_BASE_URL = "PKGHARVEST_BASE_URL"
ENV_DATA_DIR = "PKGHARVEST_DATA_DIR"
DEFAULT_PYPI_URL = "https://pypi.org/pypi/"
"""`deps --django`: where PyPI's JSON API is (`<URL>NAME/json`, `<URL>NAME/VERSION/json`)."""
ENV_PYPI_URL = "PKGHARVEST_PYPI_URL"
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


_SCHEMES = ("http", "https")


def base_url_problem(url: str) -> str | None:
    """What makes `url` unusable as a base URL (the API's, PyPI's index), worded to follow it
    (`'ftp://x' is not an http:// or https:// URL`), or None. The caller names where the URL
    came from. Here, not in api/links.py, so that a reading command can check a URL without
    loading the HTTP edge."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # brackets that do not close, an IPv6 address that is not one
        return "is not a valid URL"
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return "is not an http:// or https:// URL"
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # 0 would silently mean the scheme's default port
        return "has no valid port (1 to 65535)"
    return None
