"""A cohort file's mri_* cells may name a series on the hospital's PACS (dicomweb:<StudyInstanceUID>/<SeriesInstanceUID>,
issue 18 item 4): `predict`'s radiomics from Orthanc equal those of the same files on disk; a malformed reference or a
refusing PACS is reported for its row like any other imaging problem."""

from __future__ import annotations

import pandas as pd
import pydicom
import pytest
from orthanc_server import DEMO

from watchwait.cohort import add_radiomics
from watchwait.imaging.model_features import MODEL_COLUMNS, ImagingRowsError

REST = pydicom.dcmread(DEMO / "restaging" / "IM0001.dcm", stop_before_pixels=True)
REF = f"dicomweb:{REST.StudyInstanceUID}/{REST.SeriesInstanceUID}"


def _row(restaging_dir, restaging_roi) -> pd.DataFrame:
    return pd.DataFrame([{"patient_id": "DEMO-01", "mmr_status": "pMMR",
                          "mri_baseline_dir": str(DEMO / "baseline"), "mri_baseline_roi": str(DEMO / "baseline_seg.dcm"),
                          "mri_restaging_dir": restaging_dir, "mri_restaging_roi": restaging_roi}])


def test_a_cohort_row_with_a_dicomweb_series_gives_the_folders_radiomics(orthanc, monkeypatch, tmp_path):
    for name, value in orthanc.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WATCHWAIT_DEID_KEY", "cohort-file-pacs")
    local = add_radiomics(_row(str(DEMO / "restaging"), str(DEMO / "restaging_seg.dcm")), base_dir=tmp_path)
    pacs = add_radiomics(_row(REF, REF), base_dir=tmp_path)
    assert not pacs[list(MODEL_COLUMNS)].isna().any().any()
    pd.testing.assert_frame_equal(pacs[list(MODEL_COLUMNS)], local[list(MODEL_COLUMNS)])
    assert pacs.loc[0, "imaging_kept_out"] == local.loc[0, "imaging_kept_out"] == ""


def test_a_malformed_reference_or_a_refusing_pacs_is_reported_for_its_row(orthanc, monkeypatch, tmp_path):
    for name, value in orthanc.env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImagingRowsError) as info:
        add_radiomics(_row("dicomweb:1.2.3", REF), base_dir=tmp_path)
    assert ("'dicomweb:1.2.3' is not a DICOMweb series reference: write dicomweb:<StudyInstanceUID>/<SeriesInstanceUID> "
            "(two UIDs, digits and dots).") in str(info.value)
    monkeypatch.setenv("WATCHWAIT_PACS_PASSWORD", "wrong")
    with pytest.raises(ImagingRowsError) as info:
        add_radiomics(_row(REF, REF), base_dir=tmp_path)
    assert f"The PACS at {orthanc.url} refused the credentials (HTTP 401)." in str(info.value)
    assert "mri_restaging_dir" in str(info.value)
