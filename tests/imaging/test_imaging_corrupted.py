"""Corrupted copies of real files: every outcome is a result or an ImagingError, never a crash."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from imaging_testdata import CT_SOURCE, MALFORMED, SEG_DIR, STS_IMAGES, STS_RTSTRUCT, needs_testdata

from watchwait.errors import ImagingError
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.roi import load_roi

pytestmark = needs_testdata


def _corrupt(data: bytes, rng: np.random.Generator, kind: int) -> bytes:
    out = bytearray(data)
    if kind == 0:  # cut short
        return bytes(out[: rng.integers(0, len(out))])
    lo, hi = (128, min(len(out), 1500)) if kind == 1 else (0, len(out))  # 1: header bytes, 2: anywhere
    for _ in range(rng.integers(1, 6)):
        out[rng.integers(lo, hi)] = rng.integers(0, 256)
    return bytes(out)


@pytest.mark.parametrize("source", [
    MALFORMED / "pydicom" / "MR_small.dcm",
    MALFORMED / "pydicom" / "MR_small_jp2klossless.dcm",
    MALFORMED / "pydicom_data" / "emri_small_RLE.dcm",
    STS_IMAGES / "000003.dcm",
])
def test_corrupted_image_files(source, tmp_path):
    rng = np.random.default_rng(zlib.crc32(source.name.encode()))
    data = source.read_bytes()
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(45):
        path = tmp_path / f"c{i}.dcm"
        path.write_bytes(_corrupt(data, rng, i % 3))
        try:
            load_series(path)
            outcomes["loaded"] += 1
        except ImagingError as exc:
            assert str(exc).startswith(f"c{i}.dcm: "), str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


@pytest.mark.parametrize("source, series_path", [
    (STS_RTSTRUCT, STS_IMAGES),
    (SEG_DIR / "seg_image_ct_binary_overlap.dcm", CT_SOURCE),
])
def test_corrupted_roi_files(source, series_path, tmp_path):
    series = load_series(series_path, allow_gaps=True)
    rng = np.random.default_rng(17)
    data = source.read_bytes()
    for i in range(45):
        path = tmp_path / f"r{i}.dcm"
        path.write_bytes(_corrupt(data, rng, i % 3))
        try:
            load_roi(path, series)
        except ImagingError as exc:
            assert str(exc).startswith(f"r{i}.dcm: "), str(exc)
