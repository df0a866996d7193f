"""Rules of the code's shape, checked on the source itself: every exception class lives in
errors.py; only cli/ and views/ import typer or rich (the core reports through events, so it
runs under cron, in tests and in other programs alike); each wing imports only the wings below
it; the HTTP edge touches no file; no two modules import each other, even through others
(cli/ included)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "pkgharvest"
UI_PACKAGES = ("cli", "views")


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text("utf-8"))) for path in sorted(SOURCE.rglob("*.py"))]


def is_exception_class(node: ast.ClassDef) -> bool:
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if name.endswith(("Error", "Exception", "Interrupt")) or name in {
            "BaseException",
            "KeyboardInterrupt",
        }:
            return True
    return False


def test_every_exception_class_lives_in_errors_py() -> None:
    outside = [
        f"{path.relative_to(SOURCE)}: {node.name}"
        for path, tree in modules()
        if path.name != "errors.py" or path.parent != SOURCE
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and is_exception_class(node)
    ]
    assert outside == []


def test_only_cli_and_views_import_typer_or_rich() -> None:
    offenders = []
    for path, tree in modules():
        if path.relative_to(SOURCE).parts[0] in UI_PACKAGES:
            continue
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(SOURCE)}: {name}"
                for name in names
                if name.split(".")[0] in {"typer", "rich", "click"}
            ]
    assert offenders == []


# --- the wings ------------------------------------------------------------------------------
#
# Data walks one way: cli -> fetch -> api -> store -> catalogue -> views / formats. Each wing
# may use the shared modules at the top (errors, config, records, events, runtime, ...) and the
# wings below it, never one above it.

FORBIDDEN = {
    "store": ("fetch", "api", "catalogue", "views", "formats", "cli"),
    "api": ("store", "fetch", "catalogue", "views", "formats", "cli"),
    "catalogue": ("fetch", "api", "views", "formats", "cli"),
    "fetch": ("views", "formats", "cli"),
    "views": ("fetch", "api", "cli"),
    "formats": ("fetch", "api", "cli", "views"),
    "project": ("cli", "views", "formats", "fetch", "api", "catalogue", "store"),
}
"""project/ (a project's dependency files and the rules `deps` judges by) is pure: below every
wing that uses it, it reads files and holds rules, and asks neither the network nor the
database (those come in through the small interfaces of project/answers.py)."""

NARROW_EXCEPTIONS = {"cli/deps.py": ("pkgharvest.api.pypi",)}
"""A reading command that may import an api module, inside a function only: `deps --django`
asks PyPI when an answer is missing or stale, and imports the client only then."""
FILE_MODULES = ("pathlib", "shutil", "tempfile", "os", "io", "sqlite3", "mmap")
"""What touching files takes; the HTTP edge needs none of it."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Nodes under `if TYPE_CHECKING:` (annotations only: nothing is imported at run time)."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }


def imported_modules(tree: ast.Module) -> list[str]:
    """Every module a file imports at run time, at its top or inside a function."""
    skip = _type_checking_only(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
    return found


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pkgharvest" else None


def test_each_wing_imports_only_the_wings_below_it() -> None:
    offenders = []
    for path, tree in modules():
        own = _wing(_module_name(path))
        for name in imported_modules(tree):
            if _wing(name) in FORBIDDEN.get(own or "", ()):
                offenders.append(f"{path.relative_to(SOURCE)}: {name}")
    assert offenders == []


def test_the_http_edge_never_touches_files() -> None:
    offenders = []
    for path, tree in modules():
        if _wing(_module_name(path)) != "api":
            continue
        offenders += [
            f"{path.relative_to(SOURCE)}: imports {name}"
            for name in imported_modules(tree)
            if name.split(".")[0] in FILE_MODULES
        ]
        offenders += [
            f"{path.relative_to(SOURCE)}:{node.lineno}: open()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open"
        ]
    assert offenders == []


def test_only_the_catalogue_wing_imports_sqlite3() -> None:
    """The database's edge is catalogue/: every sqlite3.Error is turned into an errors.py class
    there (catalogue/edge.py), so no other module can meet, or has to catch, one."""
    offenders = [
        f"{path.relative_to(SOURCE)}: {name}"
        for path, tree in modules()
        if _wing(_module_name(path)) != "catalogue"
        for name in imported_modules(tree)
        if name.split(".")[0] == "sqlite3"
    ]
    assert offenders == []


def test_the_reading_commands_never_import_fetch_or_api() -> None:
    offenders = []
    for path, tree in modules():
        rel = path.relative_to(SOURCE)
        fetch_side = {"fetch.py", "__init__.py", "bar.py", "progress.py"}
        if rel.parts[0] != "cli" or rel.name in fetch_side:
            continue
        allowed = NARROW_EXCEPTIONS.get(str(rel), ())
        offenders += [
            f"{rel}: {name}"
            for name in imported_modules(tree)
            if _wing(name) in {"fetch", "api"}
            and not any(name == a or name.startswith(a + ".") for a in allowed)
        ]
    assert offenders == []


def test_the_narrow_exceptions_import_inside_functions_only() -> None:
    """cli/deps.py's import of the PyPI client is inside a function: importing the command's
    module (every `deps` run, and `--help`) does not load the HTTP stack."""
    for rel, allowed in NARROW_EXCEPTIONS.items():
        tree = ast.parse((SOURCE / rel).read_text("utf-8"))
        top_level = ast.Module(body=[n for n in tree.body], type_ignores=[])
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                top_level.body.remove(node)
        names = imported_modules(top_level)
        assert not [n for n in names if any(n.startswith(a) for a in allowed)], rel


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports at run time. `from pkgharvest.store import journal`
    depends on the module journal, `from pkgharvest.store.lock import LOCK_NAME` on lock."""
    known = {_module_name(path) for path, _ in modules()}
    graph: dict[str, set[str]] = {}
    for path, tree in modules():
        name = _module_name(path)
        skip = _type_checking_only(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names} & known
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges |= {full} if full in known else {node.module} & known
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_import_graph()) == []
