"""watchwait.validate and `watchwait validate`: the figures against reference values, the report files, the command.

The metrics take y and p directly; the command's tests replace the model by a fixed function of the simulator's
true probability (so they hold whatever model is shipped), and one test runs the shipped model itself.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from watchwait import validate as V
from watchwait.artifacts import ModelBundle
from watchwait.errors import WatchwaitError
from watchwait.metrics import calibration_slope_intercept


def _cohort(n, seed, shift=0.0, scale=1.0):
    """Outcomes drawn from p_true; the model's p = expit(shift + scale * logit(p_true))."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.6, 1.5, n)
    p_true = 1 / (1 + np.exp(-lp))
    y = rng.random(n) < p_true
    p = 1 / (1 + np.exp(-(shift + scale * lp)))
    return y, p, p_true


# ----------------------------------------------------------------------------- discrimination

def test_auc_equals_scikit_learn_and_delong_se_equals_its_definition():
    rng = np.random.default_rng(3)
    y = rng.random(120) < 0.4
    p = np.round(np.clip(0.4 + 0.25 * (y - 0.4) + rng.normal(0, 0.2, 120), 0, 1), 1)  # rounded: many ties
    auc, se = V.delong_auc(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    # DeLong 1988 by its definition: structural components psi(x, y) = 1, 1/2, 0 over every pair
    pos, neg = p[y], p[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    ref = math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    assert se == pytest.approx(ref, rel=1e-10)
    r = V.validation_report(y, p, resamples=50)
    assert r["discrimination"]["auc"]["estimate"] == pytest.approx(auc, abs=1e-4)
    lo, hi = r["discrimination"]["auc"]["ci"]
    assert lo == pytest.approx(auc - 1.959964 * se, abs=1e-4) and hi == pytest.approx(auc + 1.959964 * se, abs=1e-4)


# ----------------------------------------------------------------------------- calibration

def test_perfectly_calibrated_probabilities_give_slope_1_and_intercept_0():
    y, p, _ = _cohort(20_000, seed=1)
    r = V.validation_report(y, p, resamples=100)
    cal = r["calibration"]
    assert abs(cal["slope"]["estimate"] - 1) < 0.05 and abs(cal["intercept"]["estimate"]) < 0.05
    assert cal["slope"]["ci"][0] < 1 < cal["slope"]["ci"][1] and cal["intercept"]["ci"][0] < 0 < cal["intercept"]["ci"][1]
    assert cal["observed_expected"]["ci"][0] < 1 < cal["observed_expected"]["ci"][1]
    assert cal["smoothed"]["ici"] < 0.015
    # the smoothed band holds the diagonal almost everywhere
    sm = cal["smoothed"]
    inside = [lo <= x <= hi for x, lo, hi in zip(sm["p"], sm["lower"], sm["upper"])]
    assert sum(inside) / len(inside) > 0.8  # pointwise 95%: excursions are runs of neighbouring points


def test_slope_and_intercept_match_the_project_reference_and_a_plain_logistic_fit():
    y, p, _ = _cohort(3000, seed=2, shift=-0.4, scale=1.3)
    r = V.validation_report(y, p, resamples=50)
    slope, intercept = calibration_slope_intercept(y, p)  # watchwait.metrics: scikit-learn and a root finder
    assert r["calibration"]["slope"]["estimate"] == pytest.approx(slope, abs=2e-3)
    assert r["calibration"]["intercept"]["estimate"] == pytest.approx(intercept, abs=2e-3)
    lp = np.log(p / (1 - p))
    fit = LogisticRegression(C=1e10, max_iter=2000, tol=1e-10).fit(lp[:, None], y)
    assert r["calibration"]["slope"]["estimate"] == pytest.approx(fit.coef_[0, 0], abs=2e-3)
    # Wald CI: half-width 1.96 SE with the SE from the observed information
    mu = fit.predict_proba(lp[:, None])[:, 1]
    X = np.column_stack([np.ones_like(lp), lp])
    se = math.sqrt(np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))[1, 1])
    lo, hi = r["calibration"]["slope"]["ci"]
    assert (hi - lo) / 2 == pytest.approx(1.959964 * se, rel=1e-2)


