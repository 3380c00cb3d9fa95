"""Feature extraction with provenance, delta radiomics and the cohort runner."""

from __future__ import annotations

import hashlib
import importlib.util
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from imaging_testdata import STS_NIFTI_IMAGE, STS_NIFTI_MASK, STS_RTSTRUCT, needs_testdata

from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.errors import RadiomicsError
from watchwait.imaging.radiomics import (
    DEFAULT_PARAMS,
    CohortCase,
    delta_features,
    extract_arrays,
    extract_cohort,
    extract_features,
)
from watchwait.imaging.roi import load_roi
from watchwait.imaging.synthetic import synth_pair, write_seg, write_series


@pytest.fixture(scope="module")
def sts_result(sts_series):
    return extract_features(sts_series, load_roi(STS_RTSTRUCT, sts_series))


@needs_testdata
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pykwalify, in the plain pyradiomics call
def test_dicom_and_rtstruct_give_the_features_of_plain_pyradiomics_on_the_nifti(sts_result):
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    plain = featureextractor.RadiomicsFeatureExtractor(str(DEFAULT_PARAMS)).execute(
        str(STS_NIFTI_IMAGE), str(STS_NIFTI_MASK))
    expected = {k: float(v) for k, v in plain.items() if not k.startswith("diagnostics_")}
    assert set(sts_result.features) == set(expected) and len(expected) == 107
    for name, value in expected.items():
        assert sts_result.features[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name


@needs_testdata
def test_provenance_identifies_inputs_and_versions(sts_series, sts_result):
    import radiomics

    p = sts_result.provenance
    assert p["pyradiomics"] == radiomics.__version__ and p["numpy"] == np.__version__
    assert p["SimpleITK"] == sitk.Version_VersionString()
    assert p["params_file"] == "watchwait_mr_v1.yaml"
    assert p["params_sha256"] == hashlib.sha256(DEFAULT_PARAMS.read_bytes()).hexdigest()
    assert p["image_sha256"] == hashlib.sha256(sts_series.array.astype(np.float32).tobytes()).hexdigest()
    mask = load_roi(STS_RTSTRUCT, sts_series).mask
    assert p["mask_sha256"] == hashlib.sha256(mask.astype(np.uint8).tobytes()).hexdigest()
    assert p["mask_voxels"] == 9655 and p["roi"] == {"kind": "RTSTRUCT", "name": "GTV_Mass_MR_T1"}


def test_arrays_and_series_paths_agree(rng):
    pair = synth_pair(1.0, rng)
    a = extract_arrays(pair["baseline_image"], pair["baseline_mask"], pair["spacing"])
    b = extract_arrays(pair["baseline_image"], pair["baseline_mask"].astype(np.uint8) * 7, pair["spacing"])
    assert a.features == b.features  # any non-zero mask value is the ROI
    assert a.features["original_shape_VoxelVolume"] == pytest.approx(
        pair["baseline_mask"].sum() * np.prod(pair["spacing"]), rel=0.05)  # after in-plane resampling


def test_delta_radiomics(rng):
    pair = synth_pair(1.5, rng)
    base = extract_arrays(pair["baseline_image"], pair["baseline_mask"], pair["spacing"])
    rest = extract_arrays(pair["restaging_image"], pair["restaging_mask"], pair["spacing"])
    delta = delta_features(base, rest)
    name = "original_shape_MeshVolume"
    assert delta[f"delta_{name}"] == rest.features[name] - base.features[name] < 0
    assert delta[f"reldelta_{name}"] == pytest.approx((rest.features[name] - base.features[name]) / base.features[name])
    assert "delta_original_firstorder_Mean" in delta
    assert "reldelta_original_firstorder_Mean" not in delta  # a location on the z-scored scale
    assert "reldelta_original_glcm_ClusterShade" not in delta  # signed
    assert len([k for k in delta if k.startswith("delta_")]) == len(base.features)


def test_delta_refuses_results_of_different_parameter_files(rng, tmp_path):
    pair = synth_pair(0.0, rng)
    other = tmp_path / "other.yaml"
    other.write_text(DEFAULT_PARAMS.read_text().replace("binWidth: 5", "binWidth: 10"))
    a = extract_arrays(pair["baseline_image"], pair["baseline_mask"], pair["spacing"])
    b = extract_arrays(pair["restaging_image"], pair["restaging_mask"], pair["spacing"], other)
    with pytest.raises(RadiomicsError, match=r"different parameter files \(watchwait_mr_v1\.yaml vs other\.yaml\)"):
        delta_features(a, b)


def test_input_problems_are_radiomics_errors(rng, tmp_path):
    pair = synth_pair(0.0, rng)
    image, spacing = pair["baseline_image"], pair["spacing"]
    with pytest.raises(RadiomicsError, match="the ROI mask is empty"):
        extract_arrays(image, np.zeros(image.shape, bool), spacing)
    tiny = np.zeros(image.shape, bool)
    tiny[8, 30:32, 30:32] = True
    with pytest.raises(RadiomicsError, match=r"pyradiomics cannot compute features on this ROI \(4 voxels\)"):
        extract_arrays(image, tiny, spacing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidth: -1\n  noSuchSetting: 3\n")
    with pytest.raises(RadiomicsError, match=r"^bad\.yaml: invalid pyradiomics parameter file"):
        extract_arrays(image, pair["baseline_mask"], spacing, bad)
    with pytest.raises(RadiomicsError, match=r"^missing\.yaml: parameter file not found"):
        extract_arrays(image, pair["baseline_mask"], spacing, tmp_path / "missing.yaml")


@needs_testdata
def test_a_series_with_missing_slices_is_refused(sts_copy):
    (sts_copy / "000012.dcm").unlink()
    series = load_series(sts_copy, allow_gaps=True)
    with pytest.raises(RadiomicsError, match="missing slices"):
        extract_features(series, np.ones(series.shape, bool))


def _write_cases(tmp_path, rng, n):
    cases = []
    for i in range(n):
        pair = synth_pair(rng.normal(), rng)
        folder = tmp_path / f"case{i}" / "series"
        write_series(pair["restaging_image"], pair["spacing"], folder, "T2 AX", rng, patient_pseudonym=f"P{i}")
        write_seg(pair["restaging_mask"], folder, tmp_path / f"case{i}" / "seg.dcm")
        cases.append(CohortCase(f"case{i}", folder, tmp_path / f"case{i}" / "seg.dcm"))
    return cases


def test_cohort_in_parallel_equals_one_by_one_and_isolates_bad_cases(tmp_path, rng):
    cases = _write_cases(tmp_path, rng, 3)
    cases.append(CohortCase("broken", cases[0].series, cases[0].series / "IM0001.dcm"))
    parallel = extract_cohort(cases, n_jobs=2, deid_key=b"cohort-key")
    sequential = extract_cohort(cases, n_jobs=1, deid_key=b"cohort-key")
    assert [r.case_id for r in parallel] == ["case0", "case1", "case2", "broken"]
    for p, s in zip(parallel[:3], sequential[:3]):
        assert p.ok and p.features == s.features and p.patient_pseudonym == s.patient_pseudonym
        assert p.provenance["mask_sha256"] == s.provenance["mask_sha256"]
    assert parallel[3].error == "IM0001.dcm: not a ROI file: modality MR (expected a DICOM SEG, an RTSTRUCT or a NIfTI mask)"
    assert parallel[3].features is None


@pytest.mark.skipif(importlib.util.find_spec("dask") is not None, reason="dask is installed here")
def test_dask_without_dask_installed_is_a_clear_error(tmp_path):
    with pytest.raises(RadiomicsError, match=r"dask\.distributed is not installed"):
        extract_cohort([CohortCase("a", tmp_path, tmp_path / "roi.dcm")], dask_address="tcp://127.0.0.1:8786")
