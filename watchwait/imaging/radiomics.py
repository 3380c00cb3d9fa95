"""pyradiomics features with provenance, and delta radiomics between two visits.

Features keep pyradiomics' own names (``original_glcm_Contrast``...). Every result carries
provenance in the pyradiomics manner: library versions, the parameter file's name and sha256,
and the sha256 of the image array (float32) and the mask array (uint8) actually passed to
pyradiomics, so a value can be traced to exactly what produced it.

The default parameter file is ``params/watchwait_mr_v1.yaml`` (its comments state the bin width
and normalisation choices). Cohort extraction (many patients in parallel) is in
:mod:`watchwait.imaging.cohort` and re-exported here.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .cohort import CohortCase, CohortResult, extract_cohort
from .dicom_io import Series
from .errors import RadiomicsError
from .roi import RoiMask

__all__ = [
    "DEFAULT_PARAMS",
    "RadiomicsResult",
    "extract_features",
    "extract_arrays",
    "delta_features",
    "CohortCase",
    "CohortResult",
    "extract_cohort",
]

logger = logging.getLogger(__name__)

PARAMS_DIR = Path(__file__).resolve().parent / "params"
DEFAULT_PARAMS = PARAMS_DIR / "watchwait_mr_v1.yaml"

#: Features whose relative change is not meaningful: signed, or a location on the z-scored
#: intensity scale (a change from 0.01 to 0.02 SD is not "+100 %").
NO_RELATIVE_CHANGE = frozenset({
    "firstorder_Mean", "firstorder_Median", "firstorder_Minimum", "firstorder_Maximum",
    "firstorder_10Percentile", "firstorder_90Percentile", "firstorder_Skewness",
    "glcm_ClusterShade", "glcm_Correlation", "glcm_Imc1", "glcm_Imc2", "glcm_MCC",
})


@dataclass(frozen=True)
class RadiomicsResult:
    """Feature values (pyradiomics names) and how they were obtained."""

    features: dict[str, float]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"features": {...}, "provenance": {...}}`` (NaN, inf become None)."""
        return {
            "features": {k: (v if math.isfinite(v) else None) for k, v in self.features.items()},
            "provenance": self.provenance,
        }


def extract_features(series: Series, roi: RoiMask | np.ndarray,
                     params: str | Path | None = None) -> RadiomicsResult:
    """Features of ``roi`` on ``series`` with the parameter file ``params`` (default v1)."""
    mask = roi.mask if isinstance(roi, RoiMask) else np.asarray(roi)
    if not series.evenly_spaced:
        raise RadiomicsError("the series has missing slices (uneven spacing); radiomics needs an "
                             "evenly spaced volume")
    if mask.shape != series.shape:
        raise RadiomicsError(f"mask shape {mask.shape} differs from the series shape {series.shape}")
    image = series.to_sitk()
    result = _run(image, mask, series.array, _resolve(params))
    result.provenance["series_instance_uid"] = series.series_instance_uid
    if isinstance(roi, RoiMask):
        result.provenance["roi"] = {"kind": roi.kind, "name": roi.name}
    return result


def extract_arrays(image: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
                   params: str | Path | None = None, *, origin: Sequence[float] = (0.0, 0.0, 0.0),
                   direction: Sequence[float] | None = None) -> RadiomicsResult:
    """Features from a (z, y, x) array and mask with ``spacing`` (z, y, x) in mm."""
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 3 or image.shape != mask.shape:
        raise RadiomicsError(f"image {image.shape} and mask {mask.shape} must be 3-D arrays of one shape")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise RadiomicsError(f"spacing must be three positive numbers (z, y, x); got {list(spacing)}")
    volume = sitk.GetImageFromArray(image.astype(np.float32))
    volume.SetSpacing([float(s) for s in spacing[::-1]])
    volume.SetOrigin([float(o) for o in origin])
    if direction is not None:
        volume.SetDirection([float(d) for d in direction])
    return _run(volume, mask, image, _resolve(params))


def _resolve(params: str | Path | None) -> Path:
    path = Path(params) if params is not None else DEFAULT_PARAMS
    if not path.is_file():
        raise RadiomicsError(f"{path.name}: parameter file not found ({path})")
    return path


