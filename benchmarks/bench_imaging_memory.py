"""Benchmark: peak memory of reading a DICOM MR series, against the size of the series itself.

    .venv/bin/python benchmarks/bench_imaging_memory.py [--slices 100] [--size 512] [--workdir DIR]
                                                        [--code ROOT] [--no-radiomics]

Writes a synthetic axial MR series as real DICOM with pydicom (``--slices`` files of ``--size`` x
``--size``, 16 bits allocated, 12 stored, unsigned, as scanners write them), a deflated .zip of it,
and measures, each in a fresh subprocess:

* ``folder``: ``load_series(folder)``;
* ``zip``: ``load_series(archive.zip)``;
* ``upload``: the dashboard's path: ``store_series_upload([(name, zip bytes)])`` (parse, de-identify,
  write 0600 files) then ``load_series`` of the stored folder. The zip's bytes are read before the
  baseline: the app holds them (Streamlit's upload) before the call;
* ``enhanced``: the same series as one Enhanced MR object (multi-frame) file;
* ``real``: the real STS_025 T1 series in ../shared/testdata (25 x 55 x 75);
* ``radiomics``: ``load_series(folder)`` then ``extract_features`` (pyradiomics, the default
  parameter file) with a spherical ROI of 20 mm radius, measured from before the load (outside the
  1.5x target: pyradiomics works in floating point on the whole image). tracemalloc misses
  SimpleITK's buffers here; the RSS column is the one to read.

Two measures, each in its own process: tracemalloc's peak (Python and numpy allocations; not
SimpleITK's C++ buffers), and the peak resident set size (``ru_maxrss``) minus the same after the
imports and a warm-up read of a 2-slice series (pydicom's lazily built dictionaries and pixel
handlers are a cost of the process, not of the series). "series" is the voxel count x 2 bytes (the
int16 volume); "ratio" = peak extra / series. ``--code ROOT`` measures another checkout (e.g. one
made with ``git archive <commit> watchwait | tar -x -C ROOT``) for a before/after comparison.
Nothing is asserted; tests/imaging/test_memory_bounds.py holds the bound (1.5x + 2 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "testdata" / "mr" / "sts_025_t1" / "dicom" / "image"
MiB = 1024**2
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def write_series(folder: Path, shape: tuple[int, int, int], seed: int = 7) -> int:
    """An axial MR series, one DICOM file per slice; returns the number of voxels."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:ny, :nx]
    body = ((yy - ny / 2) ** 2 + (xx - nx / 2) ** 2 < (0.45 * min(ny, nx)) ** 2) * 1200
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for k in range(nz):
        sop = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = MR_IMAGE_STORAGE, sop, "MR"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Bench^Memory", "BENCH-0001", "19600101"
        ds.StudyDate, ds.InstitutionName = "20240102", "Benchmark Hospital"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.InstanceNumber = 3, k + 1
        ds.ImagePositionPatient = [-nx * 0.35, -ny * 0.35, 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 2.5
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        plane = np.clip(body + rng.normal(300, 120, size=(ny, nx)), 0, 4095).astype(np.uint16)
        ds.PixelData = plane.tobytes()
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    return nz * ny * nx


def write_enhanced(path: Path, shape: tuple[int, int, int], seed: int = 7) -> None:
    """The same kind of series as one Enhanced MR object (multi-frame, per-frame functional groups)."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    enhanced = "1.2.840.10008.5.1.4.1.1.4.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = enhanced, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = enhanced, meta.MediaStorageSOPInstanceUID, "MR"
    ds.PatientName, ds.PatientID = "Bench^Memory", "BENCH-0001"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.NumberOfFrames, ds.Rows, ds.Columns = nz, ny, nx
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    orientation, measures, shared = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing, measures.SliceThickness = [0.7, 0.7], 2.5
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = [orientation], [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for k in range(nz):
        position, item = Dataset(), Dataset()
        position.ImagePositionPatient = [-nx * 0.35, -ny * 0.35, 2.5 * k]
        item.PlanePositionSequence = [position]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.PixelData = rng.integers(0, 4096, size=shape, dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


PROBE = r"""
import gc, json, resource, sys, time, tracemalloc
from pathlib import Path
import numpy as np
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.ingest import store_series_upload

case, source, warm, scratch, traced = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "1"
load_series(warm)
series = data = None
if case == "upload":
    data = source.read_bytes()  # held by the app before the call
if case == "radiomics":
    from watchwait.imaging.radiomics import extract_features
    small = load_series(warm)
    from watchwait.errors import WatchwaitError

    try:  # pyradiomics' imports and the extractor's validation: a cost of the process
        extract_features(small, np.ones(small.shape, dtype=bool))
    except WatchwaitError:  # a refused warm-up ROI still loaded everything; a bug stops the benchmark
        pass
gc.collect()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if traced:
    tracemalloc.start()
start = time.process_time()
if case == "upload":
    stored = store_series_upload([(source.name, data)], scratch / "series")
    series = load_series(stored.path)  # the app still holds the upload's bytes (``data``) here
elif case == "radiomics":  # the dashboard's path: load the series, then its features
    series = load_series(source)
    z, y, x = np.indices(series.shape, sparse=True)
    c = [n // 2 for n in series.shape]
    dz, dy, dx = series.spacing
    mask = ((z - c[0]) * dz) ** 2 + ((y - c[1]) * dy) ** 2 + ((x - c[2]) * dx) ** 2 <= 20.0 ** 2
    result = extract_features(series, mask)
else:
    series = load_series(source)
seconds = time.process_time() - start
peak = tracemalloc.get_traced_memory()[1] if traced else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({"peak": peak, "seconds": seconds, "shape": list(series.shape), "dtype": str(series.array.dtype),
                  "nbytes": series.array.nbytes}))
"""


def probe(code: Path, case: str, source: Path, warm: Path, scratch: Path, traced: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", PROBE, case, str(source), str(warm), str(scratch), "1" if traced else "0"],
                          capture_output=True, text=True, cwd=code, env=env, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{case}: probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workdir", type=Path, default=None, help="where the series is written (default: a new temp dir)")
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout whose watchwait package is measured")
    ap.add_argument("--no-radiomics", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-imaging-memory-"))
    shape = (args.slices, args.size, args.size)
    folder, archive, warm = work / "series", work / "series.zip", work / "warm"
    if not folder.is_dir():
        write_series(folder, shape)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, f"series/{path.name}")
    if not warm.is_dir():
        write_series(warm, (2, 8, 8), seed=1)
    enhanced = work / "enhanced.dcm"
    if not enhanced.is_file():
        write_enhanced(enhanced, shape)
    cases = [("folder", folder), ("zip", archive), ("upload", archive), ("enhanced", enhanced)]
    if REAL.is_dir():
        cases.append(("real", REAL))
    if not args.no_radiomics:
        cases.append(("radiomics", folder))
    print(f"code: {args.code}; synthetic series {shape[0]} x {shape[1]} x {shape[2]}, zip {archive.stat().st_size / MiB:.1f} MiB\n")
    print("| case | array | series (MiB) | tracemalloc peak extra (MiB) | ratio | RSS peak extra (MiB) | ratio | CPU time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for case, source in cases:
        traced = probe(args.code, case, source, warm, Path(tempfile.mkdtemp(prefix=f"{case}-", dir=work)), True)
        rss = probe(args.code, case, source, warm, Path(tempfile.mkdtemp(prefix=f"{case}-", dir=work)), False)
        series_mib = np.prod(traced["shape"]) * 2 / MiB
        print(f"| {case} | {'x'.join(map(str, traced['shape']))} {traced['dtype']} | {series_mib:.2f} | "
              f"{traced['peak'] / MiB:.1f} | {traced['peak'] / MiB / series_mib:.2f} | {rss['peak'] / MiB:.1f} | "
              f"{rss['peak'] / MiB / series_mib:.2f} | {rss['seconds']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
