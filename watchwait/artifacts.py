"""Loading a model artifact, separate from training: the engine imports this module, never
:mod:`watchwait.training` (a test checks it).

An artifact is a folder of data files (:mod:`watchwait.model_io`, format ``watchwait-data-1``): ``model.json``
(structure, settings, feature names), ``arrays.npz`` (numbers, read without pickle) and ``trees_<i>.txt`` (LightGBM's
own text format), plus ``model_card.json`` (what it is, what it was trained on, how it performs, each file's sha256,
a fingerprint of the feature specification, the library versions and probe predictions) and ``model_card.md``.
Loading never runs code from the folder: an old folder holding a pickle (``model.joblib``) is refused with what to
do. Loading refuses an artifact whose hashes, feature specification, LightGBM text format or probe predictions do
not match this installation.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from watchwait.errors import ModelArtifactError
from watchwait.features import spec_fingerprint

if TYPE_CHECKING:
    import pandas as pd

SHIPPED_MODEL = Path(os.environ.get("WATCHWAIT_MODEL", Path(__file__).resolve().parents[1] / "models" / "shipped"))
# Library versions a data-only model still depends on when it is read (watchwait.model_io):
# * lightgbm: the trees' text format version (v4 for lightgbm 4.x), checked on each trees file;
# * crepes: the conformal regressor's state is saved under crepes' own attribute names, which predict_int reads
#   (checked at the minor version, only for a model with a conformal interval).
# numpy (.npz is a stable format), scikit-learn and glum (used while fitting only; the model keeps their numbers as
# arrays) and scipy (B-splines rebuilt from the knots) are not checked by version: the probe predictions recorded in
# the card are recomputed on loading, so a library that now computes differently is refused by what it computes.
CHECKED_LIBRARIES = ("crepes",)
# One load at a time: the caches below are shared by every session's thread, and two threads must not
# both read (or half-see) the same artifact.
_LOAD_LOCK = threading.RLock()


@dataclass
class ModelBundle:
    predictor: object  # watchwait.model.FusedPredictor
    card: dict
    path: Path | None = None
    baselines: dict | None = None  # fitted comparison models from `train` (not saved)
    validation: dict | None = None  # the held-out validation report (watchwait.validate), saved as <folder>/validation

    @property
    def version(self) -> str:
        return self.card["model_version"]


def columns_of(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy() for c in frame.columns}


def _environment() -> dict:
    import importlib.metadata as md

    libs = {name: md.version(name) for name in ("numpy", "scikit-learn", "scipy", "pandas", "joblib", "lightgbm", "glum", "crepes")}
    return {"python": platform.python_version(), "libraries": libs}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_feature_spec(folder: Path, card: dict, predictor) -> None:
    """The features this installation would compute must be the ones the model was trained on."""
    expected = card.get("artifact", {}).get("feature_spec_sha256")
    if expected is None:
        raise ModelArtifactError(f"{folder}: the model card records no feature specification (feature_spec_sha256); "
                                 "it was built by an older watchwait. Retrain it with `watchwait train`.")
    actual = spec_fingerprint(predictor.features_)
    if actual != expected:
        raise ModelArtifactError(f"{folder}: the feature specification changed since this model was trained "
                                 f"(fingerprint {actual[:12]}... vs {expected[:12]}... in the model card): the same inputs would "
                                 "give the model different numbers. Retrain it with `watchwait train`, or install the watchwait "
                                 "version it was built with.")


def load_model(path: str | os.PathLike | None = None) -> ModelBundle:
    """Load and verify an artifact folder (default: the shipped model)."""
    return _load_cached(str(Path(path or SHIPPED_MODEL).resolve()))


def _read_card(folder: Path) -> dict:
    card_file = folder / "model_card.json"
    if not card_file.is_file():
        raise ModelArtifactError(f"{folder}: not a watchwait model (it has no model_card.json); train one with `watchwait train`.")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelArtifactError(f"{card_file}: not readable as JSON ({str(e)[:120]}); restore the artifact or retrain it "
                                 "with `watchwait train`.") from None
    if not isinstance(card, dict):
        raise ModelArtifactError(f"{card_file}: not a model card (a JSON object); restore the artifact or retrain it.")
    return card


def _verified_files(folder: Path, artifact: dict) -> dict[str, str]:
    """The data files the card lists, after checking each one's sha256 against it."""
    from watchwait import model_io

    files = artifact.get("files")
    if (not isinstance(files, dict) or model_io.STRUCTURE_FILE not in files or model_io.ARRAYS_FILE not in files
            or not all(isinstance(n, str) and isinstance(h, str) for n, h in files.items())):
        raise ModelArtifactError(f"{folder}: the model card does not list the model's data files with their sha256 "
                                 f"({model_io.STRUCTURE_FILE}, {model_io.ARRAYS_FILE}, trees_<i>.txt); restore the artifact "
                                 "or retrain it with `watchwait train`.")
    for name, expected in files.items():
        if name not in (model_io.STRUCTURE_FILE, model_io.ARRAYS_FILE) and not model_io.TREES_FILE.fullmatch(name):
            raise ModelArtifactError(f"{folder}: the model card lists {name[:80]!r}, which is not a file of a watchwait model "
                                     f"({model_io.STRUCTURE_FILE}, {model_io.ARRAYS_FILE}, trees_<i>.txt); restore the "
                                     "artifact or retrain it with `watchwait train`.")
        data_file = folder / name
        if not data_file.is_file():
            raise ModelArtifactError(f"{data_file}: missing; the model card lists it. Restore the artifact or retrain it "
                                     "with `watchwait train`.")
        actual = _sha256(data_file)
        if actual != expected:
            raise ModelArtifactError(f"{data_file}: sha256 {actual[:12]}... does not match the model card ({expected[:12]}...); "
                                     "the file was altered or belongs to another card. Retrain or restore the artifact.")
    if artifact.get("sha256") != model_io.manifest_sha256(files):
        raise ModelArtifactError(f"{folder}: the model card's sha256 of the model ({str(artifact.get('sha256'))[:12]}...) is "
                                 "not that of the files it lists; the card was altered. Retrain or restore the artifact.")
    return files


