"""Synthetic baseline/restaging pairs, and the DICOM series + SEG writers round-tripping."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from scipy.stats import spearmanr

from watchwait.imaging.deid import Deidentifier
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.roi import load_roi
from watchwait.imaging.synthetic import synth_pair, write_seg, write_series


def test_pair_shapes_and_reproducibility():
    a = synth_pair(0.3, np.random.default_rng(5))
    b = synth_pair(0.3, np.random.default_rng(5))
    for key in ("baseline_image", "restaging_image", "baseline_mask", "restaging_mask"):
        assert a[key].shape == (16, 64, 64)
        assert np.array_equal(a[key], b[key])
    assert a["baseline_image"].dtype == np.float32 and a["baseline_mask"].dtype == bool
    assert a["restaging_mask"].sum() >= 30 and not (a["restaging_mask"] & ~a["baseline_mask"]).any()
    assert a["truth"]["complete_response"] and a["spacing"] == (3.0, 0.8, 0.8)
    other = synth_pair(0.3, np.random.default_rng(5), shape=(12, 48, 40), spacing=(2.5, 0.7, 0.7))
    assert other["baseline_image"].shape == (12, 48, 40)


def test_restaging_follows_the_response_with_imperfect_separation():
    rng = np.random.default_rng(11)
    scores, volume_ratio, signal, spread = [], [], [], []
    for _ in range(40):
        score = rng.normal(0, 1.2)
        pair = synth_pair(score, rng)
        image, mask = pair["restaging_image"], pair["restaging_mask"]
        scores.append(score)
        volume_ratio.append(mask.sum() / pair["baseline_mask"].sum())
        signal.append(image[mask].mean() / np.median(image))  # relative to the whole image
        spread.append(image[mask].std() / np.median(image))
    scores, volume_ratio, signal, spread = map(np.array, (scores, volume_ratio, signal, spread))
    assert spearmanr(scores, volume_ratio).statistic < -0.6  # responders shrink more
    assert spearmanr(scores, signal).statistic < -0.6  # and turn darker (fibrosis)
    strong, none = scores > 1, scores < -1
    assert spread[strong].mean() < 0.6 * spread[none].mean()  # scar: homogeneous
    cr = scores > 0
    auc = np.mean([[s < t for t in signal[~cr]] for s in signal[cr]])
    assert 0.75 < auc < 1.0  # separable, but not perfectly


def test_series_and_seg_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(3)
    pair = synth_pair(-0.5, rng, shape=(25, 64, 64))
    volume, mask = pair["restaging_image"], pair["restaging_mask"]
    write_series(volume, pair["spacing"], tmp_path / "s", "T2 TSE AX restaging", rng,
                 patient_pseudonym="WW-TEST-001", rescale=(0.5, -100.0))
    write_seg(mask, tmp_path / "s", tmp_path / "seg.dcm")
    deid = Deidentifier(b"k")
    series = load_series(tmp_path / "s", deidentifier=deid)
    assert series.shape == (25, 64, 64) and series.warnings == ()
    assert series.spacing == pytest.approx(pair["spacing"])
    stored = np.round((volume.astype(float) + 100.0) / 0.5)  # what the writer stores
    assert np.array_equal(series.array, (stored * 0.5 - 100.0).astype(np.float32))
    roi = load_roi(tmp_path / "seg.dcm", series, deidentifier=deid)
    assert roi.voxel_count == int(mask.sum()) and np.array_equal(roi.mask, mask)
    assert roi.warnings == ()  # matched by reference, not position


def test_written_header_is_synthetic_and_seg_references_the_series(tmp_path):
    rng = np.random.default_rng(4)
    pair = synth_pair(1.0, rng)
    paths = write_series(pair["baseline_image"], pair["spacing"], tmp_path / "s", "T2 AX", rng,
                         patient_pseudonym="WW-TEST-002")
    write_seg(pair["baseline_mask"], tmp_path / "s", tmp_path / "seg.dcm")
    ds = pydicom.dcmread(paths[0])
    assert ds.PatientID == "WW-TEST-002" and ds.PatientBirthDate == "" and "InstitutionName" not in ds
    assert ds.PatientIdentityRemoved == "YES" and ds.SeriesDescription == "T2 AX"
    uids = {str(pydicom.dcmread(p).SOPInstanceUID) for p in paths}
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    referenced = {str(s.ReferencedSOPInstanceUID) for f in seg.PerFrameFunctionalGroupsSequence
                  for d in f.DerivationImageSequence for s in d.SourceImageSequence}
    assert referenced and referenced <= uids
    assert seg.FrameOfReferenceUID == ds.FrameOfReferenceUID


def test_shuffled_file_names_still_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    pair = synth_pair(0.8, rng, shape=(10, 32, 32))
    paths = write_series(pair["restaging_image"], pair["spacing"], tmp_path / "s", "T2", rng)
    for i, p in enumerate(paths):  # names now sort in reverse slice order
        p.rename(p.with_name(f"x{len(paths) - i:03d}.dcm"))
    write_seg(pair["restaging_mask"], tmp_path / "s", tmp_path / "seg.dcm")
    series = load_series(tmp_path / "s")
    assert np.array_equal(series.array, np.round(pair["restaging_image"]))
    assert np.array_equal(load_roi(tmp_path / "seg.dcm", series).mask, pair["restaging_mask"])


def test_writer_rejects_values_that_do_not_fit(tmp_path):
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        write_series(np.full((2, 4, 4), 1e6), (1, 1, 1), tmp_path, "x", np.random.default_rng(0))
