"""Benchmark: the hospital's PACS over DICOMweb (watchwait.imaging.pacs) against a local Orthanc.

    .venv/bin/python benchmarks/bench_pacs.py [--slices 100] [--size 512] [--repeat 5]

Starts Debian's Orthanc with its DICOMweb plugin (tests/pacs/orthanc_server.py: loopback, basic auth), stores the
test files (../shared/testdata STS_025 T1 + RTSTRUCT, highdicom CT + SEGs, DEMO-01's two visits) and one larger
synthetic axial MR series (``--slices`` x ``--size`` x ``--size``, 16 bits, written as benchmarks/
bench_imaging_memory.py writes it), then measures:

* search (QIDO-RS ``search_studies``) and series list (``list_series``: QIDO + one WADO-RS metadata request per
  series for the series check, + the ROI objects' metadata), median of ``--repeat`` runs;
* retrieval (``retrieve_series``: WADO-RS streamed instance by instance into ingest's de-identification, each
  de-identified data set written to a private folder, plus the tumour ROI when one refers to the series): wall
  time per series and per image, median of ``--repeat`` runs;
* peak memory of one retrieval, each in a fresh process after a warm-up retrieval (and read) of DEMO-01's
  baseline: tracemalloc's peak (Python and numpy allocations) and the peak RSS growth (``ru_maxrss``), both
  against the series size (the bytes retrieved); and of retrieval followed by ``load_series`` of what was stored
  (the screen's path) against the int16 volume read.

Nothing is asserted. Orthanc runs on the same machine: the network is loopback, so the times are the client's and
Orthanc's own work, not a hospital network's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pacs"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_imaging_memory import write_series  # noqa: E402
from orthanc_server import _request, start_orthanc, stop_orthanc  # noqa: E402

MiB = 1024**2

PROBE = r"""
import gc, json, resource, sys, tempfile, time, tracemalloc
from pathlib import Path
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.pacs import AlreadyDeidentified, PacsConfig, retrieve_series

config = PacsConfig.from_env()
warm_study, warm_series, study, series, traced, load = sys.argv[1:7]
scratch = Path(tempfile.mkdtemp())
warm = retrieve_series(config, warm_study, warm_series, scratch / "warm")  # imports, sessions, pydicom's dictionaries
load_series(warm.series_path, deidentifier=AlreadyDeidentified())
gc.collect()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if traced == "1":
    tracemalloc.start()
start = time.perf_counter()
got = retrieve_series(config, study, series, scratch / "got")
volume = 0
if load == "1":  # the screen's path: then the series is read from the private folder
    volume = load_series(got.series_path, deidentifier=AlreadyDeidentified()).array.nbytes
seconds = time.perf_counter() - start
peak = (tracemalloc.get_traced_memory()[1] if traced == "1"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)
print(json.dumps({"peak": peak, "seconds": seconds, "n_images": got.n_images, "n_bytes": got.n_bytes,
                  "volume": volume}))
"""


def probe(env: dict, warm: tuple[str, str], target: tuple[str, str], traced: bool, load: bool = False) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *warm, *target, "1" if traced else "0", "1" if load else "0"],
                          capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from watchwait.imaging.pacs import PacsConfig, list_series, retrieve_series, search_studies

    work = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    server = start_orthanc(work / "orthanc")
    try:
        synthetic = work / "synthetic"
        voxels = write_series(synthetic, (args.slices, args.size, args.size))
        for path in sorted(synthetic.iterdir()):
            _request(f"{server.base}/instances", path.read_bytes(), timeout=60)
        config = PacsConfig.from_mapping(server.config)
        print(f"Orthanc {server.base} (loopback), dicomweb-client; median of {args.repeat} runs\n")
        print("| search | studies | time (ms) |")
        print("|---|---|---|")
        for query, by in (("DEMO-01", "patient_id"), ("STS_025", "patient_id"), ("1965292013600439", "accession"),
                          ("BENCH-0001", "patient_id")):
            found = search_studies(config, query, by=by)
            t = median_seconds(lambda: search_studies(config, query, by=by), args.repeat)
            print(f"| {by} {query} | {len(found)} | {t * 1000:.1f} |")
        print("\n| series list (study of) | image series | time (ms) |")
        print("|---|---|---|")
        targets = {}
        for query in ("DEMO-01", "STS_025", "BENCH-0001"):
            study = search_studies(config, query)[0]
            series = list_series(config, study)
            t = median_seconds(lambda: list_series(config, study), args.repeat)
            print(f"| {query} | {len(series)} | {t * 1000:.1f} |")
            for s in series:
                name = f"{query} {s.description or s.modality}"
                targets[name] = (s.study_uid, s.series_uid, s.n_images, bool(s.rois))
        print("\n| retrieval (series) | images | + ROI | MiB retrieved | time (s) | per image (ms) |")
        print("|---|---|---|---|---|---|")
        for name, (study_uid, series_uid, n, roi) in targets.items():
            runs = []
            for i in range(args.repeat):
                dest = work / f"r-{len(runs)}-{time.monotonic_ns()}"
                got = retrieve_series(config, study_uid, series_uid, dest)
                runs.append((got.seconds, got.n_bytes))
            t = statistics.median(r[0] for r in runs)
            print(f"| {name} | {n} | {'yes' if roi else 'no'} | {runs[0][1] / MiB:.2f} | {t:.3f} | "
                  f"{t / n * 1000:.1f} |")
        warm = next((v[0], v[1]) for k, v in targets.items() if k.startswith("DEMO-01") and "baseline" in k)
        print("\n| peak memory of one retrieval | MiB retrieved | tracemalloc peak (MiB) | ratio | RSS growth (MiB) | "
              "ratio |")
        print("|---|---|---|---|---|---|")
        for name, (study_uid, series_uid, _, _) in targets.items():
            if not (name.startswith("STS_025") or name.startswith("BENCH")):
                continue
            traced = probe(server.env, warm, (study_uid, series_uid), True)
            rss = probe(server.env, warm, (study_uid, series_uid), False)
            size = traced["n_bytes"]
            print(f"| {name} | {size / MiB:.2f} | {traced['peak'] / MiB:.2f} | {traced['peak'] / size:.3f} | "
                  f"{rss['peak'] / MiB:.2f} | {rss['peak'] / size:.3f} |")
        print("\n| retrieval + load_series (the screen's path) | volume (MiB) | tracemalloc peak (MiB) | ratio | "
              "RSS growth (MiB) | ratio |")
        print("|---|---|---|---|---|---|")
        for name, (study_uid, series_uid, _, _) in targets.items():
            if not name.startswith("BENCH"):
                continue
            traced = probe(server.env, warm, (study_uid, series_uid), True, load=True)
            rss = probe(server.env, warm, (study_uid, series_uid), False, load=True)
            size = traced["volume"]
            print(f"| {name} | {size / MiB:.2f} | {traced['peak'] / MiB:.2f} | {traced['peak'] / size:.3f} | "
                  f"{rss['peak'] / MiB:.2f} | {rss['peak'] / size:.3f} |")
        print(f"\nSynthetic series: {args.slices} x {args.size} x {args.size}, int16 volume "
              f"{voxels * 2 / MiB:.1f} MiB. Ratio = peak / bytes retrieved (the upload path's target: 1.5).")
    finally:
        stop_orthanc(server)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