def _run(image: sitk.Image, mask: np.ndarray, array: np.ndarray, params: Path) -> RadiomicsResult:
    binary = np.asarray(mask, dtype=bool)  # no copy of a boolean mask
    voxels = int(np.count_nonzero(binary))
    if voxels == 0:
        raise RadiomicsError("the ROI mask is empty")
    extractor, params_sha = _extractor(str(params), _sha256_file(params))
    label = int(extractor.settings.get("label", 1))
    labels = binary.astype(np.uint8) if label == 1 else binary.astype(np.uint8) * label
    mask_image = sitk.GetImageFromArray(labels)
    del labels
    mask_image.CopyInformation(image)
    try:
        raw = extractor.execute(image, mask_image)
    except (ValueError, RuntimeError, IndexError, ZeroDivisionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RadiomicsError(f"pyradiomics cannot compute features on this ROI ({voxels} voxels): "
                             f"{reason}") from None
    features = {k: float(v) for k, v in raw.items() if not k.startswith("diagnostics_")}
    provenance = _provenance(params, params_sha, array, binary, image)
    provenance["mask_voxels"] = voxels
    return RadiomicsResult(features, provenance)


@functools.lru_cache(maxsize=8)
def _extractor(params: str, sha256: str) -> tuple[Any, str]:
    """One validated extractor per parameter file content (the hash is part of the key)."""
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)  # its own stderr handler; our logs carry the facts
    try:
        with warnings.catch_warnings():  # pykwalify loads its schema extension the deprecated way
            warnings.simplefilter("ignore", DeprecationWarning)
            extractor = featureextractor.RadiomicsFeatureExtractor(params)
    except Exception as exc:  # pykwalify / ruamel raise many types for a bad file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RadiomicsError(f"{Path(params).name}: invalid pyradiomics parameter file ({reason})") from None
    return extractor, sha256


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def array_sha256(array: np.ndarray, dtype: str) -> str:
    """sha256 of the C-ordered bytes of ``array`` cast to ``dtype`` (fed one slice at a time: no
    copy of the whole volume)."""
    digest = hashlib.sha256()
    array = np.asarray(array)
    for part in (array if array.ndim > 1 else [array]):
        digest.update(np.ascontiguousarray(part, dtype=dtype).data)
    return digest.hexdigest()


def _provenance(params: Path, params_sha: str, array: np.ndarray, mask: np.ndarray,
                image: sitk.Image) -> dict[str, Any]:
    import pydicom
    import radiomics

    return {
        "pyradiomics": str(radiomics.__version__),
        "numpy": np.__version__,
        "SimpleITK": sitk.Version_VersionString(),
        "pydicom": pydicom.__version__,
        "python": platform.python_version(),
        "params_file": params.name,
        "params_sha256": params_sha,
        "image_sha256": array_sha256(array, "float32"),
        "mask_sha256": array_sha256(mask, "uint8"),
        "image_shape_zyx": list(array.shape),
        "spacing_zyx_mm": [float(s) for s in image.GetSpacing()[::-1]],
    }


def delta_features(baseline: RadiomicsResult | Mapping[str, float],
                   restaging: RadiomicsResult | Mapping[str, float]) -> dict[str, float]:
    """Delta radiomics between two visits.

    ``delta_<name>`` = restaging - baseline for every feature in both; ``reldelta_<name>`` =
    (restaging - baseline) / baseline where a ratio means something: baseline > 0 and the
    feature is not signed or a location on the normalised scale (:data:`NO_RELATIVE_CHANGE`).
    Both results must come from the same parameter file.
    """
    if isinstance(baseline, RadiomicsResult) and isinstance(restaging, RadiomicsResult):
        a, b = baseline.provenance.get("params_sha256"), restaging.provenance.get("params_sha256")
        if a and b and a != b:
            raise RadiomicsError("baseline and restaging were extracted with different parameter files "
                                 f"({baseline.provenance.get('params_file')} vs "
                                 f"{restaging.provenance.get('params_file')}); deltas would be meaningless")
    base = baseline.features if isinstance(baseline, RadiomicsResult) else baseline
    rest = restaging.features if isinstance(restaging, RadiomicsResult) else restaging
    missing = sorted(set(base) ^ set(rest))
    if missing:
        raise RadiomicsError(f"baseline and restaging have different features, e.g. {missing[:3]}")
    out: dict[str, float] = {}
    for name in base:
        b, r = float(base[name]), float(rest[name])
        out[f"delta_{name}"] = r - b
        short = name.split("_", 1)[1] if name.count("_") >= 2 else name
        if short not in NO_RELATIVE_CHANGE and b > 1e-12 and math.isfinite(b) and math.isfinite(r):
            out[f"reldelta_{name}"] = (r - b) / b
    return out
