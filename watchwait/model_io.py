"""A fitted predictor saved as data only: loading a model never runs code (issue 16, item 5).

A model folder holds

* ``model.json``: the structure, settings, feature names, strings, dict fields and crepes' fitted state, in a closed
  JSON grammar (below);
* ``arrays.npz``: every number array, read with ``np.load(..., allow_pickle=False)`` (an object array, which only a
  pickle can hold, is refused);
* ``trees_<i>.txt``: each LightGBM booster in LightGBM's own text format (``Booster.model_to_string``), read back
  with ``lightgbm.Booster(model_str=...)``;
* ``model_card.json`` / ``model_card.md``: the card records each file's sha256, the format (:data:`FORMAT`) and
  *probe predictions* (probability, interval and explanation sum on fixed probe rows) that loading recomputes
  (:func:`check_probes`), so a library that now computes differently, or an altered file, is refused.

The JSON grammar is closed: a value is ``null``, a boolean, a number, a string, a list, or an object with exactly one
of these tags: ``$float`` (nan/inf), ``$tuple``, ``$dict`` (a list of key/value pairs), ``$array`` / ``$scalar`` (a
key of ``arrays.npz``), ``$objects`` (an object array given item by item), ``$booster`` (a trees file) or ``$type``
(an instance of a class in the registry, with its named fields). The registry maps a fixed name to a class object
registered in code (:func:`register`); a type name read from a file is only ever looked up in it, never imported.
Rebuilding sets the instance's fields (``cls.__new__`` then the field values): no ``__init__``, ``__setstate__`` or
any other method runs on data from the file.

The only place a pickle is ever unpickled is the conversion command for an old model folder whose origin the user
trusts::

    python -m watchwait.model_io convert OLD_DIR NEW_DIR --i-trust-this-file
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from watchwait.errors import ModelArtifactError

FORMAT = "watchwait-data-1"
STRUCTURE_FILE = "model.json"
ARRAYS_FILE = "arrays.npz"
TREES_FILE = re.compile(r"trees_[0-9]{1,6}\.txt")
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
PROBE_ROWS = 48
PROBE_TOLERANCE = 1e-9  # probability / logit units: library drift below this changes no printed number
CONVERT_COMMAND = "python -m watchwait.model_io convert OLD_DIR NEW_DIR --i-trust-this-file"


def sha256_of(path: Path) -> str:
    from watchwait.artifacts import _sha256  # one implementation (artifacts never imports this module at import time)

    return _sha256(path)


def manifest_sha256(files: dict[str, str]) -> str:
    """One sha256 for the whole model: of the sorted ``name  sha256`` lines of its data files."""
    return hashlib.sha256("".join(f"{n}  {files[n]}\n" for n in sorted(files)).encode()).hexdigest()


# --------------------------------------------------------------------------- the registry (a whitelist)
@dataclass(frozen=True)
class _Kind:
    name: str
    cls: type
    fields: tuple[str, ...]  # the fields saved (and the only ones a file may set)
    required: tuple[str, ...]  # fields a file must give (the others keep their default or stay unset)
    encode: Callable[[Any], dict] | None = None  # instance -> {field: value}; default: its attributes
    decode: Callable[[dict], Any] | None = None  # {field: value} -> instance; default: cls.__new__ + fields
    ignored: tuple[str, ...] = ()  # attributes that are neither saved nor reported as forgotten


_REGISTRY: dict[str, _Kind] = {}
_BY_CLASS: dict[type, _Kind] = {}


def register(cls: type, *, name: str | None = None, fields: tuple[str, ...] | None = None,
             required: tuple[str, ...] | None = None, encode: Callable[[Any], dict] | None = None,
             decode: Callable[[dict], Any] | None = None, ignored: tuple[str, ...] = ()) -> type:
    """Allow ``cls`` in a model file. A dataclass needs nothing else: its fields are saved (caches kept in
    ``__dict__`` under a name starting with ``_`` are not) and a file may set only those. Another class names its
    ``fields``. Usable as a decorator; registering the same class again is harmless."""
    name = name or cls.__name__
    if dataclasses.is_dataclass(cls):
        dc_fields = dataclasses.fields(cls)
        fields = fields or tuple(f.name for f in dc_fields)
        if required is None:
            required = tuple(f.name for f in dc_fields if f.default is dataclasses.MISSING
                             and f.default_factory is dataclasses.MISSING and f.name in fields)
    elif fields is None:
        raise TypeError(f"register({cls.__name__}): not a dataclass; name the fields to save (fields=...)")
    kind = _Kind(name, cls, tuple(fields), tuple(required or ()), encode, decode, tuple(ignored))
    old = _REGISTRY.get(name)
    if old is not None and old.cls is not cls:
        raise TypeError(f"register({cls.__name__}): the name {name!r} is taken by {old.cls.__module__}.{old.cls.__name__}")
    _REGISTRY[name] = kind
    _BY_CLASS[cls] = kind
    return cls


def _dataclass_defaults(cls: type) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _build(kind: _Kind, state: dict):
    if kind.decode is not None:
        return kind.decode(state)
    obj = kind.cls.__new__(kind.cls)
    if dataclasses.is_dataclass(kind.cls):
        obj.__dict__.update(_dataclass_defaults(kind.cls))
    obj.__dict__.update(state)
    return obj


def _register_builtin() -> None:
    from crepes import ConformalRegressor

    from watchwait.model import FusedPredictor, GamTrees, LogitUpdate, MonotoneGAM, SpreadFit, _features_by_name, _Term

    register(_Term)
    register(GamTrees)
    register(SpreadFit)
    register(LogitUpdate)
    register(MonotoneGAM, fields=("alpha", "knots", "directions", "kinds", "terms_", "coef_", "intercept_", "owner_",
                                  "term_means_", "lower_bounds_", "upper_bounds_"), required=("alpha", "knots"))

    def fused_encode(p) -> dict:
        state = {f.name: getattr(p, f.name) for f in dataclasses.fields(FusedPredictor)}
        state["features_"] = [f.name for f in p.features_]  # features hold functions: their names only
        return state

    def fused_decode(state: dict):
        names = state.get("features_", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ModelArtifactError("FusedPredictor.features_ must be a list of feature names")
        try:
            state["features_"] = _features_by_name(names)
        except (KeyError, IndexError, ValueError) as e:
            raise ModelArtifactError(f"the model uses a feature this watchwait does not compute ({e}); retrain it with "
                                     "`watchwait train`, or install the watchwait version it was built with") from None
        obj = FusedPredictor.__new__(FusedPredictor)
        obj.__dict__.update(_dataclass_defaults(FusedPredictor))
        obj.__dict__.update(state)
        return obj

    register(FusedPredictor, encode=fused_encode, decode=fused_decode)

    # crepes 0.9: predict_int reads fitted, mondrian, normalized and alphas (one category) or binned_alphas
    # (Mondrian: the category values and each category's sorted scores); bins and seed serve predict_p. The time_*
    # attributes are timings, not state. The names are crepes' own, so the loader checks crepes' minor version.
    def crepes_decode(state: dict):
        cr = ConformalRegressor()
        cr.__dict__.update(state)
        return cr

    register(ConformalRegressor, name="crepes.ConformalRegressor",
             fields=("fitted", "fitted_", "mondrian", "normalized", "alphas", "bins", "binned_alphas", "seed"),
             required=("fitted", "mondrian", "normalized"), decode=crepes_decode,
             ignored=("time_fit", "time_predict", "time_evaluate"))


_BUILTIN_DONE = False
_OPTIONAL_CHECKED = False


def _registry() -> dict[str, _Kind]:
    """The registry, with watchwait's own classes (a class registered earlier from elsewhere is kept)."""
    global _BUILTIN_DONE, _OPTIONAL_CHECKED
    if not _BUILTIN_DONE:
        _register_builtin()
        _BUILTIN_DONE = True
    if not _OPTIONAL_CHECKED:
        # the training cohort's support, once watchwait.support exists (a fixed module, never a name from a file)
        try:
            from watchwait.support import Support
        except ImportError:
            Support = None
        if Support is not None and Support not in _BY_CLASS and dataclasses.is_dataclass(Support):
            register(Support)
        _OPTIONAL_CHECKED = True
    return _REGISTRY


