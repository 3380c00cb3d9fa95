"""The first screen waits for nothing it does not show (issue 19 item 4): the Patient page's first run imports no model
and no heavy library, the server start imports no case store when there is none to check, and the model, loaded by the
background warm-up or by the first screen that needs a probability, comes without the training code.
benchmarks/bench_app.py times the same path in Chromium."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each costs 0.1-1.5 s to import on a 2-core machine; the model's own modules load it.
HEAVY = ("pandas", "scipy", "sklearn", "lightgbm", "crepes", "glum", "numba", "shap", "plotly", "pydicom", "SimpleITK",
         "radiomics", "highdicom", "sqlalchemy", "alembic", "fpdf", "fhir", "watchwait.model", "watchwait.artifacts",
         "watchwait.engine", "watchwait.training")


def _fresh(code: str, cwd: Path = ROOT, env: dict | None = None) -> object:
    """Run ``code`` in a fresh interpreter with the project on its path; it prints one JSON value last."""
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    run = subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, capture_output=True, text=True, timeout=300,
                         env=env if env is not None else os.environ)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_first_run_of_the_patient_page_loads_no_model_and_no_heavy_library():
    loaded = _fresh(
        "import json, sys\n"
        "import components.cache as cache\n"
        "cache.WARMUP_DELAY_S = 3600  # the warm-up thread starts after the run; here it only waits\n"
        "from streamlit.testing.v1 import AppTest\n"
        "before = set(sys.modules)  # Streamlit's own imports (it imports plotly's top package) are the server's\n"
        f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=120)\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "assert at.selectbox(key='sample_choice').options, 'the Patient page did not render'\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules and m not in before]))")
    assert loaded == []


def test_a_start_without_a_case_store_imports_no_store(tmp_path):
    """``streamlit run components/serve.py`` checks the store's schema at import; with none to check it imports nothing
    of SQLAlchemy or Alembic (and creates no database)."""
    env = {k: v for k, v in os.environ.items() if k != "WATCHWAIT_DATABASE_URL"}
    loaded = _fresh(
        "import json, runpy, sys\n"
        f"runpy.run_path({str(ROOT / 'components' / 'serve.py')!r})\n"
        "print(json.dumps([m for m in ('sqlalchemy', 'alembic', 'watchwait.store') if m in sys.modules]))",
        cwd=tmp_path, env=env)
    assert loaded == []
    assert not (tmp_path / "var").exists()


def test_the_start_check_looks_where_the_store_does():
    """components/serve.py names the store's URL variable and default file itself (so as not to import the store to
    learn them): they must be the store's own."""
    from watchwait.store.migrate import DEFAULT_PATH, ENV_VAR

    text = (ROOT / "components" / "serve.py").read_text(encoding="utf-8")
    assert f'os.environ.get("{ENV_VAR}")' in text
    assert DEFAULT_PATH == Path("var") / "watchwait.db" and 'Path.cwd() / "var" / "watchwait.db"' in text


def test_the_app_loads_the_model_without_the_training_code_and_once_per_process():
    loaded = _fresh(
        "import json, sys\n"
        "from components import cache\n"
        "a = cache.load_model()\n"
        "b = cache.load_model()\n"
        "print(json.dumps({'same': a is b, 'training': 'watchwait.training' in sys.modules,"
        " 'numba': 'numba' in sys.modules}))")
    assert loaded == {"same": True, "training": False, "numba": False}
