"""Paths of the shared, read-only test data (``../shared/testdata`` from the repo root)."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
STS = TESTDATA / "mr" / "sts_025_t1"
STS_IMAGES = STS / "dicom" / "image"
STS_RTSTRUCT = STS / "dicom" / "mask" / "RS.dcm"
STS_NIFTI_MASK = STS / "nifti" / "MR_T1_mask.nii.gz"
STS_NIFTI_IMAGE = STS / "nifti" / "MR_T1_image.nii.gz"
SEG_DIR = TESTDATA / "seg" / "highdicom_ct"
CT_SOURCE = SEG_DIR / "source_ct_pydicom_dicomdirtests_77654033_CT2"
MALFORMED = TESTDATA / "malformed"

needs_testdata = pytest.mark.skipif(
    not TESTDATA.is_dir(), reason=f"shared test data not found at {TESTDATA} (../shared/testdata from the repo root)"
)
