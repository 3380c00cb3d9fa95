"""Radiomics model columns for a cohort file: the ``mri_*`` paths in, ``radiomics_*`` columns out.

The fused predictor takes any numeric cohort column named ``radiomics_<name>`` as a feature of
its "radiomics" modality (:func:`watchwait.features.radiomics_features`). This module fills a
small, fixed set of such columns from the images a cohort file points to, so that every model
trained on imaging sees the same columns, named after pyradiomics' own features:

====================================================  ===================================
feature (pyradiomics name)                            what it measures here
====================================================  ===================================
``original_shape_VoxelVolume``                        tumour volume (mm3): shrinkage
``original_firstorder_Mean``                          mean T2 signal (image z-scored x100):
                                                      fibrosis is darker than tumour
``original_firstorder_InterquartileRange``            spread of the signal in the ROI
``original_glcm_JointEntropy``                        co-occurrence texture heterogeneity
``original_glszm_SizeZoneNonUniformityNormalized``    how uneven the sizes of uniform zones
                                                      are (zone heterogeneity)
====================================================  ===================================

Each feature gives three columns (:data:`MODEL_COLUMNS`, 15 in all):
``radiomics_baseline_<feature>``, ``radiomics_restaging_<feature>`` and
``radiomics_delta_<feature>`` = restaging - baseline (as in
:func:`watchwait.imaging.radiomics.delta_features`). Intensity features are comparable between
visits because the parameter file (``params/watchwait_mr_v1.yaml``) z-scores each image first.
Why these five: one per aspect a radiologist reads on restaging T2 (size, signal, spread,
texture, zone structure), from different pyradiomics classes, and each informative on its own
on the synthetic cohort (``benchmarks/bench_imaging_signal.py`` prints their AUCs).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ImagingError
from .series_check import KEPT_OUT_COLUMN, MODEL_IMAGES, SeriesCheck, check_series, kept_out_cell

__all__ = [
    "FEATURES",
    "MODEL_COLUMNS",
    "PHASES",
    "ImagingRowsError",
    "RowFailure",
    "radiomics_columns",
]

FEATURES: tuple[str, ...] = (
    "original_shape_VoxelVolume",
    "original_firstorder_Mean",
    "original_firstorder_InterquartileRange",
    "original_glcm_JointEntropy",
    "original_glszm_SizeZoneNonUniformityNormalized",
)
PHASES: tuple[str, ...] = ("baseline", "restaging", "delta")
MODEL_COLUMNS: tuple[str, ...] = tuple(f"radiomics_{phase}_{f}" for phase in PHASES for f in FEATURES)
VISITS: tuple[str, ...] = ("baseline", "restaging")


@dataclass(frozen=True)
class RowFailure:
    """Why one visit of one cohort row gave no features."""

    row: int  # spreadsheet numbering: header = row 1, first patient = row 2
    patient_id: str
    column: str  # the mri_* column whose file is at fault
    path: str  # the cell's value, as written in the cohort file
    reason: str  # the imaging library's message ("<file>: <what is wrong>") or a path problem

    def __str__(self) -> str:
        return f"row {self.row}, patient {self.patient_id}, {self.column} '{self.path}': {self.reason}"


class ImagingRowsError(ImagingError):
    """Imaging failed for some rows of a cohort; ``failures`` lists every one of them."""

    def __init__(self, failures: list[RowFailure]):
        self.failures = tuple(failures)
        n = len(self.failures)
        rows = len({f.row for f in self.failures})
        shown = "\n".join(f"  - {f}" for f in self.failures[:50])
        more = f"\n  ... and {n - 50} more" if n > 50 else ""
        super().__init__(f"imaging could not be used for {rows} row{'s' if rows != 1 else ''} of the cohort "
                         f"({n} problem{'s' if n != 1 else ''}); no radiomics columns were computed:\n"
                         f"{shown}{more}")


def radiomics_columns(frame: pd.DataFrame, base_dir: str | Path, n_jobs: int = 1, *,
                      params: str | Path | None = None, dask_address: str | None = None) -> pd.DataFrame:
    """The :data:`MODEL_COLUMNS` (float64) and :data:`~.series_check.KEPT_OUT_COLUMN` (text) for every row of a
    cohort frame (same index).

    ``frame``: a cohort file frame with ``patient_id`` and the data dictionary's
    ``mri_baseline_dir``, ``mri_baseline_roi``, ``mri_restaging_dir``, ``mri_restaging_roi``
    (absent columns count as blank). ``base_dir``: the folder of the cohort file. Relative paths
    are resolved against it; paths that leave it (``../images/...``) and absolute paths are
    followed as they are, because hospital layouts often keep images outside the cohort
    folder - a caller that must confine reads to one folder has to check the paths itself.
    ``n_jobs``: worker processes (joblib; -1 = one per core). ``params``: pyradiomics parameter
    file (default: the project's ``watchwait_mr_v1.yaml``). ``dask_address``: run the visits on that Dask
    scheduler instead (:func:`watchwait.imaging.cohort.extract_cohort`: every worker needs the same
    ``WATCHWAIT_DEID_KEY`` as here and must read the paths; a visit whose worker kept dying is reported for its
    row like any other failure).

    A visit with both its series and its ROI gives that visit's columns; the delta columns
    need both visits. Rows without imaging (all four blank) get NaN. Any problem - a series or
    ROI path given without the other, a file that does not exist, a file that cannot be read,
    a ROI that does not fit its series, a ROI pyradiomics refuses - is collected for every row,
    and then one :class:`ImagingRowsError` lists them all (row, patient, column, file, what is
    wrong); nothing is returned partially.

    Every series is checked first (:func:`watchwait.imaging.series_check.check_series`): one that is not the
    model's kind of image (T1-weighted, sagittal, another body part, ...), or whose headers cannot settle it, gives
    no columns (its visit's and the delta columns stay blank; its ROI is not read) and is not a failure: the row's
    ``imaging_kept_out`` cell says why in plain words ("baseline MRI kept out of the model: T1-weighted (...),
    not T2"; several visits separated by " | "; :func:`~.series_check.kept_out_reasons` gives the list), and the
    provenance's ``kept_out`` holds each check (decision, reasons, facts read). A cohort file has no clinician to
    confirm an unsettled series, so it is kept out.

    ``result.attrs["provenance"]`` holds the parameter file name and sha256, the library
    versions, the column definitions and, per patient and visit, the sha256 of the image and
    mask arrays that were measured.
    """
    from . import radiomics as rad
    from .deid import default_deidentifier

    params_path = rad._resolve(params).resolve()
    base = Path(base_dir)
    ids = (frame["patient_id"].astype(str).tolist() if "patient_id" in frame.columns
           else [f"(row {i + 2})" for i in range(len(frame))])
    failures: list[RowFailure] = []
    jobs: list[tuple[int, str, str, str]] = []  # position, visit, series path, roi path
    for pos in range(len(frame)):
        for visit in VISITS:
            job = _visit_job(frame, pos, ids[pos], visit, base, failures)
            if job is not None:
                jobs.append((pos, visit, *job))

    key = default_deidentifier().key
    start = time.perf_counter()
    if dask_address is not None:
        results = _on_dask(jobs, str(params_path), key, dask_address)
    elif n_jobs == 1 or len(jobs) <= 1:
        results = [_extract_visit(s, r, str(params_path), key) for _, _, s, r in jobs]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky", batch_size=4)(
            delayed(_extract_visit)(s, r, str(params_path), key, True) for _, _, s, r in jobs)
    seconds = time.perf_counter() - start

    values = np.full((len(frame), len(MODEL_COLUMNS)), np.nan)
    per_case: dict[str, dict[str, Any]] = {}
    versions: dict[str, Any] = {}
    found: dict[tuple[int, str], dict[str, float]] = {}
    checks: dict[int, dict[str, SeriesCheck]] = {}
    for (pos, visit, _, _), (features, provenance, column, reason, check) in zip(jobs, results):
        if reason is not None:
            name = f"mri_{visit}_{column}"
            failures.append(RowFailure(pos + 2, ids[pos], name, _cell(frame, pos, name), reason))
            continue
        case = per_case.setdefault(ids[pos], {})
        if check is not None and check.fit_for_model is not True:  # kept out of the model, with the reasons
            checks.setdefault(pos, {})[visit] = check
            case[visit] = {"used_by_model": False, "series_check": check.to_dict(),
                           **{k: provenance[k] for k in _CASE_KEYS if k in provenance}}
            continue
        found[(pos, visit)] = features
        case[visit] = {"used_by_model": True, **{k: provenance[k] for k in _CASE_KEYS if k in provenance}}
        if check is not None:
            case[visit]["series_check"] = check.to_dict()
        versions = {k: provenance[k] for k in _VERSION_KEYS if k in provenance}
    if failures:
        raise ImagingRowsError(sorted(failures, key=lambda f: (f.row, f.column)))

    for (pos, visit), features in found.items():
        for j, name in enumerate(FEATURES):
            values[pos, PHASES.index(visit) * len(FEATURES) + j] = features[name]
    for pos in {p for p, _ in found}:
        if (pos, "baseline") in found and (pos, "restaging") in found:
            delta = rad.delta_features(found[(pos, "baseline")], found[(pos, "restaging")])
            for j, name in enumerate(FEATURES):
                values[pos, 2 * len(FEATURES) + j] = delta[f"delta_{name}"]

    out = pd.DataFrame(values, index=frame.index, columns=list(MODEL_COLUMNS))
    out[KEPT_OUT_COLUMN] = [kept_out_cell(checks.get(pos, {})) for pos in range(len(frame))]
    out.attrs["provenance"] = {
        "params_file": params_path.name,
        "params_sha256": hashlib.sha256(params_path.read_bytes()).hexdigest(),
        **(versions or _library_versions()),
        "features": list(FEATURES),
        "columns": list(MODEL_COLUMNS),
        "delta": "restaging - baseline",
        "cases": per_case,
        "visits_extracted": len(found),
        "kept_out": {ids[pos]: {visit: c.to_dict() for visit, c in by_visit.items()} for pos, by_visit in checks.items()},
        "kept_out_column": KEPT_OUT_COLUMN,
        "series_check": ("series checked against the model's images (" + MODEL_IMAGES + ") before radiomics: "
                         "a series not fit, or not settled by its headers, gives no radiomics columns"),
        "extraction_seconds": round(seconds, 3),
    }
    return out


_CASE_KEYS = ("image_sha256", "mask_sha256", "image_shape_zyx", "spacing_zyx_mm", "series_instance_uid")
_VERSION_KEYS = ("pyradiomics", "numpy", "SimpleITK", "pydicom", "python")


def _library_versions() -> dict[str, str]:
    import platform

    import pydicom
    import radiomics
    import SimpleITK as sitk

    return {"pyradiomics": str(radiomics.__version__), "numpy": np.__version__,
            "SimpleITK": sitk.Version_VersionString(), "pydicom": pydicom.__version__,
            "python": platform.python_version()}


def _cell(frame: pd.DataFrame, pos: int, column: str) -> str:
    if column not in frame.columns:
        return ""
    value = frame[column].iat[pos]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _visit_job(frame: pd.DataFrame, pos: int, patient_id: str, visit: str, base: Path,
               failures: list[RowFailure]) -> tuple[str, str] | None:
    """The (series, roi) absolute paths of one visit, None when the visit has no imaging or a path problem."""
    cells = {kind: _cell(frame, pos, f"mri_{visit}_{kind}") for kind in ("dir", "roi")}
    if not any(cells.values()):
        return None
    for kind, other in (("dir", "roi"), ("roi", "dir")):
        if not cells[kind]:
            failures.append(RowFailure(pos + 2, patient_id, f"mri_{visit}_{kind}", "",
                                       f"blank while mri_{visit}_{other} is given; a visit needs both "
                                       "the series folder and its tumour ROI"))
            return None
    paths = {}
    for kind, value in cells.items():
        if str(value).strip().lower().startswith("dicomweb:"):  # a series on the hospital's PACS (issue 18)
            from .pacs import PacsError, parse_reference

            try:
                parse_reference(value)
            except PacsError as exc:
                failures.append(RowFailure(pos + 2, patient_id, f"mri_{visit}_{kind}", value, str(exc)))
            else:
                paths[kind] = str(value).strip()
            continue
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            failures.append(RowFailure(pos + 2, patient_id, f"mri_{visit}_{kind}", value,
                                       f"not found (looked for {os.path.normpath(path)})"))
        elif kind == "roi" and not path.is_file():
            failures.append(RowFailure(pos + 2, patient_id, f"mri_{visit}_{kind}", value,
                                       "is a folder; the ROI must be one file (DICOM SEG, RTSTRUCT or NIfTI)"))
        else:
            paths[kind] = str(path)
    if len(paths) < 2:
        return None
    return paths["dir"], paths["roi"]


def _on_dask(jobs: list[tuple[int, str, str, str]], params: str, key: bytes | str, address: str) -> list[tuple]:
    """The visits on a Dask cluster (:func:`watchwait.imaging.cohort.extract_cohort`), as :func:`_extract_visit`'s
    tuples. A series the check keeps out gives its facts, not its features (its ROI was measured on the worker,
    and is dropped here), as on a local run."""
    from .cohort import CohortCase, extract_cohort
    from .series_check import SeriesCheck

    cases = [CohortCase(f"{pos}:{visit}", s, r) for pos, visit, s, r in jobs]
    out: list[tuple] = []
    for result in extract_cohort(cases, params, dask_address=address, deid_key=key):
        raw = result.series_check
        check = None if raw is None else SeriesCheck(raw["fit_for_model"], list(raw["reasons"]), list(raw["notes"]),
                                                     dict(raw["facts"]))
        if check is not None and check.fit_for_model is not True:
            facts = result.provenance or {}
            out.append((None, {k: facts[k] for k in ("series_instance_uid", "image_shape_zyx", "spacing_zyx_mm")
                               if k in facts}, None, None, check))
        elif result.error is not None:
            out.append((None, None, "dir" if result.failed_on in (None, "series") else "roi", result.error, None))
        else:
            out.append(_measured(result.features, result.provenance, params, check))
    return out


def _extract_visit(series_path: str, roi_path: str, params: str, deid_key: bytes | str,
                   single_thread: bool = False) -> tuple[dict[str, float] | None, dict[str, Any] | None,
                                                         str | None, str | None, SeriesCheck | None]:
    """Load, check, mask and measure one visit: (features, provenance, None, None, check), or
    (None, {series facts}, None, None, check) for a series the check keeps out of the model (not fit, or not
    settled by its headers: no ROI is read, nothing measured), or (None, None, column, reason, None).

    ``column`` is ``"dir"`` when the series is at fault, ``"roi"`` for the ROI or the extraction
    on it. Only :class:`ImagingError` is an input problem; anything else is a bug and propagates. A
    ``dicomweb:<study>/<series>`` series (and ROI) is retrieved from the PACS of ``WATCHWAIT_PACS_*`` first.
    """
    from .deid import Deidentifier

    if single_thread:  # several worker processes share the cores: no nested threading
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    from .pacs import local_paths

    deid = Deidentifier(deid_key)
    try:  # a dicomweb: reference is retrieved (with its ROI) into a private folder, deleted on leaving
        with local_paths(series_path, roi_path, deidentifier=deid) as (series_path, roi_path, loaded_deid, terms):
            return _measure_visit(series_path, roi_path, params, loaded_deid or deid, terms)
    except ImagingError as exc:  # the PACS (down, refused, nothing found): the series is at fault
        return None, None, "dir", " ".join(str(exc).split()), None


def _measure_visit(series_path: str, roi_path: str, params: str, deid, terms) -> tuple:
    """:func:`_extract_visit` on local files; ``terms``: description words read before de-identification (PACS)."""
    from .dicom_io import load_series
    from .radiomics import extract_features
    from .roi import load_roi

    try:
        series = load_series(series_path, deidentifier=deid)
    except ImagingError as exc:
        return None, None, "dir", " ".join(str(exc).split()), None
    check = check_series(series, terms=(terms or {}).get(series.series_instance_uid, ()))
    if check.fit_for_model is not True:
        return None, {"series_instance_uid": series.series_instance_uid,
                      "image_shape_zyx": list(series.shape),
                      "spacing_zyx_mm": [float(v) for v in series.spacing]}, None, None, check
    try:
        roi = load_roi(roi_path, series, deidentifier=deid)
        result = extract_features(series, roi, params)
    except ImagingError as exc:
        return None, None, "roi", " ".join(str(exc).split()), None
    return _measured(result.features, result.provenance, params, check)


def _measured(features: dict, provenance: dict, params: str, check: SeriesCheck | None) -> tuple:
    """:func:`_extract_visit`'s tuple for a measured visit: the model's features, or the parameter file's fault."""
    missing = [f for f in FEATURES if f not in features]
    if missing:
        return None, None, "roi", (f"{Path(params).name}: the parameter file does not compute {missing}; "
                                   "radiomics_columns needs them"), None
    return {f: float(features[f]) for f in FEATURES}, provenance, None, None, check