def test_probabilities_squeezed_towards_half_give_slope_above_1_and_stretched_below_1():
    y, p, _ = _cohort(5000, seed=4, scale=0.5)
    s = V.validation_report(y, p, resamples=50)["calibration"]["slope"]
    assert s["estimate"] > 1.5 and s["ci"][0] > 1
    y, p, _ = _cohort(5000, seed=4, scale=2.0)
    s = V.validation_report(y, p, resamples=50)["calibration"]["slope"]
    assert s["estimate"] < 0.6 and s["ci"][1] < 1


def test_probabilities_too_low_give_a_positive_intercept_and_observed_above_expected():
    y, p, _ = _cohort(20_000, seed=5, shift=-0.5)
    cal = V.validation_report(y, p, resamples=50)["calibration"]
    assert cal["intercept"]["estimate"] == pytest.approx(0.5, abs=0.06) and cal["intercept"]["ci"][0] > 0.4
    assert cal["observed_expected"]["estimate"] > 1.1
    assert cal["observed_expected"]["observed"] == int(y.sum())
    assert cal["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-4)


def test_wilson_interval_and_grouped_points():
    assert V.wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)  # z^2 / (n + z^2)
    lo, hi = V.wilson(8, 20)  # Wilson (1927) 95% interval for 8/20
    assert lo == pytest.approx(0.2188, abs=1e-4) and hi == pytest.approx(0.6134, abs=1e-4)
    y, p, _ = _cohort(1000, seed=6)
    g = V.validation_report(y, p, resamples=20)["calibration"]["grouped"]
    assert len(g) == 10 and sum(r["n"] for r in g) == 1000 and sum(r["events"] for r in g) == int(y.sum())
    assert all(r["lower"] <= r["observed"] <= r["upper"] for r in g)
    assert [r["mean_predicted"] for r in g] == sorted(r["mean_predicted"] for r in g)


# ----------------------------------------------------------------------------- decision curve

def test_net_benefit_by_hand_on_six_patients():
    y = np.array([1, 1, 0, 1, 0, 0], bool)
    p = np.array([0.9, 0.7, 0.6, 0.4, 0.3, 0.1])
    # t = 0.5: offered to 0.9, 0.7, 0.6 -> TP 2, FP 1: 2/6 - 1/6 * 0.5/0.5 = 1/6
    # t = 0.35: offered to 0.9, 0.7, 0.6, 0.4 -> TP 3, FP 1: 3/6 - 1/6 * 0.35/0.65
    # t = 0.6 (p >= t, so 0.6 is offered): TP 2, FP 1: 2/6 - 1/6 * 1.5 = 1/12
    nb = V.net_benefit(y, p, [0.5, 0.35, 0.6, 0.95])
    assert nb == pytest.approx([1 / 6, 3 / 6 - (1 / 6) * (0.35 / 0.65), 2 / 6 - (1 / 6) * 1.5, 0.0])
    assert V.treat_all(0.5, [0.5, 0.2]) == pytest.approx([0.0, 0.5 - 0.5 * 0.25])


def test_decision_curve_treat_none_is_zero_and_treat_all_follows_the_prevalence():
    y, p, _ = _cohort(2000, seed=7)
    dc = V.validation_report(y, p, resamples=200)["decision_curve"]
    t = np.array(dc["thresholds"])
    prev = y.mean()
    assert t[0] == pytest.approx(0.20) and t[-1] == pytest.approx(0.80) and len(t) == 61
    assert dc["threshold_range"] == [0.2, 0.8] and "Design choice" in dc["threshold_rationale"]
    assert "watch-and-wait or local excision" in dc["treat_means"]
    assert dc["treat_none"] == [0.0] * len(t)
    assert dc["treat_all"] == pytest.approx(prev - (1 - prev) * t / (1 - t), abs=1e-4)
    assert dc["model"] == pytest.approx(V.net_benefit(y, p, t), abs=1e-4)
    assert all(lo <= m <= hi for lo, m, hi in zip(dc["model_lower"], dc["model"], dc["model_upper"]))
    assert [r["threshold"] for r in dc["table"]] == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]


