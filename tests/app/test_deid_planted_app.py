"""Planted identifiers on the Imaging screen (issue 18, item 2): a series and its SEG with "Smith^Johanna MRN 8675309"
in every free-text attribute, uploaded as files named after the patient, show neither the name nor the number
anywhere on the screen (every element: text, labels, tables, charts, alerts), nor in the log; the ROI still
matches its images. (The library side: tests/imaging/test_deid_planted.py.)"""

from __future__ import annotations

import io
import json
import logging
import sys
import zipfile
from pathlib import Path

import pytest

from apptest_helpers import ROOT, errors, goto, load_sample, new_app, texts, walk
from apptest_helpers import upload_imaging as _upload

sys.path.insert(0, str(ROOT / "tests" / "imaging"))
from test_deid_planted import FILE_STEM, _bytes, leaks, planted  # noqa: E402

DEMO = ROOT / "sample_data" / "imaging" / "DEMO-01"

pytestmark = pytest.mark.skipif(not (ROOT.parent / "shared" / "testdata").is_dir(), reason="shared test data absent")


def _screen(at) -> str:
    """Everything the screen holds, main area and sidebar: every element's protobuf (values, labels, help, table
    cells, chart specs; the file uploaders too) and the texts as they read."""
    parts = [texts(at), "\n".join(errors(at))]
    for root in (at.main, at.sidebar):
        for el in walk(root):
            proto = getattr(el, "proto", None)
            parts.append(str(proto) if proto is not None else repr(el))
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    for chart in at.get("plotly_chart"):
        parts.append(json.dumps(json.loads(chart.proto.spec)))
    return "\n".join(parts)



@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "files"])
def test_planted_identifiers_reach_nothing_on_the_imaging_screen(as_zip, caplog):
    caplog.set_level(logging.DEBUG)
    slices = [_bytes(planted(p)) for p in sorted((DEMO / "restaging").glob("*.dcm"))]
    seg = _bytes(planted(DEMO / "restaging_seg.dcm"))
    if as_zip:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for i, data in enumerate(slices):
                zf.writestr(f"{FILE_STEM}_{i:03d}.dcm", data)
        files = [(f"{FILE_STEM}.zip", buffer.getvalue(), "application/zip")]
    else:
        files = [(f"{FILE_STEM}_{i:03d}.dcm", data, "application/dicom") for i, data in enumerate(slices)]
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    _upload(at, "restaging", files, f"{FILE_STEM}_seg.dcm", seg)
    assert not at.error, errors(at)
    screen = _screen(at)
    assert not leaks(screen), leaks(screen)
    assert not leaks(caplog.text), leaks(caplog.text)
    shown = texts(at)
    assert "source: uploaded series 1, 12 files + tumour ROI" in shown
    assert "ROI: SEG 'ROI', 207 voxels" in shown  # the planted Segment Label, cleaned; the mask as the sample's


def test_a_refused_upload_names_no_uploaded_file(caplog):
    caplog.set_level(logging.DEBUG)
    seg = _bytes(planted(DEMO / "restaging_seg.dcm"))
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    not_dicom = (f"{FILE_STEM}.dcm", b"%PDF-1.4 Smith^Johanna MRN 8675309", "application/dicom")  # not DICOM
    _upload(at, "restaging", [not_dicom], f"{FILE_STEM}_seg.dcm", seg)
    screen = _screen(at)
    assert not leaks(screen) and not leaks(caplog.text), leaks(screen)
    assert errors(at) == ["The series could not be used. upload: no DICOM file to store (file 1 of the upload: not a "
                          "DICOM file (no 'DICM' marker, and the content does not parse as a DICOM data set); not "
                          "stored)"]