# --------------------------------------------------------------------------- saving
class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.trees: dict[str, str] = {}

    def array(self, a: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return key

    def encode(self, v, where: str):
        import lightgbm

        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, np.generic):
            if v.dtype.kind not in "biufcUS":
                raise TypeError(f"{where}: cannot save a numpy {v.dtype} scalar as data")
            return {"$scalar": self.array(np.asarray(v))}
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if np.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, np.ndarray):
            if v.dtype.kind == "O":
                return {"$objects": list(v.shape), "items": [self.encode(x, f"{where}[{i}]") for i, x in enumerate(v.ravel())]}
            if v.dtype.kind not in "biufcUS" or v.dtype.fields is not None:
                raise TypeError(f"{where}: cannot save a numpy array of dtype {v.dtype} as data")
            return {"$array": self.array(v)}
        if isinstance(v, list):
            return [self.encode(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, tuple):
            return {"$tuple": [self.encode(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, dict):
            return {"$dict": [[self.encode(k, f"{where} key"), self.encode(x, f"{where}[{k!r}]")] for k, x in v.items()]}
        if isinstance(v, lightgbm.Booster):
            name = f"trees_{len(self.trees)}.txt"
            # every tree (num_iteration=-1), and best_iteration as it was, so prediction uses the same trees
            self.trees[name] = v.model_to_string(num_iteration=-1)
            return {"$booster": name, "best_iteration": int(v.best_iteration)}
        kind = _BY_CLASS.get(type(v))
        if kind is None:
            raise TypeError(f"{where}: a {type(v).__module__}.{type(v).__name__} is not a type watchwait.model_io saves; "
                            "register it (watchwait.model_io.register) if a model must hold it")
        state = kind.encode(v) if kind.encode else {k: v.__dict__[k] for k in kind.fields if k in v.__dict__}
        forgotten = [k for k in vars(v) if k not in kind.fields and k not in kind.ignored and not k.startswith("_")]
        if forgotten:
            raise TypeError(f"{where}: {kind.name} has attributes the model file would not keep ({', '.join(forgotten)}); "
                            "add them to its fields in watchwait.model_io")
        return {"$type": kind.name, "fields": {k: self.encode(x, f"{where}.{k}") for k, x in state.items()}}


def write_predictor(predictor, folder: Path) -> dict[str, str]:
    """Write ``predictor`` into ``folder`` as data files; return {file name: sha256}."""
    _registry()
    w = _Writer()
    structure = {"format": FORMAT, "model": w.encode(predictor, "predictor")}
    (folder / STRUCTURE_FILE).write_text(json.dumps(structure, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    with open(folder / ARRAYS_FILE, "wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **w.arrays)
    for name, text in w.trees.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {n: sha256_of(folder / n) for n in (STRUCTURE_FILE, ARRAYS_FILE, *w.trees)}


# --------------------------------------------------------------------------- loading
class _Reader:
    def __init__(self, folder: Path, arrays, tree_files: set[str]):
        self.folder, self.arrays, self.tree_files = folder, arrays, tree_files
        self.used_boosters: set[str] = set()

    def fail(self, where: str, what: str) -> ModelArtifactError:
        return ModelArtifactError(f"{self.folder / STRUCTURE_FILE}: {where}: {what}. The file was altered or made by other "
                                  "software; retrain the model with `watchwait train`.")

    def array(self, key, where: str) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise self.fail(where, f"names the array {key!r}, which {ARRAYS_FILE} does not hold")
        try:
            return self.arrays[key]
        except ValueError as e:  # an object array: only a pickle can hold one
            raise ModelArtifactError(f"{self.folder / ARRAYS_FILE}: the array {key!r} holds Python objects ({e}); a model's "
                                     "arrays hold numbers and text only, and watchwait never unpickles. The file was "
                                     "altered or made by other software; retrain the model with `watchwait train`.") from None

    def decode(self, v, where: str):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self.decode(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if not isinstance(v, dict) or len(v) == 0:
            raise self.fail(where, f"unexpected value of type {type(v).__name__}")
        tag = next(iter(v))
        if tag == "$float" and len(v) == 1:
            if v[tag] not in ("nan", "inf", "-inf"):
                raise self.fail(where, f"$float must be nan, inf or -inf, not {str(v[tag])[:40]!r}")
            return float(v[tag])
        if tag == "$tuple" and len(v) == 1 and isinstance(v[tag], list):
            return tuple(self.decode(x, f"{where}[{i}]") for i, x in enumerate(v[tag]))
        if tag == "$dict" and len(v) == 1 and isinstance(v[tag], list):
            out = {}
            for pair in v[tag]:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.fail(where, "a $dict entry must be a [key, value] pair")
                key = self.decode(pair[0], f"{where} key")
                value = self.decode(pair[1], f"{where}[{key!r}]")
                try:
                    out[key] = value
                except TypeError:
                    raise self.fail(where, f"a dict key must be a number, text or tuple, not {type(key).__name__}") from None
            return out
        if tag == "$array" and len(v) == 1:
            return self.array(v[tag], where)
        if tag == "$scalar" and len(v) == 1:
            a = self.array(v[tag], where)
            if a.ndim != 0:
                raise self.fail(where, "a $scalar must be a 0-dimensional array")
            return a[()]
        if tag == "$objects" and set(v) == {"$objects", "items"} and isinstance(v["items"], list):
            shape = v["$objects"]
            if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
                    and math.prod(shape) == len(v["items"])):
                raise self.fail(where, "an $objects shape does not match its items")
            out = np.empty(len(v["items"]), dtype=object)
            for i, x in enumerate(v["items"]):
                out[i] = self.decode(x, f"{where}[{i}]")
            return out.reshape(shape)
        if tag == "$booster" and set(v) == {"$booster", "best_iteration"} and isinstance(v["best_iteration"], int):
            return self.booster(v["$booster"], v["best_iteration"], where)
        if tag == "$type" and set(v) == {"$type", "fields"} and isinstance(v["fields"], dict):
            return self.instance(v["$type"], v["fields"], where)
        raise self.fail(where, f"unknown entry {str(sorted(v))[:80]}")

    def instance(self, name, fields: dict, where: str):
        registry = _registry()
        kind = registry.get(name) if isinstance(name, str) else None
        if kind is None:
            allowed = ", ".join(sorted(registry))
            raise self.fail(where, f"names the type {str(name)[:80]!r}, which is not one watchwait rebuilds from a model file "
                                   f"(only: {allowed})")
        unknown = sorted(set(fields) - set(kind.fields))
        if unknown:
            raise self.fail(where, f"{kind.name} has no field {', '.join(map(repr, unknown))[:120]}")
        missing = [k for k in kind.required if k not in fields]
        if missing:
            raise self.fail(where, f"{kind.name} lacks its field {', '.join(map(repr, missing))}")
        state = {k: self.decode(x, f"{where}.{k}") for k, x in fields.items()}
        try:
            return _build(kind, state)
        except ModelArtifactError as e:
            raise ModelArtifactError(f"{self.folder / STRUCTURE_FILE}: {where}: {e}") from None

    def booster(self, name, best_iteration: int, where: str):
        import lightgbm

        if not isinstance(name, str) or name not in self.tree_files:
            raise self.fail(where, f"names the trees file {str(name)[:80]!r}, which the model card does not list")
        if name in self.used_boosters:
            raise self.fail(where, f"uses the trees file {name} twice")
        self.used_boosters.add(name)
        path = self.folder / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ModelArtifactError(f"{path}: cannot be read as LightGBM's text format ({e}); retrain the model with "
                                     "`watchwait train`.") from None
        check_tree_format(path, text)
        text = checked_trees_text(path, text)
        try:
            booster = lightgbm.Booster(model_str=text)
        except Exception as e:  # noqa: BLE001 - LightGBM's parser reports a bad file in its own exception types
            raise ModelArtifactError(f"{path}: LightGBM cannot read these trees ({str(e).splitlines()[0][:200]}); the file was "
                                     "altered or made by other software. Retrain the model with `watchwait train`.") from None
        booster.best_iteration = best_iteration
        return booster


def check_tree_format(path: Path, text: str) -> None:
    """The trees file's text-format version must be the one the installed LightGBM writes. It is the only library
    version the trees depend on now: LightGBM's major version sets its text format (v4 for 4.x); a minor release
    reads and writes the same format. The numbers the trees give are checked by the probe predictions."""
    import lightgbm

    head = text[:200].splitlines()
    found = next((line.split("=", 1)[1] for line in head if line.startswith("version=")), None)
    expected = f"v{lightgbm.__version__.split('.')[0]}"
    if found is None:
        raise ModelArtifactError(f"{path}: not LightGBM's text format (no version line); the file was altered or made by "
                                 "other software. Retrain the model with `watchwait train`.")
    if found != expected:
        raise ModelArtifactError(f"{path}: LightGBM text format {found[:20]}, but the installed lightgbm {lightgbm.__version__} "
                                 f"writes {expected}; install a lightgbm that writes {found[:20]} or retrain the model with "
                                 "`watchwait train`.")


_INT = re.compile(r"-?[0-9]{1,10}")
_NUM = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|inf|nan)")
_TREE_KEYS = ("num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type", "left_child",
              "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight",
              "internal_count", "is_linear", "shrinkage")
_TRAILER = re.compile(r"|feature_importances:|parameters:|end of parameters|pandas_categorical:null|[A-Za-z0-9_]+=[0-9]+"
                      r"|\[[a-z0-9_]+: [^\n]*\]")


def checked_trees_text(path: Path, text: str) -> str:
    """Check a trees file line by line, as LightGBM wrote it for a watchwait model, before LightGBM parses it: the
    header (one binary model), every tree (numerical splits only, arrays of the lengths ``num_leaves`` implies, split
    features that exist, children that form a tree), then the trailer. LightGBM's own parser trusts its input: a bad
    ``tree_sizes`` index aborts the whole process (a C++ exception inside its parallel loop), and child indices out of
    range would be read out of bounds when predicting. Returned without ``tree_sizes`` (so LightGBM parses the trees
    one after another, and any error it still finds is an ordinary exception)."""

    def bad(what: str) -> ModelArtifactError:
        return ModelArtifactError(f"{path}: not a LightGBM model as watchwait saves one ({what[:160]}); the file was altered "
                                  "or made by other software. Retrain the model with `watchwait train`.")

    lines = text.split("\n")
    if not lines or lines[0] != "tree":
        raise bad("it does not start with 'tree'")
    header, i = {}, 1
    while i < len(lines) and not lines[i].startswith("Tree="):
        line = lines[i]
        if line:
            key, eq, value = line.partition("=")
            if not eq or not re.fullmatch(r"[a-z_]+", key) or key in header:
                raise bad(f"header line {i + 1}")
            header[key] = value
        i += 1
    if header.get("num_class") != "1" or header.get("num_tree_per_iteration") != "1":
        raise bad("not a single binary model")
    if not _INT.fullmatch(header.get("max_feature_idx", "")) or not 0 <= int(header["max_feature_idx"]) < 100_000:
        raise bad("max_feature_idx")
    n_features = int(header["max_feature_idx"]) + 1
    n_trees = 0
    while i < len(lines) and lines[i].startswith("Tree="):
        if lines[i] != f"Tree={n_trees}":
            raise bad(f"line {i + 1}: expected Tree={n_trees}")
        fields, i = {}, i + 1
        while i < len(lines) and lines[i]:
            key, eq, value = lines[i].partition("=")
            if not eq or key not in _TREE_KEYS or key in fields:
                raise bad(f"tree {n_trees}, line {i + 1}")
            fields[key] = value
            i += 1
        _check_tree(fields, n_features, lambda what, t=n_trees: bad(f"tree {t}: {what}"))
        n_trees += 1
        while i < len(lines) and not lines[i]:
            i += 1
    if i >= len(lines) or lines[i] != "end of trees":
        raise bad(f"line {i + 1}: expected 'end of trees'")
    for j in range(i + 1, len(lines)):
        if not _TRAILER.fullmatch(lines[j]):
            raise bad(f"line {j + 1} after the trees")
    if "tree_sizes" in header:
        sizes = header["tree_sizes"].split(" ") if header["tree_sizes"] else []
        if len(sizes) != n_trees or not all(_INT.fullmatch(x) for x in sizes):
            raise bad("tree_sizes does not list one size per tree")
    return "\n".join(line for line in lines if not line.startswith("tree_sizes="))


def _check_tree(fields: dict, n_features: int, bad) -> None:
    missing = [k for k in _TREE_KEYS if k not in fields]
    if missing:
        raise bad(f"no {', '.join(missing)}")
    if not _INT.fullmatch(fields["num_leaves"]) or not 1 <= int(fields["num_leaves"]) <= 131_072:
        raise bad("num_leaves")
    if fields["num_cat"] != "0" or fields["is_linear"] != "0":
        raise bad("categorical or linear trees")
    if not _NUM.fullmatch(fields["shrinkage"]):
        raise bad("shrinkage")
    leaves = int(fields["num_leaves"])

    def values(key: str, n: int, pattern) -> list[str]:
        v = fields[key].split(" ") if fields[key] else []
        if len(v) != n or not all(pattern.fullmatch(x) for x in v):
            raise bad(f"{key} must hold {n} numbers")
        return v

    for key in ("leaf_value", "leaf_weight") if leaves > 1 else ("leaf_value",):
        values(key, leaves, _NUM)
    if leaves > 1 or fields["leaf_count"]:
        values("leaf_count", leaves, _INT)
    if any(float(x) != float(x) or abs(float(x)) == float("inf") for x in values("leaf_value", leaves, _NUM)):
        raise bad("a leaf value is not a finite number")
    inner = leaves - 1
    for key in ("split_gain", "threshold", "internal_value", "internal_weight"):
        values(key, inner, _NUM)
    values("internal_count", inner, _INT)
    features = [int(x) for x in values("split_feature", inner, _INT)]
    if any(not 0 <= f < n_features for f in features):
        raise bad("a split on a feature the model does not have")
    if any(int(d) & 1 or not 0 <= int(d) < 256 for d in values("decision_type", inner, _INT)):
        raise bad("a categorical split")
    children = [int(x) for x in values("left_child", inner, _INT) + values("right_child", inner, _INT)]
    # every node but the root (0) is the child of exactly one node, and every leaf is reached: a tree, no cycle through
    # the root, no index out of range
    expected = sorted([*range(1, inner), *(~k for k in range(leaves))])
    if inner and sorted(children) != expected:
        raise bad("children do not form a tree")


def read_predictor(folder: Path, files: dict[str, str]):
    """Rebuild the predictor from the data files of ``folder`` (their sha256 already checked against the card)."""
    path = folder / STRUCTURE_FILE
    try:
        structure = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelArtifactError(f"{path}: not readable as JSON ({str(e)[:160]}); the file was altered or made by other "
                                 "software. Retrain the model with `watchwait train`.") from None
    if not isinstance(structure, dict) or structure.get("format") != FORMAT or "model" not in structure:
        raise ModelArtifactError(f"{path}: not a {FORMAT} model structure; retrain the model with `watchwait train`.")
    try:
        arrays = np.load(folder / ARRAYS_FILE, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ModelArtifactError(f"{folder / ARRAYS_FILE}: not a numpy .npz file of plain arrays ({str(e)[:160]}); watchwait "
                                 "reads model arrays without unpickling, so a pickle or an object array is refused. The file "
                                 "was altered or made by other software; retrain the model with `watchwait train`.") from None
    if not hasattr(arrays, "files"):
        raise ModelArtifactError(f"{folder / ARRAYS_FILE}: a single array, not a .npz archive of the model's arrays; retrain "
                                 "the model with `watchwait train`.")
    reader = _Reader(folder, _Arrays(arrays, folder), {n for n in files if TREES_FILE.fullmatch(n)})
    try:
        with arrays:
            model = reader.decode(structure["model"], "predictor")
    except ModelArtifactError:
        raise
    except RecursionError:
        raise ModelArtifactError(f"{path}: nested too deeply to be a watchwait model; retrain the model with "
                                 "`watchwait train`.") from None
    except Exception as e:  # noqa: BLE001 - whatever else a malformed file provokes is reported as a bad file
        raise ModelArtifactError(f"{path}: does not describe a watchwait model ({type(e).__name__}: {str(e)[:160]}); the "
                                 "file was altered or made by other software. Retrain the model with `watchwait train`.") from None
    from watchwait.model import FusedPredictor

    if not isinstance(model, FusedPredictor):
        raise ModelArtifactError(f"{path}: holds a {type(model).__name__}, not a FusedPredictor; retrain the model with "
                                 "`watchwait train`.")
    for part in [model.model_, *(model.members_ if isinstance(model.members_, list) else [None])]:
        booster = getattr(part, "booster", None)
        # the compiled tree evaluator indexes the feature matrix by the trees' split features: they must fit it
        if booster is not None and booster.num_feature() != len(model.features_):
            raise ModelArtifactError(f"{path}: trees on {booster.num_feature()} features for a model of "
                                     f"{len(model.features_)}; the files were altered. Retrain the model with `watchwait train`.")
    return model


class _Arrays:
    """The .npz members, each read once (a member can be referenced more than once)."""

    def __init__(self, npz, folder: Path):
        self.npz, self.folder, self.cache = npz, folder, {}

    def __contains__(self, key) -> bool:
        return key in self.npz.files

    def __getitem__(self, key) -> np.ndarray:
        if key not in self.cache:
            try:
                self.cache[key] = self.npz[key]
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise ModelArtifactError(f"{self.folder / ARRAYS_FILE}: the array {key!r} cannot be read ({str(e)[:160]}); "
                                         "retrain the model with `watchwait train`.") from None
        return self.cache[key]


# --------------------------------------------------------------------------- probe predictions
def probe_predictions(predictor) -> dict:
    """What the predictor gives on fixed probe rows (``features._probe_columns``: every category, both booleans,
    numbers across each field's range, blanks): probability, interval and explanation sum (the logit)."""
    from watchwait.features import _probe_columns
    from watchwait.model import missing_groups

    cols = _probe_columns(predictor.features_, n=PROBE_ROWS)
    X = predictor.matrix(cols)
    p = predictor.predict_proba(X)
    lo, hi = predictor.interval(X, groups=missing_groups(cols))
    ex = predictor.explain(X)
    total = ex.base_logit + ex.contributions_logit.sum(axis=1)
    return {"rows": f"watchwait.features._probe_columns(features, n={PROBE_ROWS})",
            "probability": [float(x) for x in p], "interval_low": [float(x) for x in lo],
            "interval_high": [float(x) for x in hi], "explanation_sum": [float(x) for x in total]}


def check_probes(folder: Path, predictor, recorded: dict | None) -> None:
    if not isinstance(recorded, dict):
        raise ModelArtifactError(f"{folder}: the model card records no probe predictions; retrain the model with "
                                 "`watchwait train`.")
    try:
        now = probe_predictions(predictor)
    except ModelArtifactError:
        raise
    except Exception as e:  # noqa: BLE001 - arrays of the wrong shape or kind, from an altered file
        raise ModelArtifactError(f"{folder}: the model files do not make a working model ({type(e).__name__}: "
                                 f"{str(e)[:160]}); they were altered or made by other software. Retrain the model with "
                                 "`watchwait train`.") from None
    for key in ("probability", "interval_low", "interval_high", "explanation_sum"):
        got = np.asarray(now[key], float)
        try:
            want = np.asarray(recorded.get(key), float)
        except (TypeError, ValueError):
            want = np.zeros(0)
        if want.shape != got.shape:
            raise ModelArtifactError(f"{folder}: the model card's probe predictions ({key}) are not {len(got)} numbers; "
                                     "retrain the model with `watchwait train`.")
        diff = np.where(np.isnan(got) & np.isnan(want), 0.0, np.abs(got - want))
        diff = np.where(np.isnan(diff), np.inf, diff)
        if diff.max() > PROBE_TOLERANCE:
            i = int(np.argmax(diff))
            raise ModelArtifactError(
                f"{folder}: the loaded model does not reproduce the predictions recorded when it was saved ({key} on probe "
                f"row {i}: {got[i]:.6g} now, {want[i]:.6g} recorded). Either a model file was altered or an installed "
                f"library computes differently ({_libraries_text()}; the card records the versions it was built with). "
                "Install those versions, or retrain the model with `watchwait train`.")


def _libraries_text() -> str:
    import importlib.metadata as md

    return ", ".join(f"{n} {md.version(n)}" for n in ("numpy", "scipy", "lightgbm", "crepes"))


def saved_libraries() -> dict[str, str]:
    import importlib.metadata as md

    return {n: md.version(n) for n in ("numpy", "scipy", "lightgbm", "crepes")}


# --------------------------------------------------------------------------- old (pickle) folders
def pickle_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    except OSError:
        return []


def pickle_refusal(folder: Path, files: list[Path]) -> ModelArtifactError:
    names = ", ".join(p.name for p in files)
    return ModelArtifactError(
        f"{folder}: the model is a pickle ({names}), the format of older watchwait versions. A pickle can run any code "
        "when it is loaded, so watchwait no longer loads pickles. Retrain the model with `watchwait train`, or, only if "
        f"you trust where this file came from, convert it once: `{CONVERT_COMMAND}`.")


# --------------------------------------------------------------------------- the conversion command
def convert(old: Path, new: Path, trusted: bool) -> Path:
    """Unpickle ``old``'s model (the only place watchwait ever does) and save it as data in ``new``."""
    if not trusted:
        raise ModelArtifactError(
            f"convert unpickles {old}: a pickle runs whatever code it holds when it is loaded, with your permissions. "
            "Convert only a model whose origin you trust (one you or your site trained), and say so with "
            "--i-trust-this-file. Otherwise retrain it with `watchwait train`.")
    from watchwait.artifacts import ModelBundle, _environment, _minor, load_model
    from watchwait.features import spec_fingerprint

    if old.resolve() == new.resolve():
        raise ModelArtifactError(f"{new}: write the converted model to another folder (keep {old} until you have checked it).")
    card_file = old / "model_card.json"
    files = pickle_files(old) if old.is_dir() else []
    if not card_file.is_file() or not files:
        raise ModelArtifactError(f"{old}: not an old watchwait model folder (needs model.joblib and model_card.json).")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
        recorded = card["artifact"]
        pickled = old / recorded["file"]
    except (ValueError, KeyError, TypeError) as e:
        raise ModelArtifactError(f"{card_file}: not a watchwait model card ({e}).") from None
    if pickled not in files or sha256_of(pickled) != recorded.get("sha256"):
        raise ModelArtifactError(f"{pickled}: its sha256 does not match the model card; it was altered or belongs to another "
                                 "card. It will not be unpickled.")
    built, now = card.get("environment", {}).get("libraries", {}), _environment()["libraries"]
    for lib in ("numpy", "scikit-learn", "lightgbm", "glum", "crepes"):  # a pickle restores objects of these libraries
        if _minor(built.get(lib)) != _minor(now[lib]):
            raise ModelArtifactError(f"{old}: pickled with {lib} {built.get(lib)}, but {now[lib]} is installed; a pickle is "
                                     f"only read faithfully by the same minor version. Install {lib}=={built.get(lib)} to "
                                     "convert it, or retrain the model with `watchwait train`.")
    predictor = _unpickle_trusted(pickled)
    from watchwait.model import FusedPredictor

    if not isinstance(predictor, FusedPredictor):
        raise ModelArtifactError(f"{pickled}: holds a {type(predictor).__name__}, not a watchwait FusedPredictor.")
    if spec_fingerprint(predictor.features_) != recorded.get("feature_spec_sha256"):
        raise ModelArtifactError(f"{old}: the feature specification changed since this model was trained, so its inputs "
                                 "would now give different numbers; retrain it with `watchwait train` instead.")
    from watchwait.training import save_model

    # An older model may keep objects the data format does not (e.g. the additive model's fitted glum object, glm_,
    # before it kept arrays only). They are dropped only if the model's probe predictions stay exactly the same.
    before = probe_predictions(predictor)
    dropped = strip_unsaved(predictor)
    if probe_predictions(predictor) != before:
        raise ModelArtifactError(f"{pickled}: the model needs attributes the data format does not keep "
                                 f"({', '.join(dropped)}); retrain it with `watchwait train`.")
    card["converted_from"] = {"file": pickled.name, "sha256": recorded["sha256"],
                              "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "how": "python -m watchwait.model_io convert --i-trust-this-file (the pickle was trusted by the user)",
                              "dropped": dropped}
    try:
        out = save_model(ModelBundle(predictor=predictor, card=card), new)
    except TypeError as e:  # a part of the pickled model that the data format cannot hold
        raise ModelArtifactError(f"{pickled}: cannot be saved as data ({e}); retrain it with `watchwait train`.") from None
    from watchwait.artifacts import _load_cached

    _load_cached.cache_clear()
    loaded = load_model(out)  # the data-only copy loads (its probe predictions recomputed) ...
    if loaded.card["artifact"]["probes"] != before:  # ... and they are the pickled model's own
        raise ModelArtifactError(f"{out}: the converted model does not give the pickled model's predictions; delete it and "
                                 "retrain with `watchwait train`.")
    return out


def strip_unsaved(obj, where: str = "predictor") -> list[str]:
    """Delete the attributes of registered objects that the data format does not keep (and that are not caches,
    whose names start with ``_``); return their dotted paths. For :func:`convert` only."""
    _registry()
    dropped: list[str] = []
    kind = _BY_CLASS.get(type(obj))
    if kind is not None:
        for k in list(vars(obj)):
            if k not in kind.fields and k not in kind.ignored and not k.startswith("_"):
                delattr(obj, k)
                dropped.append(f"{where}.{k}")
        for k in kind.fields:
            if k in vars(obj) and k != "features_":
                dropped += strip_unsaved(vars(obj)[k], f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, x in enumerate(obj):
            dropped += strip_unsaved(x, f"{where}[{i}]")
    elif isinstance(obj, dict):
        for k, x in obj.items():
            dropped += strip_unsaved(x, f"{where}[{k!r}]")
    return dropped


def _unpickle_trusted(path: Path):
    """The one unpickling in watchwait, reached only by ``convert --i-trust-this-file``."""
    import joblib

    return joblib.load(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m watchwait.model_io",
                                     description="Convert an old watchwait model folder (a pickle) to the data-only format.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="unpickle OLD_DIR's model.joblib (only if you trust it) and save it as data in NEW_DIR",
                       description="Unpickling runs whatever code the file holds: convert only a model whose origin you "
                                   "trust, and say so with --i-trust-this-file. The new folder loads without unpickling.")
    c.add_argument("old_dir", type=Path, metavar="OLD_DIR")
    c.add_argument("new_dir", type=Path, metavar="NEW_DIR")
    c.add_argument("--i-trust-this-file", action="store_true", dest="trusted",
                   help="I know where this pickle came from; unpickling it may run code")
    args = parser.parse_args(argv)
    from watchwait.errors import WatchwaitError

    try:
        out = convert(args.old_dir, args.new_dir, args.trusted)
    except WatchwaitError as e:
        print(f"watchwait.model_io convert: {e}", file=sys.stderr)
        return 2
    print(f"converted {args.old_dir} -> {out}: data files only (model.json, arrays.npz, trees_*.txt); it loads without "
          "unpickling and gives the same predictions on the probe rows.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
