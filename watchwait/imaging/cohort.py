"""Radiomics for many patients: series + ROI files in, one result per case out, in parallel.

Local parallelism uses joblib (loky worker processes, ``n_jobs``). With ``dask_address`` the
cases go to a Dask cluster instead; ``dask.distributed`` is imported only then and is not a
dependency of watchwait. A case whose input is bad gives a result with ``error`` set (the
plain ImagingError message) instead of stopping the cohort; anything else is a bug and
propagates. All workers de-identify with the same key, so pseudonyms agree across cases.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ImagingError, RadiomicsError

__all__ = ["CohortCase", "CohortResult", "extract_cohort"]


@dataclass(frozen=True)
class CohortCase:
    """One extraction: a series (folder, file or .zip) and its ROI file."""

    case_id: str
    series: str | Path
    roi: str | Path
    roi_name: str | None = None
    series_uid: str | None = None


@dataclass(frozen=True)
class CohortResult:
    """Features (or the reason there are none) for one case."""

    case_id: str
    features: dict[str, float] | None
    provenance: dict[str, Any] | None
    error: str | None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    patient_pseudonym: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.error is None


def extract_cohort(
    cases: Iterable[CohortCase | Sequence[Any]],
    params: str | Path | None = None,
    *,
    n_jobs: int = 1,
    dask_address: str | None = None,
    deid_key: bytes | str | None = None,
) -> list[CohortResult]:
    """Extract features for every case, in input order.

    ``cases``: :class:`CohortCase` objects or ``(case_id, series, roi)`` tuples. ``n_jobs``:
    worker processes (1 = in this process, -1 = one per core). ``dask_address``: a Dask
    scheduler (``"tcp://host:8786"``) to run on instead. ``deid_key``: de-identification key
    shared by all workers (default: ``WATCHWAIT_DEID_KEY``, else this process's key).
    """
    from .deid import default_deidentifier

    items = [c if isinstance(c, CohortCase) else CohortCase(*c) for c in cases]
    ids = [c.case_id for c in items]
    if len(set(ids)) != len(ids):
        raise ImagingError("case_id must be unique in a cohort; duplicated: "
                           f"{sorted({i for i in ids if ids.count(i) > 1})}")
    key = deid_key if deid_key is not None else default_deidentifier().key
    params_path = str(Path(params).resolve()) if params is not None else None
    if dask_address is not None:
        return _on_dask(items, params_path, key, dask_address)
    if n_jobs == 1 or len(items) <= 1:
        return [run_case(c, params_path, key) for c in items]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(run_case)(c, params_path, key, single_thread=True) for c in items)


def run_case(case: CohortCase, params: str | None, deid_key: bytes | str,
             single_thread: bool = False) -> CohortResult:
    """Load, mask and extract one case (the unit of work sent to a worker)."""
    from .deid import Deidentifier
    from .dicom_io import load_series
    from .radiomics import extract_features
    from .roi import load_roi

    if single_thread:  # several worker processes share the cores: no nested threading
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    start = time.perf_counter()
    deid = Deidentifier(deid_key)
    try:
        series = load_series(case.series, series_uid=case.series_uid, deidentifier=deid)
        roi = load_roi(case.roi, series, roi_name=case.roi_name, deidentifier=deid)
        result = extract_features(series, roi, params)
    except ImagingError as exc:
        return CohortResult(case.case_id, None, None, " ".join(str(exc).split()),
                            seconds=time.perf_counter() - start)
    return CohortResult(case.case_id, result.features, result.provenance, None,
                        series.warnings + roi.warnings, time.perf_counter() - start,
                        series.patient_pseudonym)


def _on_dask(items: list[CohortCase], params: str | None, key: bytes | str,
             address: str) -> list[CohortResult]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise RadiomicsError("a Dask scheduler address was given but dask.distributed is not "
                             "installed; install it (pip install 'dask[distributed]') or use n_jobs") from None
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise RadiomicsError(f"cannot connect to the Dask scheduler at {address} ({exc})") from None
    try:
        futures = client.map(run_case, items, params=params, deid_key=key, single_thread=True, pure=False)
        return list(client.gather(futures))
    finally:
        client.close()
