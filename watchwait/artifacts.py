"""Loading a model artifact, separate from training: the engine imports this module, never
:mod:`watchwait.training` (a test checks it).

An artifact is a folder: ``model.joblib`` (the fitted predictor), ``model_card.json`` (what it is,
what it was trained on, how it performs, the sha256 of the model file, a fingerprint of the feature specification and the library versions it was built with) and
``model_card.md``. Loading refuses an artifact whose hashes, feature specification or library
versions do not match this installation.
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
CHECKED_LIBRARIES = ("numpy", "scikit-learn", "lightgbm", "glum", "crepes")  # pickles are only safe with the same minor versions
# One load at a time: the caches below are shared by every session's thread, and two threads must not
# both unpickle (or half-see) the same artifact.
_LOAD_LOCK = threading.RLock()


@dataclass
class ModelBundle:
    predictor: object  # watchwait.model.FusedPredictor
    card: dict
    path: Path | None = None
    baselines: dict | None = None  # fitted comparison models from `train` (not saved)

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


def _verified_card(folder: Path, file_name: str, hash_key: str) -> tuple[dict, Path]:
    """The artifact's model card, after checking that ``file_name`` matches the sha256 it records."""
    card_file, data_file = folder / "model_card.json", folder / file_name
    if not card_file.is_file() or not data_file.is_file():
        raise ModelArtifactError(f"{folder}: not a watchwait model (needs {file_name} and model_card.json); train one with `watchwait train`.")
    card = json.loads(card_file.read_text())
    expected = card.get("artifact", {}).get(hash_key)
    actual = _sha256(data_file)
    if expected != actual:
        raise ModelArtifactError(f"{data_file}: sha256 {actual[:12]}... does not match the model card ({str(expected)[:12]}...); "
                                 "the file was altered or belongs to another card. Retrain or restore the artifact.")
    return card, data_file


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
    """Load and verify the full artifact (hashes, library versions, feature specification)."""
    import joblib

    folder = Path(path)
    card, model_file = _verified_card(folder, "model.joblib", "sha256")
    built = card.get("environment", {}).get("libraries", {})
    now = _environment()["libraries"]
    for lib in CHECKED_LIBRARIES:
        if _minor(built.get(lib)) != _minor(now[lib]):
            raise ModelArtifactError(f"{folder}: built with {lib} {built.get(lib)}, but {now[lib]} is installed; "
                                     f"install {lib}=={built.get(lib)} or retrain the model with `watchwait train`.")
    predictor = joblib.load(model_file)
    _check_feature_spec(folder, card, predictor)
    return ModelBundle(predictor=predictor, card=card, path=folder)


_load_cached = _Loaded(_load_uncached)


def _minor(version: str | None) -> str | None:
    return ".".join(version.split(".")[:2]) if version else None