def test_bootstrap_band_is_reproducible_with_its_seed_and_about_as_wide_as_the_binomial_error():
    y, p, _ = _cohort(3000, seed=8)
    a = V.validation_report(y, p, seed=1)["decision_curve"]
    b = V.validation_report(y, p, seed=1)["decision_curve"]
    c = V.validation_report(y, p, seed=2)["decision_curve"]
    assert a["model_lower"] == b["model_lower"] and a["model_lower"] != c["model_lower"]
    # at t = 0.5 net benefit = (TP - FP) / n: its standard error is that of a mean of +1/-1/0 scores
    i = a["thresholds"].index(0.5)
    score = np.where(p >= 0.5, np.where(y, 1.0, -1.0), 0.0)
    se = score.std() / math.sqrt(len(y))
    assert (a["model_upper"][i] - a["model_lower"][i]) / 2 == pytest.approx(1.96 * se, rel=0.15)


# ----------------------------------------------------------------------------- groups, oracle, model facts

def test_groups_below_the_minimum_of_events_are_listed_as_too_few():
    y, p, p_true = _cohort(3000, seed=9)
    rng = np.random.default_rng(0)
    rt = np.where(rng.random(3000) < 0.01, "no radiotherapy", np.where(rng.random(3000) < 0.6, "short-course", "long-course"))
    r = V.validation_report(y, p, groups={"Radiotherapy": rt}, oracle=p_true, resamples=50)
    rows = {g["group"]: g for g in r["groups"]}
    few = rows["no radiotherapy"]
    assert few["estimable"] is False and few["note"] == "too few patients to estimate" and few["n"] == int((rt == "no radiotherapy").sum())
    assert "discrimination" not in few
    m = rt == "short-course"
    sc = rows["short-course"]
    assert sc["estimable"] and sc["n"] == int(m.sum()) and sc["events"] == int(y[m].sum())
    assert sc["discrimination"]["auc"]["estimate"] == pytest.approx(roc_auc_score(y[m], p[m]), abs=1e-4)
    assert sc["oracle"]["mean_abs_gap"] == pytest.approx(np.mean(np.abs(p[m] - p_true[m])), abs=1e-4)
    assert r["oracle"]["mean_abs_gap"] == pytest.approx(np.mean(np.abs(p - p_true)), abs=1e-4)
    assert r["min_events_per_group"] == V.MIN_EVENTS_PER_GROUP == 20
    # a group is estimable only with 20 patients with a complete response AND 20 without
    assert V._estimable(np.array([True] * 20 + [False] * 20)) and not V._estimable(np.array([True] * 19 + [False] * 500))


def test_report_carries_the_model_version_and_synthetic_flag_and_refuses_one_outcome():
    y, p, _ = _cohort(500, seed=10)
    card = {"model_version": "fused-test-1", "created": "2026-12-07", "training_data": {"synthetic": True, "source_file": "train.csv"}}
    r = V.validation_report(y, p, model=card, resamples=20)
    assert r["model"]["model_version"] == "fused-test-1" and r["model"]["synthetic_training_data"] is True
    assert r["source"]["held_out_from_training"] is True and r["source"]["label"] == V.HELD_OUT_LABEL
    assert {row["item"] for row in r["tripod_ai"]} >= {"12e", "20a", "23a"}
    with pytest.raises(WatchwaitError, match="500 patients, 0 with a complete response and 500 without; validation needs at least one of each"):
        V.validation_report(np.zeros(500, bool), p)


# ----------------------------------------------------------------------------- the report files

@pytest.fixture(scope="module")
def report():
    y, p, p_true = _cohort(1500, seed=11)
    rng = np.random.default_rng(1)
    groups = {"Immunotherapy": np.where(rng.random(1500) < 0.5, "no immunotherapy", "immunotherapy (any)"),
              "Radiotherapy": np.where(rng.random(1500) < 0.02, "<script>alert('x')</script>", "short-course radiotherapy")}
    card = {"model_version": "fused-<b>test</b>", "training_data": {"synthetic": True}}
    return V.validation_report(y, p, groups=groups, oracle=p_true, model=card, resamples=200)


