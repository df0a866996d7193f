"""The configured API's address space: which URLs the harvester may request, and how.

Every URL the harvester requests is built here or checked here. A link from the API (a record's
category, grids, or a redirect) is followed only when it points into the configured API: same
scheme, host and port, and a path under the base path. DRF copies `?format=api` into every
hyperlink of a browsable-API response; that parameter is stripped before a link is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from pkgharvest.config import base_url_problem
from pkgharvest.errors import ForeignLink, UsageError
from pkgharvest.records import MAX_INTEGER, Kind

_DEFAULT_PORTS = {"http": 80, "https": 443}
_RECORD_PATH = re.compile(r"(packages|grids|categories)/([0-9]+)/?", re.ASCII)
_PLAIN_RECORD_PATH = re.compile(r"(packages|grids|categories)/([0-9]{1,15})/", re.ASCII)
_KNOWN_LINKS = 10_000  # links remembered per API base: a catalogue links a few hundred


def strip_format_param(url: str) -> str:
    """`url` without any `format=` query parameter (DRF's `format=api` asks for HTML)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "format"]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class ApiBase:
    """The root of the API everything is fetched from, e.g. `https://djangopackages.org/api/v4/`.

    scheme, host, port: the origin every followed URL must share (port made explicit).
    path: the base path, always ending in "/"; followed URLs must lie under it.
    """

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str, what: str = "the base URL") -> ApiBase:
        """The base of `url`; UsageError saying what is wrong with it (base_url_problem), the
        URL named as `what`."""
        problem = base_url_problem(url)
        if problem is not None:
            raise UsageError(f"{what} {url!r} {problem}")
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return cls(scheme, host, parts.port or _DEFAULT_PORTS[scheme], path)

    @cached_property
    def url(self) -> str:
        default = _DEFAULT_PORTS[self.scheme] == self.port
        netloc = self.host if default else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            netloc = f"[{self.host}]" if default else f"[{self.host}]:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"

    def list_url(self, kind: Kind, *, offset: int, limit: int) -> str:
        return f"{self.url}{kind.value}/?limit={limit}&offset={offset}"

    def detail_url(self, kind: Kind, key: int | str) -> str:
        if type(key) is int:  # every record's api_url: digits need no quoting
            return f"{self.url}{kind.value}/{key}/"
        return f"{self.url}{kind.value}/{quote(str(key), safe='')}/"

    def is_inside(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            return False
        return (
            scheme == self.scheme
            and (parts.hostname or "").lower() == self.host
            and port == self.port
            and parts.path.startswith(self.path)
            and "/../" not in parts.path + "/"
        )

    def checked(self, link: str) -> str:
        """`link` made safe to request: `format=` stripped; ForeignLink if it leaves the API."""
        cleaned = strip_format_param(link)
        if not self.is_inside(cleaned):
            raise ForeignLink(f"not following a link outside {self.url}: {link}", link)
        return cleaned

    def record_link(self, link: object, kind: Kind) -> int:
        """The id a hyperlink to a `kind` record names. ForeignLink for links outside the API;
        ValueError for anything that is not such a link."""
        if not isinstance(link, str):
            raise ValueError(f"expected a link to {kind.value}, got {type(link).__name__}")
        # A catalogue's links name the same few hundred grids and five categories again and
        # again: each is worked out once (one that fails raises every time, and is not kept).
        known = self._known_links.get(link)
        if known is not None and known[0] is kind:
            return known[1]
        record_id = self._linked_id(link, kind)
        if len(self._known_links) < _KNOWN_LINKS:
            self._known_links[link] = (kind, record_id)
        return record_id

    @cached_property
    def _known_links(self) -> dict[str, tuple[Kind, int]]:
        return {}

    def _linked_id(self, link: str, kind: Kind) -> int:
        # Nearly every link is exactly `<base><kind>/<digits>/` (maybe `?format=api`): a cheap
        # exact match settles those; anything else gets the full parse and checks below.
        if link.startswith(self.url):
            tail = link[len(self.url) :].removesuffix("?format=api")
            match = _PLAIN_RECORD_PATH.fullmatch(tail)
            if match is not None and match.group(1) == kind.value:
                return int(match.group(2))
        path = urlsplit(self.checked(link)).path[len(self.path) :]
        match = _RECORD_PATH.fullmatch(path)
        if match is None or match.group(1) != kind.value:
            raise ValueError(f"not a link to one of the {kind.value}: {link}")
        digits = match.group(2)
        if len(digits) > 16 or int(digits) > MAX_INTEGER:
            raise ValueError(f"a link to an id too large to be real: {link[:120]}")
        return int(digits)
