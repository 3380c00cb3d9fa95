"""Benchmark: DICOM files to radiomic features, and cohort throughput.

    .venv/bin/python benchmarks/bench_radiomics.py [--runs 7] [--cohort 20] [--jobs 2]

(a) Files -> features for a 25-slice series: the real STS_025 T1 series with its RTSTRUCT
    (../shared/testdata) and a synthetic 25 x 64 x 64 series with a DICOM SEG. Median of
    ``--runs`` warm runs of load_series + load_roi + extract_features, next to a plain
    pyradiomics call (extractor.execute) on the same arrays in the same process, and the ratio.
(b) Cohort throughput: ``--cohort`` synthetic series (+ SEG) through extract_cohort on
    ``--jobs`` worker processes, first call (worker start-up included) and a second, warm call;
    one worker in-process for comparison.

Prints a markdown table. Nothing is asserted: timings depend on the machine.
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

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from watchwait.imaging.dicom_io import load_series  # noqa: E402
from watchwait.imaging.radiomics import DEFAULT_PARAMS, CohortCase, extract_cohort, extract_features  # noqa: E402
from watchwait.imaging.roi import load_roi  # noqa: E402
from watchwait.imaging.synthetic import synth_pair, write_seg, write_series  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
STS = TESTDATA / "mr" / "sts_025_t1" / "dicom"


def _median_time(fn, runs: int) -> tuple[float, object]:
    result = fn()  # warm-up (imports, extractor validation, file cache)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def files_to_features(label: str, series_path: Path, roi_path: Path, runs: int) -> dict[str, object]:
    """Median warm time of the full path, and of plain pyradiomics on the same arrays."""
    from radiomics import featureextractor

    def full():
        series = load_series(series_path)
        roi = load_roi(roi_path, series)
        return series, roi, extract_features(series, roi)

    t_full, (series, roi, _) = _median_time(full, runs)
    t_read, _ = _median_time(lambda: load_series(series_path), runs)
    t_roi, _ = _median_time(lambda: load_roi(roi_path, series), runs)
    image = series.to_sitk()
    mask = sitk.GetImageFromArray(roi.mask.astype(np.uint8))
    mask.CopyInformation(image)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(DEFAULT_PARAMS))
    t_plain, _ = _median_time(lambda: extractor.execute(image, mask), runs)
    return {"case": label, "shape": "x".join(map(str, series.shape)), "voxels": roi.voxel_count,
            "read": t_read, "roi": t_roi, "full": t_full, "plain": t_plain}


def write_synthetic(folder: Path, n: int, seed: int = 1) -> list[CohortCase]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        pair = synth_pair(rng.normal(0, 1.2), rng, shape=(25, 64, 64))
        series = folder / f"case{i:02d}" / "series"
        write_series(pair["restaging_image"], pair["spacing"], series, "T2 AX synthetic", rng,
                     patient_pseudonym=f"WW-BENCH-{i:02d}")
        write_seg(pair["restaging_mask"], series, folder / f"case{i:02d}" / "seg.dcm")
        cases.append(CohortCase(f"case{i:02d}", series, folder / f"case{i:02d}" / "seg.dcm"))
    return cases


def cohort_throughput(cases: list[CohortCase], jobs: int) -> list[tuple[str, float]]:
    rows = []
    for label, n_jobs in [(f"{jobs} workers, first call (start-up included)", jobs),
                          (f"{jobs} workers, warm", jobs), ("1 worker (in-process)", 1)]:
        start = time.perf_counter()
        results = extract_cohort(cases, n_jobs=n_jobs, deid_key=b"bench")
        elapsed = time.perf_counter() - start
        failed = [r.case_id for r in results if not r.ok]
        if failed:
            raise SystemExit(f"cohort cases failed: {failed}")
        rows.append((label, elapsed))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="warm runs per timing (median)")
    parser.add_argument("--cohort", type=int, default=20, help="synthetic series in the cohort run")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the cohort run")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    import radiomics

    print(f"machine: {os.cpu_count()} CPU, Python {platform.python_version()}, pyradiomics "
          f"{radiomics.__version__}, SimpleITK {sitk.Version_VersionString()}, numpy {np.__version__}; "
          f"params {DEFAULT_PARAMS.name}; median of {args.runs} warm runs\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if STS.is_dir():
            rows.append(files_to_features("STS_025 T1 + RTSTRUCT", STS / "image", STS / "mask" / "RS.dcm", args.runs))
        else:
            print(f"(skipped STS_025: {STS} not found)\n")
        synthetic = write_synthetic(tmp / "one", 1, seed=7)[0]
        rows.append(files_to_features("synthetic T2 + SEG", Path(synthetic.series), Path(synthetic.roi), args.runs))

        print("## (a) files to features, 25-slice series\n")
        print("| series | shape (z x y x x) | ROI voxels | read+de-id (s) | ROI (s) | files -> features (s) "
              "| plain pyradiomics (s) | ratio |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['case']} | {r['shape']} | {r['voxels']} | {r['read']:.3f} | {r['roi']:.3f} | "
                  f"{r['full']:.3f} | {r['plain']:.3f} | {r['full'] / r['plain']:.2f} |")

        cases = write_synthetic(tmp / "cohort", args.cohort, seed=11)
        print(f"\n## (b) cohort extraction, {len(cases)} synthetic 25 x 64 x 64 series + SEG\n")
        print("| run | wall time (s) | series / s |")
        print("|---|---:|---:|")
        for label, elapsed in cohort_throughput(cases, args.jobs):
            print(f"| {label} | {elapsed:.2f} | {len(cases) / elapsed:.2f} |")


if __name__ == "__main__":
    main()
