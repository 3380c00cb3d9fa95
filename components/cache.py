"""Every ``st.cache_*`` wrapper of the app, in one place.

- The model: :func:`model_bundle` via ``st.cache_resource``, loaded once per process and shared by
  every session. Never mutate what it returns.
- Reference tables that hold no patient data (the evidence table, the shipped synthetic sample
  patients): ``st.cache_data``.
- Patient data is never cached here: a patient's assessment is memoised in that session's
  ``st.session_state`` (see :mod:`components.patient`).
- The case store: :func:`store` via ``st.cache_resource``, one :class:`watchwait.store.Store` (a connection
  pool, safe to share between threads) per database URL and per server; it holds no patient data itself
  (every read goes to the database), and the open patient stays per session.

A background thread starts loading the model (and the SHAP import) once the first screen has been
sent, so that the first screen does not wait for it and the first assessment rarely does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:  # the model's modules pull in LightGBM, crepes, SciPy and scikit-learn (about 1 s): only when needed
    import pandas as pd

    from watchwait.artifacts import ModelBundle


def load_model():
    """The shipped (or ``WATCHWAIT_MODEL``) model, from watchwait's process-wide cache: read and verified once per process.
    Not from watchwait.training, which would also import the training code (pandas, the peers)."""
    from watchwait.artifacts import load_model as _load

    return _load()

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILE = ROOT / "sample_data" / "sample_patients.csv"


WARMUP_DELAY_S = 1.5  # let the first screen finish before competing with it for the interpreter
WARMUP_THREAD = "watchwait-warmup"


def _warm(wake: threading.Event) -> None:
    """Load the model into watchwait's own process-wide cache (no patient data). The screens' explanations are the
    model's own exact contributions: shap is not imported by the app (see watchwait/explanation.py)."""
    from watchwait import WatchwaitError

    wake.wait(WARMUP_DELAY_S)
    try:
        load_model()
    except WatchwaitError:
        pass  # reported to the user by model_bundle() on first use


@st.cache_resource(show_spinner=False)
def start_warmup() -> threading.Thread:
    wake = threading.Event()
    thread = threading.Thread(target=_warm, args=(wake,), name=WARMUP_THREAD, daemon=True)
    thread.wake = wake  # type: ignore[attr-defined]
    thread.start()
    return thread


def wait_for_warmup() -> None:
    """Let a running warm-up finish first, so that two threads never import the heavy libraries at once."""
    for thread in threading.enumerate():
        if thread.name == WARMUP_THREAD and thread.is_alive() and thread is not threading.current_thread():
            thread.wake.set()  # type: ignore[attr-defined]
            thread.join()


@st.cache_resource(show_spinner="Loading the model...")
def model_bundle() -> "ModelBundle":
    """The shipped (or ``WATCHWAIT_MODEL``) model, verified; raises ``ModelArtifactError``."""
    return load_model()


@st.cache_data(show_spinner=False)
def evidence_table() -> "pd.DataFrame":
    """The trial-arm table with intervals (reference data, no patient data)."""
    from watchwait import evidence

    return evidence.load_trials()


@st.cache_data(show_spinner=False)
def sample_ids() -> list[str]:
    """The demo patients' pseudonyms, read without pandas (for the first screen)."""
    import csv

    with SAMPLE_FILE.open(encoding="utf-8", newline="") as fh:
        return [row["patient_id"] for row in csv.DictReader(fh)]


@st.cache_data(show_spinner=False)
def sample_records() -> dict[str, dict]:
    """The 12 shipped synthetic demo patients (not real people), validated, by patient_id."""
    from watchwait.validation import frame_to_records, read_cohort

    return {str(r["patient_id"]): r for r in frame_to_records(read_cohort(SAMPLE_FILE, source="sample_patients.csv"))}


SAMPLE_IMAGING = ROOT / "sample_data" / "imaging"


@st.cache_data(show_spinner=False)
def sample_imaging_ids() -> list[str]:
    """Sample patients with synthetic MR (``sample_data/imaging/<id>/``, both visits with a SEG); no patient data."""
    if not SAMPLE_IMAGING.is_dir():
        return []
    return sorted(p.name for p in SAMPLE_IMAGING.iterdir()
                  if all((p / v).is_dir() and (p / f"{v}_seg.dcm").is_file() for v in ("baseline", "restaging")))


@st.cache_resource(show_spinner=False)
def _store(url: str):
    from watchwait.store import Store

    return Store(url)


def store():
    """The case store of ``WATCHWAIT_DATABASE_URL`` (else ``var/watchwait.db``), opened once per server and URL.
    Raises :class:`watchwait.store.StoreSchemaError` (schema too old/new, URL unusable, server unreachable):
    nothing is cached then, so the next call tries again."""
    import os

    from watchwait.store.migrate import DEFAULT_PATH, ENV_VAR

    return _store(os.environ.get(ENV_VAR) or str(Path.cwd() / DEFAULT_PATH))
