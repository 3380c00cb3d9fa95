"""Shared paths and fixtures of the imaging tests.

Real files only: ``../shared/testdata`` next to the repository (read-only). Tests that need it
are skipped, with the reason, when that folder is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from imaging_testdata import STS_IMAGES, TESTDATA


@pytest.fixture(scope="session")
def sts_series():
    """The STS_025 T1 series, loaded once (the Series object is immutable)."""
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    from watchwait.imaging.dicom_io import load_series

    return load_series(STS_IMAGES)


@pytest.fixture()
def sts_copy(tmp_path: Path) -> Path:
    """A writable copy of the STS_025 image folder."""
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    out = tmp_path / "sts"
    shutil.copytree(STS_IMAGES, out)
    return out


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)