def test_write_report_writes_json_html_and_two_pngs(report, tmp_path):
    out = V.write_report(report, tmp_path / "rep")
    assert sorted(f.name for f in out.iterdir()) == sorted(V.REPORT_FILES)
    back = json.loads((out / "validation.json").read_text())
    assert back["n"] == 1500 and back["discrimination"] == report["discrimination"]
    for name in ("calibration.png", "decision_curve.png"):
        from PIL import Image

        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.width >= 800 and im.height >= 600
    page = (out / "validation.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "TRIPOD+AI" in page and "12e" in page and "Synthetic training data" in page
    assert "too few patients to estimate" in page
    # offline: no scripts, no external file of any kind
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page and "<link" not in page


def test_html_escapes_text_from_the_data(report, tmp_path):
    page = V.render_html(report, {})
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page and "fused-&lt;b&gt;test&lt;/b&gt;" in page and "<b>test" not in page


def test_write_report_replaces_a_report_but_refuses_another_folder(report, tmp_path):
    V.write_report(report, tmp_path / "rep")
    V.write_report(report, tmp_path / "rep")  # an earlier report is replaced whole
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    with pytest.raises(WatchwaitError, match="the folder exists and holds other files"):
        V.write_report(report, tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep" and len(list(tmp_path.iterdir())) == 2


# ----------------------------------------------------------------------------- the command

@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from watchwait.sim import simulate, to_csv_frame

    d = tmp_path_factory.mktemp("validate")
    sim = simulate(700, seed=21)
    to_csv_frame(sim.frame).to_csv(d / "cohort.csv", index=False)
    sim.truth.to_csv(d / "truth.csv", index=False)
    return d


@pytest.fixture
def fake_model(monkeypatch, cohort):
    """A stand-in model: p = expit(0.9 logit(p_true) - 0.2); the first two patients are out of scope."""
    truth = pd.read_csv(cohort / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")["p_oracle"]
    bundle = ModelBundle(predictor=None, card={"model_version": "fused-fake-1", "training_data": {"synthetic": True}})

    def predict_frame(frame, model=None):
        q = truth.reindex(frame["patient_id"]).to_numpy(float)
        p = 1 / (1 + np.exp(-(0.9 * np.log(q / (1 - q)) - 0.2)))
        p[:2] = np.nan
        return pd.DataFrame({"patient_id": frame["patient_id"], "p_complete_response": p})

    monkeypatch.setattr("watchwait.training.load_model", lambda path=None: bundle)
    monkeypatch.setattr("watchwait.engine.predict_frame", predict_frame)
    return bundle


def test_cli_writes_every_file_counts_who_was_left_out_and_prints_a_summary(cohort, fake_model, tmp_path, monkeypatch, capsys):
    from watchwait.cli import main

    c = pd.read_csv(cohort / "cohort.csv", dtype=str, keep_default_na=False)
    c.loc[[5, 6, 7], "complete_response"] = ""  # outcome not yet known: left out and counted
    c.to_csv(tmp_path / "c.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--cohort", "c.csv", "--truth", str(cohort / "truth.csv")]) == 0
    out = tmp_path / "validation-fused-fake-1"  # the default folder
    assert sorted(f.name for f in out.iterdir()) == sorted(V.REPORT_FILES)
    r = json.loads((out / "validation.json").read_text())
    assert r["n"] == 700 - 3 - 2 and r["source"]["n_outcome_unknown_left_out"] == 3 and r["source"]["n_out_of_scope_left_out"] == 2
    assert r["model"]["model_version"] == "fused-fake-1" and r["source"]["cohort_file"] == "c.csv"
    assert r["source"]["held_out_from_training"] is False
    assert {g["grouping"] for g in r["groups"]} == {"Immunotherapy", "Radiotherapy"}
    assert {g["group"] for g in r["groups"] if g["grouping"] == "Immunotherapy"} <= {
        "no immunotherapy", "immunotherapy (any)", "not recorded"}
    assert all("_" not in g["group"] for g in r["groups"])  # clinicians' words, never codes
    assert r["oracle"]["mean_abs_gap"] > 0
    printed = capsys.readouterr()
    assert "AUC" in printed.out and "calibration-in-the-large" in printed.out and f"report written to {out.name}" in printed.out
    assert "3 of 700 patients left out: outcome not yet known" in printed.err
    # again: the earlier report is replaced
    assert main(["validate", "--cohort", "c.csv", "--out", str(out)]) == 0


def test_cli_refuses_bad_rows_and_a_folder_that_is_not_a_report(cohort, fake_model, tmp_path, capsys):
    from watchwait.cli import main

    c = pd.read_csv(cohort / "cohort.csv", dtype=str, keep_default_na=False).head(50)
    c.loc[1, "age_years"] = "twelve"
    c.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["validate", "--cohort", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "row 3, age_years must be a whole number from 18 to 100; got 'twelve' instead." in err
    assert not (tmp_path / "r").exists()
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("x")
    assert main(["validate", "--cohort", str(cohort / "cohort.csv"), "--out", str(tmp_path / "keep")]) == 2
    assert (f"watchwait validate: --out {tmp_path / 'keep'} is a folder holding other files, not a validation report; "
            "the report folder is replaced whole. Choose a new or empty folder.") in capsys.readouterr().err
    one = pd.read_csv(cohort / "cohort.csv", dtype=str, keep_default_na=False).head(40)
    one["complete_response"] = "false"
    one.to_csv(tmp_path / "one.csv", index=False)
    assert main(["validate", "--cohort", str(tmp_path / "one.csv"), "--out", str(tmp_path / "r")]) == 2
    assert ("one.csv: 38 in-scope patients with a probability, 0 with a complete response and 38 without; validate needs "
            "at least one of each") in capsys.readouterr().err


def test_cli_with_the_shipped_model(cohort, tmp_path):
    """The real thing: the shipped model on a fresh simulated cohort (needs a loadable shipped model)."""
    from watchwait.cli import main

    assert main(["validate", "--cohort", str(cohort / "cohort.csv"), "--truth", str(cohort / "truth.csv"),
                 "--out", str(tmp_path / "rep")]) == 0
    r = json.loads((tmp_path / "rep" / "validation.json").read_text())
    assert r["model"]["synthetic_training_data"] is True and r["discrimination"]["auc"]["estimate"] > 0.8
    assert 0.7 < r["calibration"]["slope"]["estimate"] < 1.3


def test_small_or_degenerate_cohorts_give_not_estimable_rather_than_absurd_numbers(tmp_path):
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0] * 5, bool)
    separated = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.15, 0.25, 0.05, 0.12] * 5)
    r = V.validation_report(y, separated, resamples=20)
    assert r["calibration"]["slope"] == {"estimate": None, "ci": [None, None]}  # perfect separation: no finite slope
    assert r["discrimination"]["auc"]["estimate"] == 1.0
    assert r["warnings"] == ["Only 15 patients with a complete response: validation needs at least 100 with and 100 without "
                             "(Collins et al., Stat Med 2016) for calibration to be judged; these estimates are imprecise."]
    flat = V.validation_report(y, np.full(50, 0.3), resamples=20)
    assert flat["calibration"]["slope"]["estimate"] is None and flat["discrimination"]["auc"]["estimate"] == 0.5
    page = V.write_report(flat, tmp_path / "r") / "validation.html"
    assert "not estimable" in page.read_text() and "Only 15 patients" in page.read_text()


def test_regimen_groups_are_in_clinicians_words():
    frame = pd.DataFrame({"immunotherapy": ["none", "anti_pd1", "pd1_ctla4", None, "anti_pdl1"],
                          "rt_schedule": ["SCRT", "LCRT", "none", "SCRT", None]})
    g = V.regimen_groups(frame)
    assert g == {"Immunotherapy": ["no immunotherapy", "immunotherapy (any)", "immunotherapy (any)", "not recorded", "immunotherapy (any)"],
                 "Radiotherapy": ["short-course radiotherapy (5 x 5 Gy)", "long-course chemoradiotherapy", "no radiotherapy",
                                  "short-course radiotherapy (5 x 5 Gy)", "not recorded"]}