def _check_libraries(folder: Path, artifact: dict, predictor) -> None:
    """See :data:`CHECKED_LIBRARIES`: only crepes, and only for a model with a conformal interval."""
    if predictor.conformal_ is None:
        return
    built = (artifact.get("libraries") or {}).get("crepes")
    now = _environment()["libraries"]["crepes"]
    if _minor(built) != _minor(now):
        raise ModelArtifactError(f"{folder}: built with crepes {built}, but {now} is installed (the interval's conformal state "
                                 f"is saved in crepes' own terms); install crepes=={built} or retrain the model with "
                                 "`watchwait train`.")


class _Loaded:
    """A small cache of loaded artifacts, shared by every thread: a miss loads under the lock and checks
    again first, so concurrent first calls get one and the same bundle (``lru_cache`` alone may load twice)."""

    def __init__(self, loader, size: int = 4):
        self.loader, self.size, self.items = loader, size, {}

    def __call__(self, path: str) -> ModelBundle:
        hit = self.items.get(path)
        if hit is not None:
            return hit
        with _LOAD_LOCK:
            hit = self.items.get(path)
            if hit is None:
                hit = self.loader(path)
                if len(self.items) >= self.size:
                    self.items.pop(next(iter(self.items)))
                self.items[path] = hit
            return hit

    def cache_clear(self) -> None:
        with _LOAD_LOCK:
            self.items.clear()


def _load_uncached(path: str) -> ModelBundle:
    """Load and verify the full artifact (hashes, format, library versions, feature specification, probe
    predictions). Nothing in the folder is unpickled or run."""
    from watchwait import model_io

    folder = Path(path)
    if not folder.is_dir():
        raise ModelArtifactError(f"{folder}: no such model folder; give the folder `watchwait train` wrote.")
    pickles = model_io.pickle_files(folder)
    if pickles and not (folder / model_io.STRUCTURE_FILE).is_file():
        raise model_io.pickle_refusal(folder, pickles)
    card = _read_card(folder)
    artifact = card.get("artifact") if isinstance(card.get("artifact"), dict) else {}
    if artifact.get("format") != model_io.FORMAT:
        raise ModelArtifactError(f"{folder}: the model card describes a {str(artifact.get('format') or 'pickled')[:40]} model, "
                                 f"not a {model_io.FORMAT} one (data files only); retrain it with `watchwait train`.")
    files = _verified_files(folder, artifact)
    predictor = model_io.read_predictor(folder, files)
    _check_libraries(folder, artifact, predictor)
    _check_feature_spec(folder, card, predictor)
    model_io.check_probes(folder, predictor, artifact.get("probes"))
    return ModelBundle(predictor=predictor, card=card, path=folder)


_load_cached = _Loaded(_load_uncached)


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None
