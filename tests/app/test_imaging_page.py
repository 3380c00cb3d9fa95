"""Imaging screen: the features on screen are extract_features' own for the files chosen, the viewer draws the
ROI's outline on the chosen slice, uploads live on disk (paths in the session), bad files give the library's message."""

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apptest_helpers import ROOT, goto, load_sample, new_app, plotly_specs, texts
from components import imaging_figures as fig
from components import state
from watchwait.imaging.dicom_io import load_series
from watchwait.imaging.model_features import FEATURES
from watchwait.imaging.radiomics import delta_features, extract_features
from watchwait.imaging.roi import load_roi

SAMPLES = ROOT / "sample_data" / "imaging"
TRUNCATED = ROOT.parent / "shared" / "testdata" / "malformed" / "pydicom" / "MR_truncated.dcm"


def _expected(pid, visit):
    series = load_series(SAMPLES / pid / visit)
    roi = load_roi(SAMPLES / pid / f"{visit}_seg.dcm", series)
    return series, roi, extract_features(series, roi)


def _imaging(pid="DEMO-05"):
    at = new_app()
    goto(at, "imaging")
    at.selectbox(key=state.IMAGING_SAMPLE_CHOICE).select(pid)
    at.button(key="imaging_load_sample").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at, which):
    """The model table (with the change column), every feature, or the provenance table."""
    frames = [d.value for d in at.dataframe]
    if which == "model":
        return next(f for f in frames if fig.DELTA in f.columns)
    if which == "features":
        return next(f for f in frames if f.index.name.startswith("feature") and fig.DELTA not in f.columns)
    return next(f for f in frames if f.index.name == "provenance")


def test_sample_features_on_screen_are_extract_features_values():
    at = _imaging("DEMO-05")
    (_, _, base), (_, _, rest) = _expected("DEMO-05", "baseline"), _expected("DEMO-05", "restaging")
    model = _table(at, "model")
    assert list(model.index) == list(FEATURES)
    delta = delta_features(base, rest)
    for f in FEATURES:  # exact: the very numbers pyradiomics returned
        assert model.loc[f, "baseline"] == base.features[f]
        assert model.loc[f, "restaging"] == rest.features[f]
        assert model.loc[f, fig.DELTA] == delta[f"delta_{f}"] == rest.features[f] - base.features[f]
    assert model.loc["original_shape_VoxelVolume", "baseline"] == 3417.0  # 1,139 voxels x 3 mm3
    every = _table(at, "features")
    assert len(every) == len(base.features) == 107
    for f in ("original_glcm_Contrast", "original_firstorder_Entropy", "original_shape_Sphericity"):
        assert every.loc[f, "baseline"] == base.features[f] and every.loc[f, "restaging"] == rest.features[f]
    prov = _table(at, "provenance")
    for visit, r in (("baseline", base), ("restaging", rest)):
        for key, label in (("image_sha256", "image sha256"), ("mask_sha256", "mask sha256"),
                           ("params_sha256", "parameter file sha256"), ("pyradiomics", "pyradiomics")):
            assert prov.loc[label, visit] == r.provenance[key]
    assert "Identifiers removed on ingest (DICOM PS3.15 basic profile)" in texts(at)
    assert not at.error


def test_viewer_outlines_the_roi_on_the_chosen_slice_with_the_roi_window():
    at = _imaging("DEMO-01")
    series, roi, _ = _expected("DEMO-01", "baseline")
    k = fig.best_slice(roi.mask)
    assert at.slider(key="imaging:baseline:slice").value == k + 1  # opens on the largest tumour section
    level, width = fig.default_window(series.array, roi.mask)
    assert at.slider(key="imaging:baseline:level").value == round(level)
    assert at.slider(key="imaging:baseline:width").value == round(width)
    spec = plotly_specs(at)[0]
    assert spec["data"][0]["type"] == "image" and spec["data"][0]["source"].startswith("data:image/png;base64,")
    line = spec["data"][1]
    assert (line["x"], line["y"]) == tuple(fig.outline(roi.mask[k], series.spacing[1:]))
    # move to a slice without tumour: no outline; back to one with tumour: its own outline
    empty = int(np.flatnonzero(roi.mask.reshape(len(roi.mask), -1).sum(1) == 0)[0])
    at.slider(key="imaging:baseline:slice").set_value(empty + 1).run()
    assert [t["type"] for t in plotly_specs(at)[0]["data"]] == ["image"]
    j = int(np.flatnonzero(roi.mask.reshape(len(roi.mask), -1).sum(1))[0])
    at.slider(key="imaging:baseline:slice").set_value(j + 1).run()
    assert (plotly_specs(at)[0]["data"][1]["x"]) == fig.outline(roi.mask[j], series.spacing[1:])[0]


def test_sample_of_the_current_patient_is_preselected():
    at = new_app()
    load_sample(at, "DEMO-09")
    goto(at, "imaging")
    assert at.selectbox(key=state.IMAGING_SAMPLE_CHOICE).value == "DEMO-09"
    assert "No images yet" in texts(at)


def _zip(*paths) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in paths:
            zf.write(p, Path(p).name)
    return buf.getvalue()


