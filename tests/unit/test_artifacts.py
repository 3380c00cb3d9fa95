"""Loading artifacts is separate from training, checks the feature specification, and is safe to share
across threads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from watchwait import artifacts, features
from watchwait.errors import ModelArtifactError

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped"


def test_the_engine_never_imports_training_code():
    code = "import sys, watchwait.engine; print(sorted(m for m in sys.modules if m in ('watchwait.training', 'watchwait.sim')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(SHIPPED, dst)
    return dst


def test_shipped_model_records_its_feature_specification():
    card = json.loads((SHIPPED / "model_card.json").read_text())
    bundle = artifacts.load_model(SHIPPED)
    assert card["artifact"]["feature_spec_sha256"] == features.spec_fingerprint(bundle.predictor.features_)


def test_the_shipped_model_is_data_only_and_reproduces_its_probe_predictions():
    """Issue 16, item 5: the shipped folder holds no pickle, and loading it (which recomputes the probability, interval
    and explanation sum the card records for the probe rows, and refuses any difference) succeeds."""
    from watchwait import model_io

    assert model_io.pickle_files(SHIPPED) == []
    card = json.loads((SHIPPED / "model_card.json").read_text())
    assert card["artifact"]["format"] == model_io.FORMAT
    assert set(card["artifact"]["files"]) == {p.name for p in SHIPPED.iterdir()} - {"model_card.json", "model_card.md", "validation"}
    artifacts._load_cached.cache_clear()
    bundle = artifacts.load_model(SHIPPED)
    now = model_io.probe_predictions(bundle.predictor)
    # Equal to the last bits on the machine that saved them; on another CPU numpy's vectorised sums may round
    # differently (2026-12-08, a new machine: one probe's explanation sum 3.6e-15 off, its probability 1.2e-35). The
    # loader refuses anything beyond model_io.PROBE_TOLERANCE (1e-9); this holds the drift a thousand times tighter.
    for k in ("probability", "interval_low", "interval_high", "explanation_sum"):
        got, want = np.asarray(now[k]), np.asarray(card["artifact"]["probes"][k])
        assert got.shape == want.shape == (model_io.PROBE_ROWS,), k
        assert np.max(np.abs(got - want)) <= 1e-12, (k, float(np.max(np.abs(got - want))))


def test_a_changed_feature_definition_is_refused(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    # the endoscopy codes mapped the other way round: same names, different numbers for the same inputs
    swapped = tuple(
        features.Feature(f.name, f.modality, f.label, f.sources,
                         features._cat("endoscopy", {"complete": 2.0, "near_complete": 1.0, "incomplete": 0.0}))
        if f.name == "restaging__endoscopy" else f for f in features.BASE_FEATURES)
    monkeypatch.setattr(features, "BASE_FEATURES", swapped)
    monkeypatch.setattr("watchwait.model.BASE_FEATURES", swapped, raising=False)
    with pytest.raises(ModelArtifactError, match=r"the feature specification changed since this model was trained"):
        artifacts._load_uncached(str(folder))


def test_a_card_without_a_feature_specification_is_refused(tmp_path):
    folder = _copy(tmp_path)
    card = json.loads((folder / "model_card.json").read_text())
    del card["artifact"]["feature_spec_sha256"]
    (folder / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match=r"records no feature specification \(feature_spec_sha256\); .*Retrain"):
        artifacts._load_uncached(str(folder))


def test_the_fingerprint_sees_order_mapping_and_transform_changes():
    base = features.BASE_FEATURES
    fp = features.spec_fingerprint(base)
    assert features.spec_fingerprint(base) == fp  # deterministic
    assert features.spec_fingerprint(tuple(reversed(base))) != fp
    log2 = tuple(features.Feature(f.name, f.modality, f.label, f.sources,
                                  (lambda c, g=f.compute: g(c) / 2.0)) if f.name == "blood__cea_post_log" else f for f in base)
    assert features.spec_fingerprint(log2) != fp


def test_concurrent_first_loads_share_one_bundle(tmp_path):
    folder = str(_copy(tmp_path).resolve())
    artifacts._load_cached.cache_clear()
    got, errors = [], []

    def load():
        try:
            got.append(artifacts.load_model(folder))
        except Exception as e:  # noqa: BLE001 - the test reports any failure of a thread
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 6 and all(b is got[0] for b in got)
