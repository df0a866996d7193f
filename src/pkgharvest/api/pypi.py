"""PyPI's JSON API (`/pypi/NAME/json`, `/pypi/NAME/VERSION/json`), or a mirror or proxy that
serves the same (devpi, Artifactory, Nexus: `--pypi-url`), through the same client as the
Django Packages API: the same body cap, request and run deadlines, retries with backoff and
`Retry-After`, User-Agent and bounded concurrency (JsonClient). Redirects are followed only
within the index URL (PyPI sends `/pypi/django/json` to `/pypi/Django/json`); never to another
host.

Each answer stands alone: one that is missing (404), fails after the retries, passes the
deadlines or is not PyPI's JSON is reported for that name only (answers.Fetched), never raised
for the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from pkgharvest.api.client import JsonClient
from pkgharvest.api.links import ApiBase
from pkgharvest.errors import ApiNotFound, PkgHarvestError
from pkgharvest.project.answers import Fetched, ReleaseKey
from pkgharvest.runtime import Dependencies


class _PypiJson(JsonClient):
    service = "PyPI"
    unchanged = ""


def _pypi_problem(body: Any) -> str | None:
    if not isinstance(body, Mapping) or not isinstance(body.get("info"), Mapping):
        return "not PyPI's JSON (no `info` object)"
    return None


class PypiClient:
    """Asks a PyPI-compatible JSON API, at most `concurrency` requests at once."""

    def __init__(
        self,
        index_url: str,
        deps: Dependencies,
        *,
        concurrency: int = 4,
        run_timeout: float | None = None,
        option: str = "--pypi-url",
    ) -> None:
        """option: how messages name the URL (the option, or the variable it came from)."""
        self.base = ApiBase.parse(index_url, option)
        self.concurrency = max(1, concurrency)
        self._client = _PypiJson(
            self.base, deps, concurrency=self.concurrency, run_timeout=run_timeout
        )

    @property
    def requests(self) -> int:
        return self._client.requests

    def project_url(self, name: str) -> str:
        return f"{self.base.url}{quote(name, safe='')}/json"

    def release_url(self, name: str, version: str) -> str:
        return f"{self.base.url}{quote(name, safe='')}/{quote(version, safe='')}/json"

    def projects(self, names: Sequence[str]) -> dict[str, Fetched]:
        return self._all([(name, self.project_url(name)) for name in names])

    def releases(self, keys: Sequence[ReleaseKey]) -> dict[ReleaseKey, Fetched]:
        return self._all([(key, self.release_url(*key)) for key in keys])

    def _all(self, items: Sequence[tuple[Any, str]]) -> dict[Any, Fetched]:
        if not items:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            answers = list(pool.map(self._one, (url for _, url in items)))
        return {key: answer for (key, _), answer in zip(items, answers, strict=True)}

    def _one(self, url: str) -> Fetched:
        try:
            return Fetched("ok", self._client.get_json(url, expect=_pypi_problem))
        except ApiNotFound:
            return Fetched("missing")
        except PkgHarvestError as err:
            return Fetched("failed", reason=str(err))

    def close(self) -> None:
        self._client.close()
