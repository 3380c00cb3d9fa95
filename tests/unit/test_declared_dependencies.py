"""Every third-party package the shipped code imports is declared in pyproject.toml (a fresh install
from the README command has it), and every test-only import is declared in the test extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CODE = [ROOT / "app.py", *ROOT.glob("watchwait/**/*.py"), *ROOT.glob("components/*.py"), *ROOT.glob("pages/*.py")]
TEST_CODE = [*ROOT.glob("tests/**/*.py")]
# the project's own modules, and the test folders' helper modules (imported by file name)
OWN = ({"watchwait", "components", "pages", "tests", "conftest"} | {p.stem for p in TEST_CODE}
       | {p.stem for p in ROOT.glob("benchmarks/*.py")})  # a test may import a benchmark's helpers by file name


def _imports(files) -> dict[str, set[str]]:
    """Top-level module -> files importing it (absolute imports only)."""
    out: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                out.setdefault(n.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return out


def _declared(key: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] if key is None else project["optional-dependencies"][key]
    return {re.split(r"[=<>!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _undeclared(files, declared: set[str]) -> dict[str, set[str]]:
    dists = packages_distributions()
    missing = {}
    for module, users in _imports(files).items():
        if module in OWN or module in sys.stdlib_module_names:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(module, [module])}
        if not names & declared:
            missing[module] = users
    return missing


def test_shipped_code_imports_only_declared_packages():
    assert _undeclared(SHIPPED_CODE, _declared() | _declared("cluster")) == {}


def test_the_cluster_extra_is_imported_only_where_it_is_optional():
    users = _imports(SHIPPED_CODE).get("dask", set()) | _imports(SHIPPED_CODE).get("distributed", set())
    assert users <= {"watchwait/imaging/cohort.py"}


def test_tests_import_only_declared_packages():
    assert _undeclared(TEST_CODE, _declared() | _declared("test")) == {}
