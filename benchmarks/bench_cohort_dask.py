"""Benchmark: cohort radiomics throughput, locally (joblib) and on a local Dask cluster.

    .venv/bin/python benchmarks/bench_cohort_dask.py [--patients 16] [--runs 3]

``--patients`` synthetic patients with a baseline and a restaging series each (12 x 48 x 48 T2
with a DICOM SEG, :func:`watchwait.imaging.cohort_images.write_cohort_images`: the series a
simulated cohort file points to), so 2 x patients series, extracted three ways:

* ``n_jobs=1``: one process;
* ``n_jobs=2``: joblib, two loky worker processes;
* Dask: a ``distributed.LocalCluster`` on 127.0.0.1, a scheduler and two worker processes of one
  thread each, through ``extract_cohort(dask_address=...)``.

Each way gets one warm-up call on two series (imports, worker start; not timed), then ``--runs``
timed calls on the whole cohort; the median wall time gives series per minute. Cluster start-up
is not timed (a site's cluster is already running). The Dask results are checked to be exactly
the local ones. Prints a markdown table. Nothing is asserted about speed: it depends on the
machine (on 2 cores, two Dask workers cannot beat two local jobs: same processes, plus the
scheduler's round trips).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchwait.imaging.cohort import CohortCase, extract_cohort  # noqa: E402
from watchwait.imaging.cohort_images import SERIES_SHAPE, write_cohort_images  # noqa: E402
from watchwait.sim import simulate  # noqa: E402

KEY = "bench-cohort-dask"


def cohort_cases(folder: Path, patients: int) -> list[CohortCase]:
    """Synthetic images for ``patients`` simulated patients; one case per visit, from the mri_* cells."""
    truth = simulate(patients, seed=18, with_oracle=False).truth[["patient_id", "latent_score"]]
    cells = write_cohort_images(truth, folder / "imaging", share=1.0, seed=5, base_dir=folder, n_jobs=2)
    return [CohortCase(f"{row.patient_id}:{visit}", folder / row[f"mri_{visit}_dir"], folder / row[f"mri_{visit}_roi"])
            for _, row in cells.iterrows() for visit in ("baseline", "restaging")]


def timed(run, cases: list[CohortCase], runs: int) -> tuple[float, list]:
    run(cases[:2])  # warm-up: imports, worker processes
    times, results = [], []
    for _ in range(runs):
        start = time.perf_counter()
        results = run(cases)
        times.append(time.perf_counter() - start)
    failed = [r.case_id for r in results if not r.ok]
    if failed:
        raise SystemExit(f"cases failed: {failed}")
    return statistics.median(times), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=16, help="synthetic patients (2 series each)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per way (median)")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    os.environ["WATCHWAIT_DEID_KEY"] = KEY  # the Dask workers inherit it, as a site sets it on every worker
    import dask
    import distributed
    from distributed import LocalCluster

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cases = cohort_cases(Path(tmp), args.patients)
        rows = []
        local, local_results = timed(lambda c: extract_cohort(c, n_jobs=1, deid_key=KEY), cases, args.runs)
        rows.append(("local, n_jobs=1 (one process)", local))
        joblib2, _ = timed(lambda c: extract_cohort(c, n_jobs=2, deid_key=KEY), cases, args.runs)
        rows.append(("local, n_jobs=2 (joblib, 2 processes)", joblib2))
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address="127.0.0.1:0") as cluster:
            address = cluster.scheduler_address
            on_dask, dask_results = timed(lambda c: extract_cohort(c, dask_address=address, deid_key=KEY),
                                          cases, args.runs)
        rows.append(("Dask, LocalCluster: 2 workers x 1 thread", on_dask))
        same = all(a.case_id == b.case_id and a.features == b.features and a.patient_pseudonym == b.patient_pseudonym
                   for a, b in zip(local_results, dask_results)) and len(local_results) == len(dask_results)
        if not same:
            raise SystemExit("the Dask run differs from the local run")

    print(f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}, dask {dask.__version__}, "
          f"distributed {distributed.__version__}; {args.patients} patients x 2 visits = {len(cases)} series of "
          f"{' x '.join(map(str, SERIES_SHAPE))} with a SEG; median of {args.runs} timed runs after a warm-up; "
          f"Dask results identical to n_jobs=1: yes; load average (1 min) {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (other processes share the cores when it is above 0)\n")
    print("| way | wall time (s) | series / min | vs n_jobs=1 |")
    print("|---|---:|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {60 * len(cases) / seconds:.0f} | {local / seconds:.2f}x |")


if __name__ == "__main__":
    main()
