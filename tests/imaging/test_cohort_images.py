"""Synthetic cohort imaging: which patients get images, where the files go, what the headers say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from watchwait.imaging.cohort_images import (
    MRI_COLUMNS,
    SERIES_SHAPE,
    reader_delineation,
    synth_patient,
    write_cohort_images,
)
from watchwait.sim import simulate


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return simulate(10, seed=8, with_oracle=False).truth


def test_a_share_of_patients_gets_relative_paths_that_exist(truth, tmp_path):
    base = tmp_path / "cohort"
    paths = write_cohort_images(truth, base / "imaging", share=0.3, seed=4, base_dir=base)
    assert list(paths.columns) == ["patient_id", *MRI_COLUMNS]
    assert paths.index.equals(truth.index) and paths["patient_id"].tolist() == truth["patient_id"].tolist()
    imaged = paths["mri_baseline_dir"] != ""
    assert imaged.sum() == 3  # round(0.3 * 10)
    assert (paths.loc[~imaged, list(MRI_COLUMNS)] == "").all().all()
    for _, row in paths[imaged].iterrows():
        pid = row["patient_id"]
        assert row["mri_baseline_dir"] == f"imaging/{pid}/baseline"
        assert row["mri_restaging_roi"] == f"imaging/{pid}/restaging_seg.dcm"
        assert len(list((base / row["mri_restaging_dir"]).iterdir())) == SERIES_SHAPE[0]
        assert (base / row["mri_baseline_roi"]).is_file()


def test_headers_carry_the_pseudonym_only(truth, tmp_path):
    paths = write_cohort_images(truth, tmp_path / "img", share=0.1, seed=1, base_dir=tmp_path)
    row = paths[paths["mri_baseline_dir"] != ""].iloc[0]
    pid = row["patient_id"]
    image = pydicom.dcmread(tmp_path / row["mri_restaging_dir"] / "IM0001.dcm")
    seg = pydicom.dcmread(tmp_path / row["mri_restaging_roi"])
    for ds in (image, seg):
        assert ds.PatientID == pid
        assert str(ds.PatientName) == f"{pid}^"
        assert ds.get("PatientBirthDate", "") == "" and ds.get("PatientSex", "") == ""
        assert ds.get("InstitutionName") is None and ds.get("ReferringPhysicianName", "") == ""
        assert ds.get("PatientIdentityRemoved") == "YES"
    assert seg.Modality == "SEG" and image.Modality == "MR"
    assert (image.Rows, image.Columns) == SERIES_SHAPE[1:]


def test_paths_outside_the_cohort_folder_are_relative_with_dotdot(truth, tmp_path):
    paths = write_cohort_images(truth, tmp_path / "store" / "mr", share=0.1, seed=1, base_dir=tmp_path / "csv")
    row = paths[paths["mri_baseline_dir"] != ""].iloc[0]
    assert row["mri_baseline_dir"] == f"../store/mr/{row['patient_id']}/baseline"
    target = (tmp_path / "csv" / row["mri_baseline_dir"]).resolve()
    assert target == (tmp_path / "store" / "mr" / row["patient_id"] / "baseline").resolve() and target.is_dir()


def test_same_seed_same_images_whatever_the_number_of_workers(truth, tmp_path):
    one = write_cohort_images(truth, tmp_path / "a", share=0.2, seed=9, base_dir=tmp_path)
    two = write_cohort_images(truth, tmp_path / "b", share=0.2, seed=9, base_dir=tmp_path, n_jobs=2)
    imaged = one["mri_baseline_dir"] != ""
    assert imaged.tolist() == (two["mri_baseline_dir"] != "").tolist()
    for a, b in zip(one.loc[imaged, "mri_restaging_dir"], two.loc[imaged, "mri_restaging_dir"]):
        pa = pydicom.dcmread(tmp_path / a / "IM0006.dcm").pixel_array
        pb = pydicom.dcmread(tmp_path / b / "IM0006.dcm").pixel_array
        assert np.array_equal(pa, pb)


def test_existing_patient_folders_are_not_overwritten(truth, tmp_path):
    write_cohort_images(truth, tmp_path / "img", share=0.2, seed=2, base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"patient folders already exist for \['SIM-8-"):
        write_cohort_images(truth, tmp_path / "img", share=0.2, seed=2, base_dir=tmp_path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.drop(columns="latent_score"), r"missing \['latent_score'\]"),
    (lambda t: t.assign(patient_id="../escape"), r"folder-safe pseudonym"),
    (lambda t: t.assign(patient_id="SAME"), r"patient_id must be unique"),
])
def test_bad_truth_is_refused(truth, tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        write_cohort_images(change(truth), tmp_path / "img", share=0.5, seed=0, base_dir=tmp_path)


def test_share_outside_zero_one_is_refused(truth, tmp_path):
    with pytest.raises(ValueError, match=r"share must be a fraction between 0 and 1; got 1.5 instead"):
        write_cohort_images(truth, tmp_path / "img", share=1.5, seed=0, base_dir=tmp_path)


def test_imaging_score_is_noisy_so_volume_does_not_separate_perfectly():
    """Without the imaging noise, restaging volume alone gave AUC ~0.99; now it must be well below."""
    rng = np.random.default_rng(17)
    latent = simulate(300, seed=17, with_oracle=False).truth["latent_score"].to_numpy()[:150]
    ratio = []
    for s in latent:
        pair = synth_patient(s, rng)
        ratio.append(pair["restaging_mask"].sum() / pair["baseline_mask"].sum())
    ratio, cr = np.array(ratio), latent > 0
    auc = np.mean(ratio[cr][:, None] < ratio[~cr][None, :]) + 0.5 * np.mean(ratio[cr][:, None] == ratio[~cr][None, :])
    assert 0.65 < auc < 0.92, auc


def test_reader_delineation_changes_the_outline_by_at_most_one_voxel_in_plane():
    mask = np.zeros((6, 20, 20), bool)
    mask[1:5, 5:15, 5:15] = True
    outcomes = {int(reader_delineation(mask, np.random.default_rng(k)).sum()) for k in range(40)}
    # tighter (8x8 per slice), as drawn (10x10), looser (10x10 + 4 sides of 10)
    assert outcomes == {4 * 64, 4 * 100, 4 * 140}
    small = np.zeros_like(mask)
    small[2, 9:12, 9:12] = True  # 9 voxels: never eroded away
    assert all(reader_delineation(small, np.random.default_rng(k)).sum() >= 9 for k in range(20))
