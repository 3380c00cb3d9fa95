"""``watchwait update`` (issue 16, item 2): the updating hierarchy chosen by the closed test and cross-validation.

A base model is fitted here on 3,000 patients of :mod:`watchwait.sim` (2 bootstrap members, 60 trees: small
and fast); site cohorts of 500-800 patients come from the same generator, from it with half the responders dropped,
from it with outcomes redrawn under a stronger restaging effect, and from :mod:`watchwait.sim.alt`.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from watchwait import updating
from watchwait.artifacts import ModelBundle, columns_of
from watchwait.derive import columns_from_record
from watchwait.directions import pairs
from watchwait.errors import ModelArtifactError
from watchwait.metrics import classification_metrics
from watchwait.model import FusedPredictor, expit
from watchwait.sim import simulate, to_csv_frame
from watchwait.training import known_outcomes
from watchwait.updating import update
from watchwait.validation import validate_frame, validate_record

FAST_REFIT = {"refit_settings": {"trees": 60}, "refit_members": 2}


def _frame(cohort) -> pd.DataFrame:
    return validate_frame(to_csv_frame(cohort.frame))


@pytest.fixture(scope="module")
def base() -> ModelBundle:
    from watchwait.training import _card, compare, interval_coverage

    frame, y, _ = known_outcomes(_frame(simulate(3000, seed=101, with_oracle=False)))
    tr, te = frame.iloc[:2500].reset_index(drop=True), frame.iloc[2500:].reset_index(drop=True)
    P = FusedPredictor(n_members=2, trees=60, masked_copies=1.0, seed=0).fit(columns_of(tr), y[:2500])
    present = sorted({f.modality for f in P.features_})
    card = _card(P, frame, y, 0, compare(P, te, y[2500:], {}, None), interval_coverage(P, te, None),
                 {"synthetic": True}, 2500, 500, present)
    return ModelBundle(predictor=P, card=card)


def _shifted_cells(n: int, seed: int) -> pd.DataFrame:
    """A site whose outcome rate differs: half of the responders dropped at random (the cohort file's cells)."""
    f = simulate(n, seed=seed, with_oracle=False).frame
    rng = np.random.default_rng(seed)
    drop = f["complete_response"].to_numpy(bool) & (rng.random(len(f)) < 0.5)
    return to_csv_frame(f[~drop].reset_index(drop=True))


def _shifted(n: int, seed: int) -> pd.DataFrame:
    return validate_frame(_shifted_cells(n, seed))


def _restaging_site(n: int, seed: int, effect: float = 0.9) -> pd.DataFrame:
    """A site where restaging MRI means more: outcomes redrawn from the oracle's logit plus ``effect`` per mrTRG grade
    better than 3 (in the direction of the evidence: a better grade raises the probability more)."""
    c = simulate(n, seed=seed)
    p = np.clip(c.truth["p_oracle"].to_numpy(float), 1e-6, 1 - 1e-6)
    trg = pd.to_numeric(c.frame["mr_trg"], errors="coerce").to_numpy(float)
    logit = np.log(p / (1 - p)) + effect * np.where(np.isnan(trg), 0.0, 3.0 - trg)
    f = _frame(c)
    f["complete_response"] = np.random.default_rng(seed + 1).random(n) < expit(logit)
    return f


def _p(predictor, rec) -> float:
    return float(predictor.predict_proba(predictor.matrix(columns_from_record(validate_record(rec))))[0])


# ----------------------------------------------------------------------------- (a) same population

def test_a_site_like_the_training_population_keeps_the_model_or_recalibrates_in_the_large(base):
    levels = [update(base, _frame(simulate(600, seed=s, with_oracle=False)), seed=s, **FAST_REFIT).card["update"]["level"]
              for s in (201, 202, 203)]
    assert sum(lv <= 1 for lv in levels) >= 2, levels
    assert max(levels) <= 2, levels  # never a revision or a refit of a population the model already describes


# ----------------------------------------------------------------------------- (b) a shifted outcome rate

@pytest.fixture(scope="module")
def shifted_update(base):
    return update(base, _shifted(800, seed=301), seed=1, **FAST_REFIT)


def test_b_a_shifted_outcome_rate_is_recalibrated_and_calibration_in_the_large_moves_to_zero(base, shifted_update):
    u = shifted_update.card["update"]
    assert u["level"] >= 1, u["reason"]
    assert u["closed_test"]["logistic_recalibration_vs_as_is"]["p"] < 0.05
    fig = u["figures_on_site_cohort"]
    assert fig["model_as_it_is"]["calibration_intercept"] < -0.4  # half the responders dropped: log(0.5) = -0.69
    assert abs(fig["out_of_fold"]["calibration_intercept"]) < 0.15
    # on fresh patients of the same shifted site
    fresh, y, _ = known_outcomes(_shifted(4000, seed=302))
    for bundle, lo, hi in ((base, -1.2, -0.4), (shifted_update, -0.25, 0.25)):
        P = bundle.predictor
        citl = classification_metrics(y, P.predict_proba(P.matrix(columns_of(fresh))))["calibration_intercept"]
        assert lo < citl < hi, (bundle.version, citl)
    assert shifted_update.version == f"{base.version}-upd-{u['site_cohort']['cohort_sha256'][:8]}"
    site = u["site_cohort"]
    assert site["n_patients"] == site["n_complete_response"] + site["n_no_complete_response"]
    assert "patient_id" not in json.dumps(u) and "SIM-" not in json.dumps(u)
    assert u["original_model_version"] == base.version and base.predictor.update_ is None  # the original is untouched


# ----------------------------------------------------------------------------- (c) one modality means more

@pytest.fixture(scope="module")
def restaging_update(base):
    return update(base, _restaging_site(800, seed=401), seed=2, **FAST_REFIT)


def test_c_a_site_where_one_modality_differs_gets_that_branch_revised(restaging_update):
    u = restaging_update.card["update"]
    assert u["level"] in (3, 4), u["reason"]
    assert "restaging" in u["reason"]
    if u["level"] == 3:
        assert u["method"] == "revision of the restaging branch" and u["parameters"]["modality"] == "restaging"
        assert restaging_update.predictor.update_.modality == "restaging"
    cv = u["cross_validation"]
    assert min(cv["revision_by_modality"], key=lambda m: cv["revision_by_modality"][m]["out_of_fold_log_loss"]) == "restaging"


# ----------------------------------------------------------------------------- every level: directions and exact explanations

@pytest.fixture(scope="module")
def each_level(base):
    site = _restaging_site(600, seed=501)
    return {lv: update(base, site, seed=3, level=lv, **FAST_REFIT) for lv in (0, 1, 2, 3, 4)}


def test_d_no_level_moves_a_probability_against_the_evidence(each_level, sample_records):
    recs = list(sample_records.values())
    checked = 0
    for lv, bundle in each_level.items():
        P = bundle.predictor
        for did, i, better in pairs(recs):
            before, after = _p(P, recs[i]), _p(P, better)
            assert after >= before - 1e-12, (lv, did, recs[i]["patient_id"], before, after)
            checked += 1
    assert checked > 100


def test_e_explanations_stay_exact_at_every_level(each_level, sample_records):
    recs = list(sample_records.values())
    for lv, bundle in each_level.items():
        P = bundle.predictor
        X = np.vstack([P.matrix(columns_from_record(validate_record(r))) for r in recs])
        e = P.explain(X)
        np.testing.assert_allclose(e.base_logit + e.contributions_logit.sum(axis=1), P._logit(X), atol=1e-8, err_msg=str(lv))
        lo, hi = P.interval(X)
        p = P.predict_proba(X)
        assert np.all(lo <= p + 1e-9) and np.all(p <= hi + 1e-9), lv
    u = each_level[3].predictor.update_
    assert u.correction is not None and u.slope > 0 and set(np.asarray(u.columns)) <= {
        j for j, f in enumerate(each_level[3].predictor.features_) if f.modality == u.modality}
    assert each_level[0].predictor.update_ is None and each_level[1].predictor.update_.slope == 1.0
    assert "by request" in each_level[2].card["update"]["reason"]


def test_the_fast_path_agrees_with_the_final_fit():
    """Cross-validation fits every penalty in one glum call (warm-started path); the final correction is
    MonotoneGAM.fit: the same objective, so the same logits (to solver tolerance)."""
    from watchwait.updating import _Branch, _revision_columns, penalty_path

    frame, y, _ = known_outcomes(_frame(simulate(1500, seed=601, with_oracle=False)))
    P = FusedPredictor(n_members=0, trees=30, seed=0).fit(columns_of(frame.iloc[:1000]), y[:1000])
    X, ys = P.matrix(columns_of(frame.iloc[1000:])), y[1000:]
    lq = P._logit(X)
    cols = _revision_columns(P, X)["restaging"]
    br = _Branch.build(P, X, cols)
    coef, icpt = penalty_path(br.D, ys, lq, (0.3, 0.03), br.lower, br.upper)
    for k, alpha in enumerate((0.3, 0.03)):
        gam = br.gam(P, alpha).fit(X[:, cols], ys, terms=br.terms, D=br.D, offset=lq)
        np.testing.assert_allclose(icpt[k] + br.D @ coef[k], gam.decision_function(X[:, cols]), atol=0.02)
        assert np.all(coef[k] >= br.lower - 1e-9) and np.all(coef[k] <= br.upper + 1e-9)


# ----------------------------------------------------------------------------- refusals

def test_too_few_events_is_refused_with_the_counts(base):
    f = _frame(simulate(45, seed=701, with_oracle=False))
    y = f["complete_response"].to_numpy(bool)
    with pytest.raises(ModelArtifactError) as e:
        update(base, f)
    assert str(e.value) == (f"an update cohort needs at least 20 patients with a complete response and 20 without; this one has "
                            f"{int(y.sum())} and {int((~y).sum())} (of 45 patients). Add patients or keep the model as it is.")


def test_revision_and_refit_need_what_training_needs(base):
    f = _frame(simulate(90, seed=702, with_oracle=False))
    y = f["complete_response"].to_numpy(bool)
    assert 20 <= min(y.sum(), (~y).sum()) < 40
    u = update(base, f, seed=0).card["update"]
    assert u["level"] <= 2 and "revision and refit not considered" in u["reason"]
    with pytest.raises(ModelArtifactError, match="at least 40 patients"):
        update(base, f, level=3)


# ----------------------------------------------------------------------------- (f) the command line

def test_f_cli_writes_a_model_predict_uses_refuses_small_and_bad_cohorts(base, tmp_path, monkeypatch, capsys):
    from watchwait.cli import main
    from watchwait.engine import predict_frame
    from watchwait.training import load_model, save_model

    monkeypatch.setattr(updating, "REFIT_SETTINGS", {"trees": 60})
    monkeypatch.setattr(updating, "REFIT_MEMBERS", 2)
    model = save_model(ModelBundle(predictor=base.predictor, card=dict(base.card)), tmp_path / "base")
    _shifted_cells(700, seed=801).to_csv(tmp_path / "site.csv", index=False)
    assert main(["update", "--model", str(model), "--cohort", str(tmp_path / "site.csv"), "--out", str(tmp_path / "upd")]) == 0
    out = capsys.readouterr().out
    card = json.loads((tmp_path / "upd" / "model_card.json").read_text())
    assert card["model_version"].startswith(base.version + "-upd-") and card["update"]["level"] >= 1
    assert f"model {card['model_version']} written to" in out and "why: Closed test" in out
    assert "Update:" in (tmp_path / "upd" / "model_card.md").read_text()
    loaded = load_model(tmp_path / "upd")
    assert loaded.predictor.update_ is not None or card["update"]["level"] in (0, 4)
    cells = to_csv_frame(simulate(300, seed=802, with_oracle=False).frame)
    cells.to_csv(tmp_path / "fresh.csv", index=False)
    fresh = validate_frame(cells)
    assert main(["predict", "--model", str(tmp_path / "upd"), "--cohort", str(tmp_path / "fresh.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    p = pd.read_csv(tmp_path / "p.csv")
    assert (p["model_version"] == card["model_version"]).all()
    mine = predict_frame(fresh, loaded)["p_complete_response"].to_numpy(float)
    np.testing.assert_allclose(p["p_complete_response"].to_numpy(float), mine, atol=1e-6)  # both rounded to 4 places
    direct = loaded.predictor.predict_proba(loaded.predictor.matrix(columns_of(fresh)))
    unchanged = base.predictor.predict_proba(base.predictor.matrix(columns_of(fresh)))
    ok = ~np.isnan(mine)
    np.testing.assert_allclose(mine[ok], direct[ok], atol=5.1e-5)  # predict_frame rounds to 4 places
    assert np.abs(direct - unchanged).max() > 0.01  # the update, not the original, predicts

    # too few events: plain refusal, nothing written
    to_csv_frame(simulate(35, seed=803, with_oracle=False).frame).to_csv(tmp_path / "small.csv", index=False)
    assert main(["update", "--model", str(model), "--cohort", str(tmp_path / "small.csv"), "--out", str(tmp_path / "u2")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"watchwait update: an update cohort needs at least 20 patients with a complete response and 20 "
                     r"without; this one has \d+ and \d+ \(of 35 patients\)\. Add patients or keep the model as it is\.", err), err
    assert not (tmp_path / "u2").exists()

    # bad rows: every one named, exit 2, like train
    bad = pd.read_csv(tmp_path / "site.csv", dtype=str, keep_default_na=False).head(5)
    bad.loc[1, "age_years"] = "twelve"
    bad.loc[3, "endoscopy"] = "clear"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["update", "--model", str(model), "--cohort", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "u3")]) == 2
    err = capsys.readouterr().err
    assert "row 3, age_years must be a whole number from 18 to 100; got 'twelve' instead." in err
    assert "row 5, endoscopy must be one of 'complete', 'near_complete', 'incomplete'; got 'clear' instead." in err
    assert not (tmp_path / "u3").exists()
    # the model folder being updated is not overwritten
    assert main(["update", "--model", str(model), "--cohort", str(tmp_path / "site.csv"), "--out", str(model)]) == 2
    assert "is the model being updated" in capsys.readouterr().err


def test_an_update_composes_with_the_recalibration_a_model_already_carries(base):
    """A model trained with a recalibration after training (``update_`` set by ``train``) is updated on top of its
    current logit, folded into one LogitUpdate on the fitted model's own logit."""
    import copy

    from watchwait.model import LogitUpdate

    carried = ModelBundle(predictor=copy.deepcopy(base.predictor), card=dict(base.card))
    carried.predictor.update_ = LogitUpdate(method="recalibration after training", intercept=0.2, slope=0.8)
    site = _shifted(500, seed=901)
    out = update(carried, site, level=2)
    P0, P1 = carried.predictor, out.predictor
    X = P0.matrix(columns_of(site))
    a, b = out.card["update"]["parameters"]["intercept"], out.card["update"]["parameters"]["slope"]
    np.testing.assert_allclose(P1._logit(X), a + b * P0._logit(X), atol=2e-3)  # the card rounds to 5 places
    assert P1.update_.slope == pytest.approx(0.8 * b, abs=1e-4) and P0.update_.intercept == 0.2  # the input is untouched
