"""Issue 16, item 5: loading a model never runs code. A model folder is data (model.json, arrays.npz read without
pickle, LightGBM's own text format); a crafted pickle, a type outside the whitelist, an object array and a tampered
tree are refused with plain messages, and nothing from the folder runs."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from watchwait import model_io
from watchwait.artifacts import ModelBundle, _load_cached, columns_of, load_model
from watchwait.errors import ModelArtifactError

ROOT = Path(__file__).resolve().parents[2]
PICKLE_REFUSAL = (r"the model is a pickle \(model\.joblib\), the format of older watchwait versions\. A pickle can run any "
                  r"code when it is loaded, so watchwait no longer loads pickles\. Retrain the model with `watchwait train`, "
                  r"or, only if you trust where this file came from, convert it once: "
                  r"`python -m watchwait\.model_io convert OLD_DIR NEW_DIR --i-trust-this-file`")


# --------------------------------------------------------------------------- a small model, fitted here
def _card() -> dict:
    """A complete model card to save with (the shipped one's, read as JSON: a card is data)."""
    card = json.loads((ROOT / "models" / "shipped" / "model_card.json").read_text())
    card.pop("artifact", None)
    card["model_version"] = "test-model-io"
    return card


@pytest.fixture(scope="module")
def fitted():
    """1,100 of 1,500 simulated patients, 2 refits, 30 trees; the interval calibrated (crepes) on the other 400."""
    from watchwait.model import FusedPredictor, missing_groups
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.training import known_outcomes
    from watchwait.validation import validate_frame

    full, y_full, _ = known_outcomes(validate_frame(to_csv_frame(simulate(1500, seed=41).frame)))
    fr, y = full.iloc[:1100].reset_index(drop=True), y_full[:1100]
    cal = columns_of(full.iloc[1100:].reset_index(drop=True))  # 400 others calibrate the interval
    p = FusedPredictor(seed=5, n_members=2, trees=30, masked_copies=0.5).fit(columns_of(fr), y)
    X_cal = p.matrix(cal)
    noise = np.random.default_rng(0).normal(0, 0.3, len(X_cal))
    p.calibrate(X_cal, p._logit(X_cal) + noise, missing_groups(cal))
    p.tuning_ = {"alpha": 0.01, "trees": np.int64(30), "grid": [(1e-3, 100), (1e-2, 30)], "oof": {"slope": np.float64(0.93)},
                 "note": "what cross-validation chose", 3: None, "nan": float("nan")}
    return p, cal, fr, y


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    from watchwait.training import save_model

    p = fitted[0]
    return save_model(ModelBundle(predictor=p, card=_card()), tmp_path_factory.mktemp("io") / "model")


def _load(folder: Path):
    _load_cached.cache_clear()
    return load_model(folder)


def _same_predictions(a, b, cols) -> None:
    from watchwait.model import missing_groups

    X = a.matrix(cols)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert np.array_equal(a.sigma(X), b.sigma(X))
    for groups in (missing_groups(cols), None):
        lo_a, hi_a = a.interval(X, groups=groups)
        lo_b, hi_b = b.interval(X, groups=groups)
        assert np.array_equal(lo_a, lo_b) and np.array_equal(hi_a, hi_b)
    ea, eb = a.explain(X), b.explain(X)
    assert ea.base_logit == eb.base_logit and np.array_equal(ea.contributions_logit, eb.contributions_logit)


def _copy(saved: Path, tmp_path: Path, name: str = "copy") -> Path:
    dst = tmp_path / name
    shutil.copytree(saved, dst)
    return dst


def _rehash(folder: Path) -> None:
    """Rewrite the card's sha256 entries to match the files as they now are (what an attacker can do: the hash sits
    beside the files it protects)."""
    card = json.loads((folder / "model_card.json").read_text())
    files = {n: model_io.sha256_of(folder / n) for n in card["artifact"]["files"]}
    card["artifact"]["files"] = files
    card["artifact"]["sha256"] = model_io.manifest_sha256(files)
    (folder / "model_card.json").write_text(json.dumps(card))


class _Payload:
    """A pickle that, when loaded, writes a marker file: the attack of issue 16."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('the pickle ran')",)


# --------------------------------------------------------------------------- (a) round trip
def test_round_trip_gives_bit_identical_predictions_intervals_explanations_and_spread(fitted, saved):
    from crepes import ConformalRegressor

    p, cal, _, _ = fitted
    assert sorted(os.listdir(saved)) == ["arrays.npz", "model.json", "model_card.json", "model_card.md", "trees_0.txt"]
    card = json.loads((saved / "model_card.json").read_text())
    assert card["artifact"]["format"] == "watchwait-data-1"
    assert set(card["artifact"]["files"]) == {"model.json", "arrays.npz", "trees_0.txt"}
    assert len(card["artifact"]["probes"]["probability"]) == model_io.PROBE_ROWS
    q = _load(saved).predictor
    assert isinstance(q.conformal_, ConformalRegressor) and q.conformal_.mondrian and q.conformal_.normalized
    assert q.features_ == p.features_ and q is not p
    _same_predictions(p, q, cal)
    assert np.array_equal(q.bin_map_, p.bin_map_) and q.interval_method_ == p.interval_method_
    t = q.tuning_
    assert t["trees"] == 30 and isinstance(t["trees"], np.int64) and t["grid"] == [(1e-3, 100), (1e-2, 30)]
    assert t["oof"] == {"slope": 0.93} and t[3] is None and np.isnan(t["nan"])
    # caches are not saved; they are rebuilt on first use
    text = (saved / "model.json").read_text()
    assert '"_bs"' not in text and '"_flat"' not in text


def test_round_trip_with_an_update_of_one_branch(fitted, tmp_path):
    """A LogitUpdate (logistic recalibration plus a monotone correction of the blood branch, fitted with the
    recalibrated logit as offset) is saved and loaded with the model, bit for bit."""
    from watchwait.model import LogitUpdate, MonotoneGAM
    from watchwait.training import save_model

    p, cal, fr, y = fitted
    cols = columns_of(fr)
    X = p.matrix(cols)
    idx = np.array([i for i, f in enumerate(p.features_) if f.modality == "blood"])
    offset = 0.1 + 0.9 * p._base_logit(X)
    correction = MonotoneGAM(alpha=0.05, knots=3, directions=[p.features_[i].direction for i in idx],
                             kinds=[p.features_[i].kind for i in idx]).fit(X[:, idx], y, offset=offset)
    update = LogitUpdate(method="revision of blood", intercept=0.1, slope=0.9, modality="blood", columns=idx,
                         correction=correction, reason="test")
    p.update_ = update
    try:
        out = save_model(ModelBundle(predictor=p, card=_card()), tmp_path / "updated")
        assert model_io.pickle_files(out) == [] and (out / "model.json").is_file()
        q = _load(out).predictor
        assert q.update_.method == "revision of blood" and np.array_equal(q.update_.columns, idx)
        assert q.update_.correction is not update.correction
        _same_predictions(p, q, cal)
        _same_predictions(p, q, cols)
    finally:
        p.update_ = None


def test_round_trip_with_the_refits_kept(fitted, tmp_path):
    """spread="refits": every bootstrap member's trees in its own LightGBM text file, the spread bit-identical."""
    from watchwait.model import FusedPredictor
    from watchwait.training import save_model

    _, _, fr, y = fitted
    cols = columns_of(fr)
    p = FusedPredictor(seed=1, n_members=2, trees=10, spread="refits").fit(cols, y)
    out = save_model(ModelBundle(predictor=p, card=_card()), tmp_path / "refits")
    assert sorted(f for f in os.listdir(out) if f.startswith("trees_")) == ["trees_0.txt", "trees_1.txt", "trees_2.txt"]
    q = _load(out).predictor
    assert len(q.members_) == 2 and q.spread_ is None
    _same_predictions(p, q, cols)


def test_a_registered_dataclass_round_trips_and_an_unregistered_one_is_refused(fitted, tmp_path):
    """The register() hook (watchwait.support.Support is registered the same way); a type no longer registered is
    refused by name when read, and an unregistered one cannot be saved."""
    from watchwait.training import save_model

    @dataclass
    class _TestSupport:
        columns: tuple
        low: np.ndarray
        counts: dict

    model_io.register(_TestSupport)
    p = fitted[0]
    p.support_ = _TestSupport(("a", "b"), np.array([0.5, -1.0]), {"a": 3})
    try:
        out = save_model(ModelBundle(predictor=p, card=_card()), tmp_path / "with-support")
        s = _load(out).predictor.support_
        assert s.columns == ("a", "b") and np.array_equal(s.low, [0.5, -1.0]) and s.counts == {"a": 3}
        model_io._REGISTRY.pop("_TestSupport")
        with pytest.raises(ModelArtifactError, match=r"names the type '_TestSupport', which is not one watchwait rebuilds"):
            _load(out)
        p.support_ = object()
        with pytest.raises(TypeError, match=r"predictor\.support_: a builtins\.object is not a type watchwait\.model_io saves"):
            save_model(ModelBundle(predictor=p, card=_card()), tmp_path / "unsaveable")
        assert not (tmp_path / "unsaveable").exists()
    finally:
        p.support_ = None
        model_io._BY_CLASS.pop(_TestSupport, None)
        model_io._REGISTRY.pop("_TestSupport", None)


def test_the_training_cohorts_support_round_trips(fitted, tmp_path):
    """watchwait.support.Support (registered by the codec itself, when the module exists): every field the same."""
    support = pytest.importorskip("watchwait.support")
    from watchwait.training import save_model

    p, cal, fr, _ = fitted
    X = p.matrix(columns_of(fr))
    p.support_ = support.Support.fit(p.features_, X)
    try:
        out = save_model(ModelBundle(predictor=p, card=_card()), tmp_path / "support")
        q = _load(out).predictor.support_
        assert type(q) is support.Support
        for name in (f.name for f in dataclasses.fields(support.Support)):
            a, b = getattr(p.support_, name), getattr(q, name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
            elif isinstance(a, float) and np.isnan(a):
                assert np.isnan(b), name
            else:
                assert a == b and type(a) is type(b), name
        Xc = p.matrix(cal)
        assert np.array_equal(p.support_.outside(Xc), q.outside(Xc))
    finally:
        p.support_ = None


# --------------------------------------------------------------------------- (b) the malicious pickle
def test_the_crafted_pickle_really_runs_code_when_unpickled(tmp_path):
    """Control: the payload used below does run when unpickled, so the refusals below mean something."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.read_text() == "the pickle ran"


def test_a_pickle_model_folder_is_refused_and_nothing_runs(saved, tmp_path, capsys):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    # an old-style folder: model.joblib with the card's sha256 rewritten to match it
    old = _copy(saved, tmp_path, "old")
    for n in ("model.json", "arrays.npz", "trees_0.txt"):
        (old / n).unlink()
    (old / "model.joblib").write_bytes(payload)
    card = json.loads((old / "model_card.json").read_text())
    card["artifact"] = {"file": "model.joblib", "sha256": model_io.sha256_of(old / "model.joblib"),
                        "feature_spec_sha256": card["artifact"]["feature_spec_sha256"]}
    (old / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match=PICKLE_REFUSAL):
        _load(old)
    # the same through `watchwait predict --model`: a plain message, exit 2, no traceback
    from watchwait.cli import main

    code = main(["predict", "--model", str(old), "--cohort", str(ROOT / "sample_data" / "sample_patients.csv"),
                 "--out", str(tmp_path / "pred.csv")])
    err = capsys.readouterr().err
    assert code == 2 and re.search(PICKLE_REFUSAL, err) and "Traceback" not in err
    # a card that claims the new format, with the data files gone and a pickle in their place
    mixed = _copy(saved, tmp_path, "mixed")
    for n in ("model.json", "arrays.npz", "trees_0.txt"):
        (mixed / n).unlink()
    (mixed / "model.pkl").write_bytes(payload)
    with pytest.raises(ModelArtifactError, match=r"the model is a pickle \(model\.pkl\)"):
        _load(mixed)
    assert not marker.exists()


@pytest.mark.parametrize("target", ["model.json", "arrays.npz", "trees_0.txt"])
def test_a_pickle_in_place_of_a_data_file_with_matching_hashes_is_refused_and_nothing_runs(saved, tmp_path, target):
    marker = tmp_path / "pwned"
    folder = _copy(saved, tmp_path)
    (folder / target).write_bytes(pickle.dumps(_Payload(marker)))
    _rehash(folder)
    expected = {"model.json": r"model\.json: not readable as JSON",
                "arrays.npz": r"arrays\.npz: not a numpy \.npz file of plain arrays .*watchwait reads model arrays without "
                              r"unpickling, so a pickle or an object array is refused",
                "trees_0.txt": r"trees_0\.txt: (not LightGBM's text format|cannot be read as LightGBM's text format)"}[target]
    with pytest.raises(ModelArtifactError, match=expected):
        _load(folder)
    assert not marker.exists()


def test_a_type_outside_the_whitelist_is_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    for bad_type in ("subprocess.Popen", "builtins.exec", "os.system"):
        folder = _copy(saved, tmp_path, bad_type)
        text = (folder / "model.json").read_text().replace('"$type": "SpreadFit"', f'"$type": "{bad_type}"')
        assert bad_type in text
        (folder / "model.json").write_text(text)
        _rehash(folder)
        with pytest.raises(ModelArtifactError, match=rf"predictor\.spread_: names the type '{re.escape(bad_type)}', which is not "
                                                     r"one watchwait rebuilds from a model file \(only: .*FusedPredictor"):
            _load(folder)
    # a known type given a field it does not have (an attribute that would shadow a method) is refused too
    folder = _copy(saved, tmp_path, "field")
    structure = json.loads((folder / "model.json").read_text())
    structure["model"]["fields"]["predict_proba"] = "not a method"
    (folder / "model.json").write_text(json.dumps(structure))
    _rehash(folder)
    with pytest.raises(ModelArtifactError, match=r"predictor: FusedPredictor has no field 'predict_proba'"):
        _load(folder)
    assert not marker.exists()


def test_an_object_array_in_the_npz_is_refused(saved, tmp_path):
    marker = tmp_path / "pwned"
    folder = _copy(saved, tmp_path)
    with np.load(folder / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    structure = json.loads((folder / "model.json").read_text())
    key = structure["model"]["fields"]["bin_map_"]["$array"]
    arrays[key] = np.array([_Payload(marker), 1, 2, 3], dtype=object)
    with open(folder / "arrays.npz", "wb") as fh:
        np.savez(fh, allow_pickle=True, **arrays)
    _rehash(folder)
    with pytest.raises(ModelArtifactError, match=rf"arrays\.npz: the array '{key}' holds Python objects .*a model's arrays hold "
                                                 r"numbers and text only, and watchwait never unpickles"):
        _load(folder)
    assert not marker.exists()


# --------------------------------------------------------------------------- (c) probe predictions
def test_a_tampered_leaf_is_refused_by_the_probe_predictions(fitted, saved, tmp_path):
    """One leaf value changed in the trees text (its sha256 rewritten to match): the recomputed probe predictions
    differ from the card's, and loading refuses."""
    from watchwait.features import _probe_columns

    p = fitted[0]
    X = p.matrix(_probe_columns(p.features_, n=model_io.PROBE_ROWS))
    leaf = int(p.model_.booster.predict(X[:1], pred_leaf=True)[0, 0])  # the leaf of tree 0 probe row 0 reaches
    folder = _copy(saved, tmp_path)
    text = (folder / "trees_0.txt").read_text()
    head, tree0 = text.split("Tree=0\n", 1)
    tree0, rest = tree0.split("\n\n", 1)
    lines = tree0.split("\n")
    i = next(j for j, line in enumerate(lines) if line.startswith("leaf_value="))
    values = lines[i].split("=", 1)[1].split(" ")
    values[leaf] = repr(float(values[leaf]) + 0.25)
    lines[i] = "leaf_value=" + " ".join(values)
    (folder / "trees_0.txt").write_text(head + "Tree=0\n" + "\n".join(lines) + "\n\n" + rest)
    _rehash(folder)
    with pytest.raises(ModelArtifactError, match=r"the loaded model does not reproduce the predictions recorded when it was "
                                                 r"saved \(probability on probe row [0-9]+: .*a model file was altered or an "
                                                 r"installed library computes differently"):
        _load(folder)
    # without the rewritten hash, the sha256 check refuses first
    shutil.copy(saved / "model_card.json", folder / "model_card.json")
    with pytest.raises(ModelArtifactError, match=r"trees_0\.txt: sha256 .* does not match the model card"):
        _load(folder)


def _edit_tree0(text: str, key: str, edit) -> str:
    head, tree0 = text.split("Tree=0\n", 1)
    tree0, rest = tree0.split("\n\n", 1)
    lines = [f"{key}={edit(line.split('=', 1)[1])}" if line.startswith(f"{key}=") else line for line in tree0.split("\n")]
    return head + "Tree=0\n" + "\n".join(lines) + "\n\n" + rest


@pytest.mark.parametrize("key, edit, message", [
    ("tree_sizes", None, r"tree_sizes does not list one size per tree"),
    ("left_child", lambda v: " ".join(["7000"] + v.split(" ")[1:]), r"tree 0: children do not form a tree"),
    ("right_child", lambda v: " ".join(["0"] + v.split(" ")[1:]), r"tree 0: children do not form a tree"),
    ("split_feature", lambda v: " ".join(["999"] + v.split(" ")[1:]), r"tree 0: a split on a feature the model does not have"),
    ("leaf_value", lambda v: " ".join(["nan"] + v.split(" ")[1:]), r"tree 0: a leaf value is not a finite number"),
    ("leaf_value", lambda v: " ".join(v.split(" ")[1:]), r"tree 0: leaf_value must hold 8 numbers"),
    ("decision_type", lambda v: " ".join(["1"] + v.split(" ")[1:]), r"tree 0: a categorical split"),
])
def test_a_malformed_trees_file_is_refused_before_lightgbm_parses_it(saved, tmp_path, key, edit, message):
    """LightGBM's parser trusts its input: a wrong tree_sizes index aborts the whole process (checked by hand: 'terminate
    called without an active exception'), and a child index out of range would be read out of bounds. Each is refused
    by name first (this test would end the test run, not fail, if one reached LightGBM and aborted)."""
    folder = _copy(saved, tmp_path)
    text = (folder / "trees_0.txt").read_text()
    if key == "tree_sizes":
        text = re.sub(r"tree_sizes=([0-9]+) ", "tree_sizes=", text)
    else:
        text = _edit_tree0(text, key, edit)
    (folder / "trees_0.txt").write_text(text)
    _rehash(folder)
    with pytest.raises(ModelArtifactError, match=r"trees_0\.txt: not a LightGBM model as watchwait saves one \(" + message):
        _load(folder)


def test_a_card_whose_probe_predictions_differ_is_refused(saved, tmp_path):
    """Library drift looks like this: the same files, other numbers than the card's."""
    folder = _copy(saved, tmp_path)
    card = json.loads((folder / "model_card.json").read_text())
    card["artifact"]["probes"]["interval_high"][5] -= 1e-6
    (folder / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match=r"\(interval_high on probe row 5: .*Install those versions, or retrain"):
        _load(folder)


@pytest.mark.parametrize("target", ["model.json", "trees_0.txt"])
def test_random_edits_of_a_data_file_load_or_are_refused_plainly(saved, tmp_path, target):
    """60 random edits (a character replaced, a line dropped or repeated), hashes rewritten each time: every load
    either gives a model with the card's probe predictions or a ModelArtifactError; no other exception, no crash."""
    rng = np.random.default_rng(7)
    folder = _copy(saved, tmp_path)
    original = (saved / target).read_text()
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(60):
        lines = original.split("\n")
        i = int(rng.integers(len(lines)))
        how = rng.integers(3)
        if how == 0 and lines[i]:
            j = int(rng.integers(len(lines[i])))
            lines[i] = lines[i][:j] + str(rng.choice(list('0123456789-.e"{}[],: aZ$'))) + lines[i][j + 1:]
        elif how == 1:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        (folder / target).write_text("\n".join(lines))
        _rehash(folder)
        try:
            _load(folder)
            outcomes["loaded"] += 1
        except ModelArtifactError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


# --------------------------------------------------------------------------- the conversion command
def test_convert_needs_the_trust_flag_and_then_gives_the_same_model(fitted, saved, tmp_path, capsys):
    import joblib

    p, cal, _, _ = fitted
    marker = tmp_path / "pwned"
    old = _copy(saved, tmp_path, "old")
    for n in ("model.json", "arrays.npz", "trees_0.txt"):
        (old / n).unlink()
    (old / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    card = json.loads((old / "model_card.json").read_text())
    card["artifact"] = {"file": "model.joblib", "sha256": model_io.sha256_of(old / "model.joblib"),
                        "feature_spec_sha256": card["artifact"]["feature_spec_sha256"]}
    (old / "model_card.json").write_text(json.dumps(card))
    # without the flag: refused, and nothing is unpickled
    assert model_io.main(["convert", str(old), str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "a pickle runs whatever code it holds when it is loaded" in err and "--i-trust-this-file" in err
    assert not marker.exists() and not (tmp_path / "new").exists()
    # a pickle that is not the one the card records is not unpickled either
    (old / "model.joblib").write_bytes(pickle.dumps(_Payload(marker)) + b" ")
    assert model_io.main(["convert", str(old), str(tmp_path / "new"), "--i-trust-this-file"]) == 2
    assert "its sha256 does not match the model card" in capsys.readouterr().err and not marker.exists()
    # a genuine old model (joblib, as save_model wrote it before, with the glum object older models kept), trusted:
    # converted (the glum object dropped, as the predictions do not depend on it), loads, same numbers
    older = copy.deepcopy(p)
    older.model_.gam.glm_ = {"an": "old glum object"}
    joblib.dump(older, old / "model.joblib", compress=3)
    card["artifact"]["sha256"] = model_io.sha256_of(old / "model.joblib")
    (old / "model_card.json").write_text(json.dumps(card))
    assert model_io.main(["convert", str(old), str(tmp_path / "new"), "--i-trust-this-file"]) == 0
    assert "converted" in capsys.readouterr().out
    new = tmp_path / "new"
    assert not model_io.pickle_files(new)
    bundle = _load(new)
    assert bundle.card["converted_from"]["sha256"] == card["artifact"]["sha256"]
    assert bundle.card["converted_from"]["dropped"] == ["predictor.model_.gam.glm_"]
    _same_predictions(p, bundle.predictor, cal)


# --------------------------------------------------------------------------- (d) no other unpickling
_UNPICKLERS = {("joblib", "load"), ("pickle", "load"), ("pickle", "loads"), ("cPickle", "load"), ("cPickle", "loads"),
               ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("pd", "read_pickle"),
               ("pandas", "read_pickle"), ("shelve", "open"), ("marshal", "load"), ("marshal", "loads")}


def _unpickling_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for each call that can unpickle: module.load(s) of a pickling library,
    ``from pickle import load``, or any call with ``allow_pickle`` not literally False."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []

    def visit(node, func: str):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                f = child.func
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in _UNPICKLERS:
                    found.append((child.lineno, func, f"{f.value.id}.{f.attr}"))
                for kw in child.keywords:
                    if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        if not (isinstance(f, ast.Attribute) and f.attr in ("savez", "savez_compressed", "save")):
                            found.append((child.lineno, func, "allow_pickle not False"))
            if isinstance(child, ast.ImportFrom) and child.module in {m for m, _ in _UNPICKLERS}:
                for alias in child.names:
                    if (child.module, alias.name) in _UNPICKLERS:
                        found.append((child.lineno, func, f"from {child.module} import {alias.name}"))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in ("pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal") and alias.asname:
                        found.append((child.lineno, func, f"import {alias.name} as {alias.asname}"))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_nothing_but_the_conversion_command_unpickles():
    files = [*(ROOT / "watchwait").rglob("*.py"), *(ROOT / "components").rglob("*.py"), *(ROOT / "pages").rglob("*.py"),
             ROOT / "app.py"]
    hits = {str(f.relative_to(ROOT)): _unpickling_calls(f) for f in files if f.is_file()}
    hits = {f: [(func, what) for _, func, what in h] for f, h in hits.items() if h}
    assert hits == {"watchwait/model_io.py": [("_unpickle_trusted", "joblib.load")]}
    # the scan finds what it looks for (so an empty answer means something)
    probe = ROOT / "tests" / "unit" / "test_model_io.py"
    assert any(what == "pickle.loads" for _, _, what in _unpickling_calls(probe))
    text = "import numpy as np\ndef f(p):\n    return np.load(p, allow_pickle=True)\n"
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"unpickle_scan_{os.getpid()}.py"
    scratch.write_text(text)
    try:
        assert _unpickling_calls(scratch) == [(3, "f", "allow_pickle not False")]
    finally:
        scratch.unlink()
