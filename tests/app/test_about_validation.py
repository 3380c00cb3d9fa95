"""About the model: the loaded model's stored validation report (watchwait.validate), or how to make one."""

import json
from pathlib import Path

import numpy as np
import pytest

from apptest_helpers import ROOT, goto, new_app, plotly_specs, texts
from watchwait import validate as V
from watchwait.artifacts import ModelBundle


@pytest.fixture
def card():
    return json.loads((ROOT / "models" / "shipped" / "model_card.json").read_text())


def _use_model(monkeypatch, card, folder: Path):
    """The app's model is ``folder`` with ``card`` (the model file itself is not needed by the About screen)."""
    from components import cache

    bundle = ModelBundle(predictor=None, card=card, path=folder)
    monkeypatch.setattr(cache, "model_bundle", lambda: bundle)
    return bundle


def _report(card, groups=True):
    rng = np.random.default_rng(5)
    lp = rng.normal(-0.6, 1.5, 2000)
    p = 1 / (1 + np.exp(-lp))
    y = rng.random(2000) < p
    g = {"Radiotherapy": np.where(rng.random(2000) < 0.01, "no radiotherapy", "short-course radiotherapy (5 x 5 Gy)")}
    return V.validation_report(y, p, groups=g if groups else None, model=card, resamples=100)


def test_about_shows_the_stored_validation_report(monkeypatch, tmp_path, card):
    report = _report(card)
    V.write_report(report, tmp_path / "validation")
    _use_model(monkeypatch, card, tmp_path)
    at = goto(new_app(), "about_model")
    screen = texts(at)
    assert "Validation report" in screen
    assert f"These figures come from {report['n']:,} held-out patients of the training cohort" in screen
    if card["training_data"].get("synthetic"):
        assert "the training cohort is simulated (synthetic data)" in screen
    assert "not the loaded model" not in screen
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    summary = tables[("measure", "estimate", "95% confidence interval", "ideal")]
    auc = report["discrimination"]["auc"]
    row = summary.set_index("measure").loc["AUC (discrimination)"]
    assert row["estimate"] == f"{auc['estimate']:.3f}" and row["95% confidence interval"] == f"{auc['ci'][0]:.3f} to {auc['ci'][1]:.3f}"
    slope = report["calibration"]["slope"]
    assert summary.set_index("measure").loc["Calibration slope", "estimate"] == f"{slope['estimate']:.2f}"
    groups = next(v for k, v in tables.items() if "group" in k)
    assert list(groups["group"]) == ["short-course radiotherapy (5 x 5 Gy)", "no radiotherapy"]
    assert groups.iloc[1]["AUC"] == "too few patients to estimate"
    nb = next(v for k, v in tables.items() if "threshold" in k)
    assert list(nb["threshold"]) == ["20%", "30%", "40%", "50%", "60%", "70%", "80%"]
    # the two plots, built from the JSON
    specs = plotly_specs(at)
    names = [{t.get("name") for t in s["data"]} for s in specs]
    assert any("smoothed calibration curve" in n for n in names)
    dc = next(s for s, n in zip(specs, names) if "organ preservation for everyone" in n)
    model_line = next(t for t in dc["data"] if t.get("name", "").startswith("the model"))
    assert model_line["y"] == pytest.approx(report["decision_curve"]["model"])
    assert "design choice of this tool" in screen


def test_about_says_when_the_report_is_about_another_model(monkeypatch, tmp_path, card):
    V.write_report(_report({**card, "model_version": "fused-older-1"}, groups=False), tmp_path / "validation")
    _use_model(monkeypatch, card, tmp_path)
    screen = texts(goto(new_app(), "about_model"))
    assert f"This report is about model fused-older-1, not the loaded model {card['model_version']}" in screen


def test_about_without_a_report_says_so_and_gives_the_command(monkeypatch, tmp_path, card):
    _use_model(monkeypatch, card, tmp_path)
    at = goto(new_app(), "about_model")
    assert "No validation report is stored with this model." in texts(at)
    assert [c.value for c in at.code] == ["watchwait validate --model <model folder> --cohort <cohort file with outcomes> "
                                          "--out <model folder>/validation"]
