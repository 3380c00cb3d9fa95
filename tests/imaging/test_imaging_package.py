"""Package rules: the imaging code never imports streamlit, and its parameter files ship with it."""

from __future__ import annotations

import ast
from pathlib import Path

import watchwait.imaging as imaging

PACKAGE = Path(imaging.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_streamlit():
    offenders = [p.name for p in PACKAGE.rglob("*.py") if "streamlit" in _imports(p)]
    assert offenders == []


def test_dask_is_never_imported_at_module_level():
    for path in PACKAGE.rglob("*.py"):
        top_level = [n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any("dask" in ast.unparse(n) for n in top_level), path.name


def test_parameter_files_are_versioned_and_present():
    names = sorted(p.name for p in (PACKAGE / "params").glob("*.yaml"))
    assert names == ["ibsi_digital_phantom_v1.yaml", "watchwait_mr_v1.yaml"]