def test_malformed_upload_shows_the_plain_message_and_keeps_only_paths():
    at = new_app()
    goto(at, "imaging")
    at.file_uploader(key="imaging:baseline:series_upload").upload("MR_truncated.zip", _zip(TRUNCATED), "application/zip")
    seg = SAMPLES / "DEMO-01" / "baseline_seg.dcm"
    at.file_uploader(key="imaging:baseline:roi_upload").upload("baseline_seg.dcm", seg.read_bytes())
    at.run()
    at.button(key="imaging:baseline:use_upload").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The series could not be used. MR_truncated.zip:MR_truncated.dcm: pixel data is truncated "
        "(expected 8192 bytes, found 8130)"]
    assert "Traceback" not in texts(at)
    src = at.session_state[state.IMAGING_SOURCES]["baseline"]
    assert set(src) == {"series", "roi", "label"} and all(isinstance(v, str) for v in src.values())
    assert src["series"].endswith("MR_truncated.zip") and zipfile.is_zipfile(src["series"])  # written to disk
    assert os.path.commonpath([src["series"], tempfile.gettempdir()]) == tempfile.gettempdir()
    assert not any(isinstance(v, (bytes, bytearray)) for v in _values(at.session_state[state.IMAGING_SOURCES]))


def _values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    else:
        yield obj


def test_uploaded_files_give_the_same_features_as_the_sample():
    at = new_app()
    goto(at, "imaging")
    files = [(p.name, p.read_bytes(), "application/dicom") for p in sorted((SAMPLES / "DEMO-01" / "restaging").iterdir())]
    at.file_uploader(key="imaging:restaging:series_upload").set_value(files)
    seg = SAMPLES / "DEMO-01" / "restaging_seg.dcm"
    at.file_uploader(key="imaging:restaging:roi_upload").upload(seg.name, seg.read_bytes())
    at.run()
    at.button(key="imaging:restaging:use_upload").click().run()
    assert not at.exception and not at.error
    _, _, rest = _expected("DEMO-01", "restaging")
    every = _table(at, "features")
    assert list(every.columns) == ["restaging"]
    assert every.loc["original_glszm_SizeZoneNonUniformityNormalized", "restaging"] == \
        rest.features["original_glszm_SizeZoneNonUniformityNormalized"]
    assert "needs both visits" in texts(at)


# ----------------------------------------------------------------------------- pure builders

def test_outline_of_a_square_follows_its_pixel_edges():
    mask = np.zeros((5, 5), bool)
    mask[1:3, 2:4] = True  # rows 1-2, columns 2-3
    xs, ys = fig.outline(mask, (2.0, 1.0))  # dy = 2 mm, dx = 1 mm
    segments = {((xs[i], ys[i]), (xs[i + 1], ys[i + 1])) for i in range(0, len(xs), 3)}
    assert segments == {((1.5, 1.0), (3.5, 1.0)), ((1.5, 5.0), (3.5, 5.0)),  # top and bottom edges
                        ((1.5, 1.0), (1.5, 5.0)), ((3.5, 1.0), (3.5, 5.0))}  # left and right edges


def test_default_window_is_centred_on_the_roi_percentiles():
    rng = np.random.default_rng(0)
    vol = rng.normal(300, 10, (4, 20, 20))
    mask = np.zeros(vol.shape, bool)
    mask[:, 5:10, 5:10] = True
    vol[mask] = rng.normal(600, 40, mask.sum())
    level, width = fig.default_window(vol, mask)
    lo, hi = np.percentile(vol[mask], [1, 99])
    assert level == pytest.approx((lo + hi) / 2) and width == pytest.approx(fig.ROI_WINDOW_FACTOR * (hi - lo))
    grey = fig.windowed(np.array([[level - width, level, level + width]]), level, width)
    assert grey.tolist() == [[0, 128, 255]]


def test_upload_folder_is_removed_when_the_session_lets_go_of_it():
    import gc

    folder = state.UploadFolder()
    path = Path(folder.path)
    (path / "baseline").mkdir()
    (path / "baseline" / "x.dcm").write_bytes(b"not kept")
    assert path.is_dir()
    del folder
    gc.collect()
    assert not path.exists()


def test_using_the_radiomics_feeds_them_into_the_patients_assessment(sample_records):
    import watchwait
    from components.imaging import model_columns

    at = new_app()
    load_sample(at, "DEMO-02")  # a patient without MRI
    goto(at, "imaging")
    at.selectbox(key=state.IMAGING_SAMPLE_CHOICE).select("DEMO-05")
    at.button(key="imaging_load_sample").click().run()
    at.button(key="imaging_use_radiomics").click().run()
    assert not at.exception, [e.value for e in at.exception]
    base, rest = _expected("DEMO-05", "baseline")[2], _expected("DEMO-05", "restaging")[2]
    expected = model_columns(base.features, rest.features, delta_features(base, rest), FEATURES)
    assert len(expected) == 15
    extra = at.session_state[state.EXTRA]
    assert {k: extra[k] for k in expected} == expected
    before = watchwait.assess(sample_records["DEMO-02"])
    after = watchwait.assess({**sample_records["DEMO-02"], **expected})
    assert "radiomics" in before.missing_modalities and "radiomics" not in after.missing_modalities
    assert after.probability != before.probability  # imaging changes the prediction through the model
    goto(at, "assessment")
    assert f"{after.probability:.0%}" in texts(at)
