"""The dashboard refuses to start on a case store whose schema is older than its own, and says how to fix it
(issue 11); with no database yet it starts without creating one."""

import os
import subprocess
import sys
from pathlib import Path

from watchwait.store import Store
from watchwait.store.migrate import downgrade

ROOT = Path(__file__).resolve().parents[2]


def _serve(env: dict, cwd: Path) -> subprocess.CompletedProcess:
    """Import the served module as `streamlit run components/serve.py` does (the check runs at import)."""
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import runpy; runpy.run_path({str(ROOT / 'components' / 'serve.py')!r})"
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_an_older_store_stops_the_start_with_the_command_that_fixes_it(tmp_path):
    db = tmp_path / "old.db"
    Store(f"sqlite:///{db}").close()
    downgrade(f"sqlite:///{db}", "0001_case_store")  # the database as the previous watchwait left it
    run = _serve({**os.environ, "WATCHWAIT_DATABASE_URL": f"sqlite:///{db}"}, tmp_path)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith("watchwait: the dashboard did not start. ")
    assert "watchwait db upgrade" in run.stderr
    assert "Traceback" not in run.stderr


def test_no_database_yet_starts_and_creates_none(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WATCHWAIT_DATABASE_URL"}
    run = _serve(env, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not (tmp_path / "var").exists()
