"""Defaults and environment variables. Imported by the CLI at start-up: keep it light."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://djangopackages.org/api/v4/"
ENV_BASE_URL = "PKGHARVEST_BASE_URL"
ENV_DATA_DIR = "PKGHARVEST_DATA_DIR"
APP_NAME = "pkgharvest"


def default_data_dir() -> Path:
    """`$PKGHARVEST_DATA_DIR`, else platformdirs' user data dir (~/.local/share/pkgharvest)."""
    configured = os.environ.get(ENV_DATA_DIR)
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)
