"""Bounded memory while reading a series (issue 10): a legitimate MR series, from a folder, a .zip or an
upload, is read, de-identified and assembled with a peak of at most 1.5x its voxel array.

The peak is counted with tracemalloc (every numpy and pydicom allocation is traced) in a fresh
subprocess, after the imports and one warm-up read of a 2-slice series (pydicom builds its
dictionaries and loads its pixel handlers on first use; that is a fixed cost of the process, not of
the series). The reference size is the series' voxels at 2 bytes each (16-bit stored pixels): the
voxel array the reader returns for integer MR (int16, exact).

The allowance on top of 1.5x, :data:`ALLOWANCE`, is fixed and small: the header of every file kept
as Python objects until the series is assembled (about 22 KiB each here, 40 files: 0.9 MiB), plus the
transient buffers of one file at a time (its bytes, pydicom's copy of its pixel data, the decoded
plane and its rescaled float64 copy: about 1 MiB for 256 x 256), plus the zip reader's buffers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024**2
ALLOWANCE = 2 * MiB
SHAPE = (40, 256, 256)
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def write_series(folder: Path, shape: tuple[int, int, int], seed: int = 7, *, values: np.ndarray | None = None,
                 bits_stored: int = 12, rescale: tuple[str, str] | None = None) -> np.ndarray:
    """An axial MR series as real DICOM files, one per slice, as scanners write them (16 bits
    allocated, 12 stored, unsigned; a patient name and ID for de-identification to replace).
    Returns the stored values (z, y, x)."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    if values is None:
        values = rng.integers(0, 4096, size=shape, dtype=np.uint16)
    signed = int(values.dtype == np.int16)
    folder.mkdir(parents=True, exist_ok=True)
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
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Test^Memory", "MEM-0001", "19600101"
        ds.StudyDate, ds.InstitutionName = "20240102", "Memory Test Hospital"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SeriesNumber, ds.InstanceNumber = 3, k + 1
        ds.ImagePositionPatient = [-100.0, -100.0, 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 2.5
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, signed
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.PixelData = values[k].tobytes()
        ds.save_as(folder / f"IM{k + 1:04d}.dcm", enforce_file_format=True)
    return values


PROBE = r"""
import io, json, sys, tracemalloc
from pathlib import Path
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.ingest import store_series_upload

how, source, warm, scratch = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
load_series(warm)  # first-use costs of pydicom (dictionaries, pixel handlers), not of the series
if how == "upload":
    data = source.read_bytes()  # the upload's bytes, held by the caller (the app) before the call
    tracemalloc.start()
    stored = store_series_upload([(source.name, data)], scratch / "series")
    series = load_series(stored.path)  # the app still holds the upload's bytes (``data``) here
else:
    tracemalloc.start()
    series = load_series(source)
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"peak": peak, "shape": list(series.array.shape), "dtype": str(series.array.dtype),
                  "nbytes": series.array.nbytes, "sum": int(series.array.sum(dtype="int64"))}))
"""


@pytest.fixture(scope="module")
def series_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("memory")
    values = write_series(base / "series", SHAPE)
    write_series(base / "warm", (2, 8, 8), seed=1)
    with zipfile.ZipFile(base / "series.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((base / "series").iterdir()):
            zf.write(path, f"series/{path.name}")
    return base, values


def _probe(how: str, source: Path, warm: Path, scratch: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, how, str(source), str(warm), str(scratch)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("how", ["folder", "zip", "upload"])
def test_reading_a_series_peaks_at_most_one_and_a_half_times_its_voxels(series_files, how, tmp_path):
    base, values = series_files
    source = base / "series" if how == "folder" else base / "series.zip"
    result = _probe(how, source, base / "warm", tmp_path)
    voxels_16bit = values.size * 2  # the series itself: its voxels at 16 bits
    bound = 1.5 * voxels_16bit + ALLOWANCE
    assert result["peak"] <= bound, (f"{how}: peak {result['peak'] / MiB:.1f} MiB for a series of "
                                     f"{voxels_16bit / MiB:.1f} MiB (bound {bound / MiB:.1f} MiB)")
    assert result["shape"] == list(SHAPE)
    assert result["dtype"] == "int16" and result["nbytes"] == voxels_16bit  # integer MR stays 16-bit, exactly
    assert result["sum"] == int(values.sum(dtype=np.int64))


def test_the_voxels_are_the_stored_values_in_slice_order(series_files):
    from watchwait.imaging.dicom_io import load_series

    base, values = series_files
    series = load_series(base / "series.zip")
    assert series.array.dtype == np.int16
    assert np.array_equal(series.array, values.astype(np.int16))
    assert pydicom.dcmread(base / "series" / "IM0001.dcm").PatientID == "MEM-0001"
    assert series.patient_pseudonym.startswith("WW-")


# --------------------------------------------------------------------------- the volume's type: exact, never wrapped

@pytest.mark.parametrize("stored, bits, rescale, dtype", [
    (np.array([0, 4095]), 12, None, "int16"),  # the usual MR: 12 of 16 bits, no rescale
    (np.array([-2048, 2047]), 12, None, "int16"),  # signed
    (np.array([0, 32767]), 16, None, "int16"),  # 16 bits stored, every value fits int16
    (np.array([0, 65535]), 16, None, "uint16"),  # above 32,767: kept unsigned, exact
    (np.array([0, 4095]), 12, ("2", "-1000"), "int16"),  # integer rescale within int16
    (np.array([0, 4095]), 12, ("0.5", "0.25"), "float32"),  # fractional rescale
    (np.array([0, 65535]), 16, ("1", "-1024"), "float32"),  # neither int16 nor uint16 holds -1024..64511
])
def test_the_volume_holds_the_rescaled_values_exactly(tmp_path, stored, bits, rescale, dtype):
    from watchwait.imaging.dicom_io import load_series

    values = np.zeros((3, 4, 4), dtype=np.int16 if stored.min() < 0 else np.uint16)
    values[1, 0, :2] = stored
    write_series(tmp_path / "s", values.shape, values=values, bits_stored=bits, rescale=rescale)
    series = load_series(tmp_path / "s")
    slope, intercept = (float(v) for v in rescale) if rescale else (1.0, 0.0)
    assert str(series.array.dtype) == dtype
    assert np.array_equal(series.array.astype(np.float64), values.astype(np.float64) * slope + intercept)


def test_a_plane_beyond_what_its_header_declares_turns_the_volume_to_float32_never_wraps():
    from watchwait.imaging.dicom_io import _put

    volume = np.zeros((2, 2, 2), dtype=np.int16)
    volume = _put(volume, 0, np.array([[1, -2], [3, 4]], dtype=np.int64))
    assert volume.dtype == np.int16
    volume = _put(volume, 1, np.array([[40000, 0], [0, -40000]], dtype=np.int64))  # a decoder's surprise
    assert volume.dtype == np.float32
    assert volume.tolist() == [[[1, -2], [3, 4]], [[40000, 0], [0, -40000]]]


# --------------------------------------------------------------------------- pixels read twice: the same bytes or refused

def _changing(monkeypatch, change):
    """Run ``change`` once, between the reading of the headers and the decoding of the pixels."""
    from watchwait.imaging import dicom_io

    check = dicom_io._check_voxels

    def then_change(frames):
        check(frames)
        change()

    monkeypatch.setattr(dicom_io, "_check_voxels", then_change)


def test_a_file_changed_while_the_series_is_read_is_refused(tmp_path, monkeypatch):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.errors import DicomFileError

    write_series(tmp_path / "s", (4, 8, 8))
    write_series(tmp_path / "other", (4, 8, 8), seed=8)  # same names, other pixels
    _changing(monkeypatch, lambda: os.replace(tmp_path / "other" / "IM0003.dcm", tmp_path / "s" / "IM0003.dcm"))
    with pytest.raises(DicomFileError, match=r"^IM0003\.dcm: the file changed while the series was being read \(its "
                                             r"pixel data is not what was read first\); load the series again$"):
        load_series(tmp_path / "s")


def test_an_archive_replaced_while_the_series_is_read_is_refused(tmp_path, monkeypatch):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.errors import DicomFileError

    write_series(tmp_path / "s", (4, 8, 8))
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as zf:
        for path in sorted((tmp_path / "s").iterdir()):
            zf.write(path, path.name)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "another archive")
    _changing(monkeypatch, lambda: os.replace(tmp_path / "other.zip", tmp_path / "s.zip"))
    with pytest.raises(DicomFileError, match=r"^s\.zip:IM0001\.dcm: is no longer in the archive \(it changed while the "
                                             r"series was being read\); load the series again$"):
        load_series(tmp_path / "s.zip")


def test_gzip_compressed_slices_are_read_again_through_gzip(tmp_path):
    import gzip

    from watchwait.imaging.dicom_io import load_series

    values = write_series(tmp_path / "s", (3, 8, 8))
    (tmp_path / "gz").mkdir()
    with zipfile.ZipFile(tmp_path / "gz.zip", "w") as zf:
        for path in sorted((tmp_path / "s").iterdir()):
            packed = gzip.compress(path.read_bytes())
            (tmp_path / "gz" / f"{path.name}.gz").write_bytes(packed)
            zf.writestr(f"{path.name}.gz", packed)
    for source in (tmp_path / "gz", tmp_path / "gz.zip"):
        series = load_series(source)
        assert np.array_equal(series.array, values.astype(np.int16)), source.name
        assert sum("gzip-compressed file, decompressed before reading" in w for w in series.warnings) == 3
