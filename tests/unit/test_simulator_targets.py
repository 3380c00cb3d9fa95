"""Every calibration target of the simulator (watchwait.sim.TARGETS) holds on one simulated cohort,
and the README's "Simulator calibration" table is the one these values give (the figures live in
one place: TARGETS; the README table is generated from it by watchwait.sim.targets_table)."""
from pathlib import Path

import numpy as np
import pytest

from watchwait import sim as S

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def values():
    """The targets measured on the README's cohort (TARGET_COHORT: 40,000 patients, no oracle)."""
    cohort = S.simulate(S.TARGET_COHORT["n"], seed=S.TARGET_COHORT["seed"], with_oracle=False)
    return S.target_values(cohort)


def test_every_target_is_measured_once():
    keys = [t.key for t in S.TARGETS]
    assert len(keys) == len(set(keys))
    for t in S.TARGETS:
        assert t.low < t.high and t.source and t.what, t.key
        if t.value is not None:
            assert t.low <= t.value <= t.high, t.key


@pytest.mark.parametrize("target", S.TARGETS, ids=[t.key for t in S.TARGETS])
def test_simulated_value_within_accepted_band(values, target):
    v = values[target.key]
    assert np.isfinite(v) and target.low <= v <= target.high, (target.what, v, target.tolerance())


def test_readme_table_is_current(values):
    text = README.read_text()
    section = text.split("## Simulator calibration", 1)[1].split("\n## ", 1)[0]
    assert S.targets_table(values) in section, "regenerate: python -c 'from watchwait.sim import targets_table; print(targets_table())'"
    assert text.index("## Simulator calibration") < text.index("## Tests")


def test_auc_helper_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    x = np.round(rng.normal(y * 0.8), 1)  # ties
    x[::17] = np.nan
    ok = ~np.isnan(x)
    assert S._auc(y, x) == pytest.approx(roc_auc_score(y[ok], x[ok]), abs=1e-12)
