"""Radiomics for many patients: series + ROI files in, one result per case out, in parallel.

Local parallelism uses joblib (loky worker processes, ``n_jobs``). With ``dask_address`` the
cases go to a Dask cluster instead; ``dask.distributed`` is imported only then and is not a
dependency of watchwait. A case whose input is bad gives a result with ``error`` set (the
plain ImagingError message) instead of stopping the cohort; anything else is a bug and
propagates. All workers de-identify with the same key, so pseudonyms agree across cases.

On Dask every case ends computed or with its reason, never missing: the tasks of a worker that
dies are run again elsewhere by the scheduler (such a result carries a warning saying so); a
case whose workers die ``allowed-failures`` + 1 times (3 + 1 by default) fails with "worker
lost: ..."; when the cluster has had no worker for ``dask_timeout`` seconds the unfinished cases
fail with "worker lost: ..."; a lost scheduler fails them with "lost the connection ...". The
de-identification key is not sent to the cluster (tasks pass through the scheduler): every
worker needs the same ``WATCHWAIT_DEID_KEY`` as the caller, which is checked (by an HMAC
fingerprint) before any case runs and again by each task.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ImagingError, RadiomicsError

__all__ = ["DASK_TIMEOUT", "CohortCase", "CohortResult", "extract_cohort"]

#: Seconds to wait for a Dask scheduler to answer (and for a worker when there is none).
DASK_TIMEOUT = 10.0


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
    #: The series check (:meth:`~.series_check.SeriesCheck.to_dict`) of the loaded series: whether its radiomics
    #: may enter the model. None when the series could not be loaded.
    series_check: dict[str, Any] | None = None
    #: Where a failed case failed: "series" (loading it, or reaching the PACS) or "roi" (the ROI or the extraction).
    failed_on: str | None = None

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
    dask_timeout: float = DASK_TIMEOUT,
) -> list[CohortResult]:
    """Extract features for every case, in input order.

    ``cases``: :class:`CohortCase` objects or ``(case_id, series, roi)`` tuples. ``n_jobs``:
    worker processes (1 = in this process, -1 = one per core). ``dask_address``: a Dask
    scheduler (``"tcp://host:8786"``) to run on instead. ``deid_key``: de-identification key
    shared by all workers (default: ``WATCHWAIT_DEID_KEY``, else this process's key; on Dask the
    workers' own ``WATCHWAIT_DEID_KEY`` must equal it). ``dask_timeout``: seconds to wait for the
    scheduler to answer, for a first worker, and for any worker when all have gone.

    Raises :class:`RadiomicsError` with a plain message when the scheduler cannot be reached (no
    hang), has no workers, or its workers lack the key or run another watchwait.
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
        from .deid import KEY_ENV

        if deid_key is None and not os.environ.get(KEY_ENV):
            raise RadiomicsError("WATCHWAIT_DEID_KEY is not set here; on a Dask cluster every worker "
                                 "de-identifies with its own WATCHWAIT_DEID_KEY: set the same secret here and "
                                 "on every worker, so that pseudonyms match")
        return _on_dask(items, params_path, key, dask_address, float(dask_timeout))
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
    from .pacs import local_paths

    from .series_check import check_series

    stage, check = "series", None
    try:  # a series/ROI may be dicomweb:<Study UID>/<Series UID> (the PACS from WATCHWAIT_PACS_*; see pacs.py)
        with local_paths(case.series, case.roi, deidentifier=deid) as (series_path, roi_path, loading_deid, terms):
            series = load_series(series_path, series_uid=case.series_uid, deidentifier=loading_deid or deid)
            check = check_series(series, terms=(terms or {}).get(series.series_instance_uid, ())).to_dict()
            stage = "roi"
            roi = load_roi(roi_path, series, roi_name=case.roi_name, deidentifier=loading_deid or deid)
            result = extract_features(series, roi, params)
    except ImagingError as exc:
        return CohortResult(case.case_id, None, None, " ".join(str(exc).split()),
                            seconds=time.perf_counter() - start, series_check=check, failed_on=stage)
    return CohortResult(case.case_id, result.features, result.provenance, None,
                        series.warnings + roi.warnings, time.perf_counter() - start,
                        series.patient_pseudonym, series_check=check)


def _on_dask(items: list[CohortCase], params: str | None, key: bytes | str, address: str,
             timeout: float) -> list[CohortResult]:
    """Run the cases on the Dask scheduler at ``address``; one result per case, in input order.

    The key itself never travels: each task carries an HMAC fingerprint of it, and the worker
    de-identifies with its own ``WATCHWAIT_DEID_KEY`` after checking that it has the same key.
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise RadiomicsError("a Dask scheduler address was given but dask.distributed is not "
                             "installed; install it (pip install 'dask[distributed]') or use n_jobs") from None
    check = _key_check(key)
    _probe_scheduler(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except ValueError as exc:
        raise RadiomicsError(_not_an_address(address, exc)) from None
    except (OSError, TimeoutError):
        raise RadiomicsError(_unreachable(address, timeout)) from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise RadiomicsError(f"the Dask scheduler at {address} has no workers (waited {timeout:g} s); start "
                                 f"them on machines that can read the images: dask worker {address}") from None
        _check_workers(client, check)
        run = uuid.uuid4().hex[:12]
        keys = [f"watchwait-radiomics-{run}-{i}" for i in range(len(items))]
        sent = [_absolute(c) for c in items]  # a worker's working folder is not this one
        futures = client.map(_run_on_worker, sent, key=keys, params=params, key_check=check, pure=False)
        return _collect(client, items, futures, address, timeout)
    finally:
        client.close(timeout=timeout)


def _absolute(case: CohortCase) -> CohortCase:
    """Relative series and ROI paths that exist here made absolute (other references are left as they are)."""
    paths = {}
    for name in ("series", "roi"):
        value = Path(getattr(case, name))
        if not value.is_absolute() and value.exists():
            paths[name] = value.absolute()
    return replace(case, **paths) if paths else case


def _key_check(key: bytes | str) -> str:
    """A fingerprint of the de-identification key (shows whether two keys are equal, not the key)."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    return hmac.new(raw, b"watchwait-deid-key-check", hashlib.sha256).hexdigest()[:16]


_KEY_ADVICE = "set the same WATCHWAIT_DEID_KEY on every Dask worker as here, so that pseudonyms match"


def _worker_key_check() -> str | None:
    """On a worker: the fingerprint of its WATCHWAIT_DEID_KEY (None if unset)."""
    from .deid import KEY_ENV

    key = os.environ.get(KEY_ENV)
    return _key_check(key) if key else None


def _run_on_worker(case: CohortCase, params: str | None, key_check: str) -> CohortResult:
    """The Dask task: :func:`run_case` with the worker's own key, once it is known to be the run's key."""
    from .deid import KEY_ENV

    key = os.environ.get(KEY_ENV)
    if not key or _key_check(key) != key_check:
        state = "is not set" if not key else "is not this run's key"
        return CohortResult(case.case_id, None, None, f"the Dask worker's WATCHWAIT_DEID_KEY {state}; {_KEY_ADVICE}")
    return run_case(case, params, key, single_thread=True)


def _unreachable(address: str, timeout: float) -> str:
    return (f"cannot reach the Dask scheduler at {address} within {timeout:g} s; check that a scheduler runs "
            "there (dask scheduler, port 8786 by default) and that this machine can reach it, or run without "
            "a Dask address to compute here")


def _not_an_address(address: str, exc: Exception) -> str:
    return (f"{address!r} is not a Dask scheduler address ({' '.join(str(exc).split())}); "
            "give it as tcp://host:port, e.g. tcp://10.0.0.5:8786")


def _probe_scheduler(address: str, timeout: float) -> None:
    """Connect and shake hands once, within ``timeout`` in all (Client alone waits forever on a silent port).

    In a thread of its own, so that it works whether or not the caller runs an event loop (a notebook does).
    """
    import asyncio
    import threading

    from distributed.comm import connect

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(probe())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="watchwait-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive():
        raise RadiomicsError(_unreachable(address, timeout))
    if failure and isinstance(failure[0], ValueError):
        raise RadiomicsError(_not_an_address(address, failure[0])) from None
    if failure and isinstance(failure[0], OSError | TimeoutError | asyncio.TimeoutError):
        # refused, timed out, or something that does not speak Dask (distributed's CommClosedError is an OSError)
        raise RadiomicsError(_unreachable(address, timeout)) from None
    if failure:  # anything else is a bug: raised here, in the caller's thread
        raise failure[0]


def _check_workers(client: Any, check: str) -> None:
    """Every connected worker runs this watchwait and has the run's de-identification key."""
    from watchwait import __version__

    try:
        facts = client.run(_worker_facts)
    except ImportError as exc:
        raise RadiomicsError(f"a Dask worker cannot import watchwait ({exc}); install the same watchwait "
                             f"({__version__}) on every worker") from None
    other = sorted(f"{worker} ({version})" for worker, (version, _) in facts.items() if version != __version__)
    if other:
        raise RadiomicsError(f"Dask workers run another watchwait than this machine ({__version__}): "
                             f"{', '.join(other)}; install the same version on every worker")
    unset = sorted(worker for worker, (_, theirs) in facts.items() if theirs is None)
    wrong = sorted(worker for worker, (_, theirs) in facts.items() if theirs is not None and theirs != check)
    if unset or wrong:
        said = ([f"not set on {', '.join(unset)}"] if unset else []) + (
            [f"another key on {', '.join(wrong)}"] if wrong else [])
        raise RadiomicsError(f"the Dask workers' WATCHWAIT_DEID_KEY: {'; '.join(said)}; {_KEY_ADVICE}")


def _worker_facts() -> tuple[str, str | None]:
    from watchwait import __version__

    return __version__, _worker_key_check()


def _collect(client: Any, items: list[CohortCase], futures: list[Any], address: str,
             timeout: float) -> list[CohortResult]:
    """Wait for every case; a case is computed, or failed with its reason - never missing.

    Results are fetched as they finish (so a later loss of a worker or of the scheduler does not
    take them away). Tasks of a lost worker are run again by the scheduler (up to its
    ``allowed-failures``); a task whose workers kept dying ends as that case's "worker lost"
    error. If the cluster has no worker for ``timeout`` seconds, the unfinished cases fail with
    "worker lost" (no hang); if the scheduler goes away, with "lost the connection".
    """
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    position = {f.key: i for i, f in enumerate(futures)}
    results: dict[int, CohortResult] = {}
    no_workers_since: float | None = None
    next_look = time.monotonic() + 1.0
    while True:
        finished = [f for f in futures if f.status == "finished" and position[f.key] not in results]
        if finished:
            lost = _times_lost(client, [f.key for f in finished])
            try:
                values = client.gather(finished)
            except (OSError, TimeoutError, CancelledError):
                values = None  # the scheduler went away: these futures are cancelled now, reported below
            for future, result in zip(finished, values or ()):
                results[position[future.key]] = _note_reruns(result, lost.get(future.key, 0))
                future.release()
        # "lost": a result held by a worker that died, being computed again
        if not [f for f in futures if f.status in ("pending", "lost", "finished") and position[f.key] not in results]:
            break
        time.sleep(0.05)
        if time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + 1.0
        try:
            workers = len(client.nthreads())
        except (OSError, TimeoutError, CancelledError):
            workers = 0
        if workers:
            no_workers_since = None
        elif no_workers_since is None:
            no_workers_since = time.monotonic()
        elif time.monotonic() - no_workers_since > timeout:
            waiting = [f for f in futures if position[f.key] not in results and f.status != "error"]
            for future in waiting:
                case = items[position[future.key]]
                results[position[future.key]] = CohortResult(
                    case.case_id, None, None,
                    f"worker lost: no Dask worker was left on the scheduler at {address} for {timeout:g} s "
                    f"before case {case.case_id} was done; start workers (dask worker {address}) and run the "
                    "cohort again")
            client.cancel(waiting)

    for i, (case, future) in enumerate(zip(items, futures)):
        if i in results:
            continue
        if future.status == "error":
            exc = future.exception()
            if not isinstance(exc, KilledWorker):
                raise exc  # not the case's input (that is an error result): a bug, as on the local path
            results[i] = CohortResult(
                case.case_id, None, None,
                f"worker lost: the Dask workers running case {case.case_id} died {exc.allowed_failures + 1} "
                f"times (the scheduler's allowed-failures is {exc.allowed_failures}; last worker "
                f"{exc.last_worker.address}); the case was given up: it may exhaust a worker's memory or crash "
                "it, see the worker logs")
        else:  # cancelled: the connection to the scheduler went away
            results[i] = CohortResult(case.case_id, None, None,
                                      f"lost the connection to the Dask scheduler at {address} before case "
                                      f"{case.case_id} was done; run the cohort again when the scheduler is back")
    return [results[i] for i in range(len(items))]


def _note_reruns(result: CohortResult, lost: int) -> CohortResult:
    if not lost:
        return result
    return replace(result, warnings=(*result.warnings, f"run again on another Dask worker: the worker running it "
                                                       f"was lost ({lost} time{'s' if lost != 1 else ''})"))


def _times_lost(client: Any, keys: list[str]) -> dict[str, int]:
    """How many times each task's worker was lost while running it (the scheduler's count)."""

    def suspicious(dask_scheduler: Any, keys: list[str]) -> dict[str, int]:  # runs on the scheduler
        return {k: dask_scheduler.tasks[k].suspicious for k in keys if k in dask_scheduler.tasks}

    try:
        return client.run_on_scheduler(suspicious, keys=keys)
    except Exception:  # a scheduler that refuses to run functions: no note, the results stand
        return {}
