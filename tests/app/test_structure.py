"""House rules of the dashboard, checked on the source: caches and session keys in one module each,
no catch-all exception handlers, pure figure/table builders, domain package free of streamlit."""

import ast

import pytest

from apptest_helpers import ROOT

APP_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "components").glob("*.py"))]


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _imports(tree) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_every_st_cache_wrapper_is_in_components_cache():
    offenders = []
    for path in APP_FILES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource", "cache") \
                    and isinstance(node.value, ast.Name) and node.value.id == "st" and path.name != "cache.py":
                if not (path.name.startswith("test_")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_session_state_keys_are_named_only_in_components_state():
    offenders = []
    for path in APP_FILES:
        if path.name == "state.py":
            continue
        for node in ast.walk(_tree(path)):
            target = None
            if isinstance(node, ast.Subscript):
                target, key = node.value, node.slice
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault") and node.args:
                target, key = node.func.value, node.args[0]
            if target is not None and isinstance(target, ast.Attribute) and target.attr == "session_state" \
                    and isinstance(key, ast.Constant) and isinstance(key.value, str):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {key.value!r}")
    assert offenders == []


def test_no_catch_all_exception_handlers():
    offenders = []
    for path in APP_FILES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ExceptHandler):
                names = [node.type] if not isinstance(node.type, ast.Tuple) else list(node.type.elts)
                if node.type is None or any(isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("name", ["figures.py", "tables.py", "fmt.py", "palette.py", "imaging_figures.py"])
def test_figure_and_table_builders_are_pure(name):
    assert "streamlit" not in _imports(_tree(ROOT / "components" / name))


def test_new_domain_modules_never_import_streamlit():
    for name in ("evidence.py", "whatif.py"):
        assert "streamlit" not in _imports(_tree(ROOT / "watchwait" / name)), name


def test_app_py_is_a_router():
    tree = _tree(ROOT / "app.py")
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert {"set_page_config", "navigation", "Page", "init"} <= calls
    assert len((ROOT / "app.py").read_text().splitlines()) < 40


@pytest.mark.parametrize("value", [None, float("nan"), "", "  ", "0", 0, 0.0, "abc", False, True])
def test_form_blank_rule_is_the_validators(value):
    from components.values import is_blank
    from watchwait.validation import is_blank as validator_is_blank

    assert is_blank(value) == validator_is_blank(value)


def test_first_screen_does_not_import_pandas():
    """The empty Patient screen renders before the heavy imports (cold start)."""
    import subprocess
    import sys

    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=60); at.run(); "
            "assert not at.exception, at.exception; print(sorted(m for m in ('pandas', 'sklearn', 'watchwait.validation') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
