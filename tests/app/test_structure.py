"""House rules of the dashboard, checked on the source: caches and session keys in one module each,
no catch-all exception handlers (app and domain package, outside an explicit allowlist), pure
figure/table builders, domain package free of streamlit."""

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


#: Every file whose exception handlers are checked: the app, and the whole domain package.
HANDLER_FILES = [*APP_FILES, *sorted((ROOT / "watchwait").rglob("*.py"))]

#: The only places where a broad handler (``except Exception``, ``except BaseException`` or a
#: bare ``except:``) is allowed: (file, function, why). Everything else catches the types it
#: expects, so that a bug surfaces as itself instead of as a user-facing message. An entry
#: whose handler has gone fails the test too (the list cannot rot).
BROAD_HANDLER_ALLOWLIST = [
    ("watchwait/imaging/cohort.py", "_probe_scheduler.run",
     ("hands whatever the probe thread raised to the caller's thread, which turns a bad address or a connection "
      "failure into its message and re-raises anything else")),
    ("watchwait/imaging/cohort.py", "_times_lost",
     ("wraps only client.run_on_scheduler, which a scheduler configured not to run functions refuses in types of its "
      "own; the count only adds a note ('run again on another Dask worker'), the results stand without it")),
    ("watchwait/imaging/radiomics.py", "_extractor",
     ("wraps only pyradiomics' RadiomicsFeatureExtractor(params) on a user-supplied YAML file: "
      "pykwalify runs pyradiomics' own schema functions on arbitrary values, so the types raised "
      "for a bad file are open-ended; the message names the parameter file")),
    ("watchwait/model_io.py", "_Reader.booster",
     ("wraps only lightgbm.Booster(model_str=...) on a model file's trees, already checked line by line: LightGBM's "
      "parser reports a bad file in its own exception types; the message names the file")),
    ("watchwait/model_io.py", "read_predictor",
     ("wraps only the rebuilding of a model from an untrusted model.json (whitelisted types, declared fields): an "
      "altered file can provoke any type from numpy or the rebuilt classes; the message names the file (ModelArtifactError "
      "and RecursionError are handled first)")),
    ("watchwait/model_io.py", "check_probes",
     ("wraps only the probe predictions of a freshly loaded model: arrays of the wrong shape or kind from an altered "
      "file fail inside numpy, LightGBM or crepes with open-ended types; the message names the folder")),
]


def _broad_handlers(path):
    """(function, line) of each handler of ``path`` that catches Exception, BaseException or all.

    ``function`` is the dotted name of the enclosing function (``Class.method``, ``outer.inner``),
    ``"<module>"`` at module level.
    """
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, child.name if function == "<module>" else f"{function}.{child.name}")
                continue
            if isinstance(child, ast.ExceptHandler):
                names = [child.type] if not isinstance(child.type, ast.Tuple) else list(child.type.elts)
                if child.type is None or any(isinstance(n, ast.Name) and n.id in ("Exception", "BaseException")
                                             for n in names):
                    found.append((function, child.lineno))
            visit(child, function)

    visit(_tree(path), "<module>")
    return found


def test_the_handler_check_covers_the_app_and_the_whole_domain_package():
    checked = {p.relative_to(ROOT).as_posix() for p in HANDLER_FILES}
    assert {"app.py", "watchwait/engine.py", "watchwait/imaging/_reading.py", "watchwait/imaging/dicom_io.py",
            "watchwait/imaging/roi.py", "watchwait/imaging/deid.py"} <= checked
    assert any(c.startswith("pages/") for c in checked) and any(c.startswith("components/") for c in checked)


def test_the_handler_check_finds_broad_handlers(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    try:\n        pass\n    except (ValueError, Exception):\n        pass\n"
                      "class C:\n    def g(self):\n        try:\n            pass\n        except:\n            pass\n"
                      "try:\n    pass\nexcept BaseException:\n    pass\n"
                      "try:\n    pass\nexcept (KeyError, OSError):\n    pass\n")
    assert _broad_handlers(sample) == [("f", 4), ("C.g", 10), ("<module>", 14)]


def test_no_catch_all_exception_handlers():
    allowed = {(path, function) for path, function, _ in BROAD_HANDLER_ALLOWLIST}
    found = {(p.relative_to(ROOT).as_posix(), function, line)
             for p in HANDLER_FILES for function, line in _broad_handlers(p)}
    offenders = sorted(f"{path}:{line} in {function}" for path, function, line in found
                       if (path, function) not in allowed)
    assert offenders == [], "broad exception handlers outside the allowlist"
    stale = sorted(f"{path} {function}" for path, function in allowed
                   if not any((path, function) == (f[0], f[1]) for f in found))
    assert stale == [], "allowlist entries without a broad handler any more: remove them"
    assert all(why.strip() for _, _, why in BROAD_HANDLER_ALLOWLIST)


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


def test_no_import_cycle_among_the_components():
    """components/ has no import cycle (issue 19: layout -> identity -> meeting -> layout was one): each module's
    imports, top-level or inside functions (grimp reads both), form a graph without a strongly connected part."""
    import grimp

    graph = grimp.build_graph("components", "watchwait")
    mods = sorted(m for m in graph.modules if m.startswith("components."))
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith("components.")} for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for m in mods:
        if m not in index:
            visit(m)
    assert cycles == []
