"""Mutation fuzzing of the DICOM reader, archives and ROI readers on the shared real files: flipped,
overwritten, inserted and cut bytes. Every case ends in a series (or mask) or an ImagingError, never
another exception; memory stays bounded by the reader's limits."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from fuzz_settings import fuzz
from hypothesis import strategies as st
from imaging_testdata import MALFORMED, SEG_DIR, STS_IMAGES, STS_RTSTRUCT, TESTDATA

from watchwait.errors import ImagingError

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason=f"shared test data not found at {TESTDATA}")

SEEDS = {
    "sts.dcm": STS_IMAGES / "000012.dcm",
    "mr_small.dcm": MALFORMED / "pydicom" / "MR_small.dcm",
    "rle.dcm": MALFORMED / "pydicom" / "MR_small_RLE.dcm",
    "j2k.dcm": MALFORMED / "pydicom" / "MR_small_jp2klossless.dcm",
    "enhanced.dcm": MALFORMED / "pydicom_data" / "emri_small.dcm",
    "deflate.dcm": MALFORMED / "pydicom" / "image_dfl.dcm",
}
SEEDS = {k: v for k, v in SEEDS.items() if v.is_file()}


@st.composite
def mutated(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "overwrite", "insert", "cut", "truncate", "dup"]))
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"SQ", b"UN", b"OB", b"9999"]))
            out[at:at + len(chunk)] = chunk
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "cut":
            del out[at:at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del out[at:]
        else:
            out[at:at] = out[at:at + draw(st.integers(1, 256))]
    return bytes(out)


def _ok_or_imaging_error(fn):
    try:
        return fn()
    except ImagingError:
        return None


@fuzz(st.data())
def test_fuzz_dicom_files(data):
    from watchwait.imaging.dicom_io import load_series

    seed = data.draw(st.sampled_from(sorted(SEEDS)))
    body = data.draw(mutated(SEEDS[seed].read_bytes()))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / seed
        path.write_bytes(body)
        _ok_or_imaging_error(lambda: load_series(path))


def _sts_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(STS_IMAGES.glob("*.dcm"))[:6]:
            zf.write(p, f"series/{p.name}")
    return buf.getvalue()


ZIP = _sts_zip() if TESTDATA.is_dir() else b""


@fuzz(st.data())
def test_fuzz_zip_archives(data):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.ingest import store_series_upload

    body = data.draw(mutated(ZIP))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "series.zip"
        path.write_bytes(body)
        _ok_or_imaging_error(lambda: load_series(path, allow_gaps=True))
        stored = _ok_or_imaging_error(lambda: store_series_upload([("series.zip", body)], Path(d) / "upload"))
        if stored is None:
            assert not (Path(d) / "upload").exists()  # a refused upload leaves nothing


@pytest.fixture(scope="module")
def sts_series():
    from watchwait.imaging.dicom_io import load_series

    return load_series(STS_IMAGES)


ROI_SEEDS = {"RS.dcm": STS_RTSTRUCT, "seg.dcm": SEG_DIR / "seg_image_ct_binary.dcm"}


@fuzz(st.data())
def test_fuzz_roi_files(sts_series, data):
    from watchwait.imaging.roi import load_roi

    seed = data.draw(st.sampled_from(sorted(ROI_SEEDS)))
    body = data.draw(mutated(ROI_SEEDS[seed].read_bytes()))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / seed
        path.write_bytes(body)
        _ok_or_imaging_error(lambda: load_roi(path, sts_series))

