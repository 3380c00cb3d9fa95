from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def sim20k():
    """20,000 simulated patients (no oracle): for calibration-target tests."""
    from watchwait.simulate import simulate

    return simulate(20_000, seed=11, with_oracle=False)


@pytest.fixture(scope="session")
def sample_records():
    from watchwait.validation import frame_to_records, read_cohort

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A model trained here, in the test session, on 1,500 simulated patients with the oracle."""
    from watchwait.simulate import simulate
    from watchwait.training import save_model, train
    from watchwait.validation import validate_frame
    from watchwait.simulate import to_csv_frame

    c = simulate(1500, seed=21)
    frame = validate_frame(to_csv_frame(c.frame))
    bundle = train(frame, seed=3, truth=c.truth, data_description={"synthetic": True})
    out = save_model(bundle, tmp_path_factory.mktemp("model"))
    return out, bundle
