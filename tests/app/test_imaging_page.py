"""Imaging screen: the features on screen are extract_features' own for the files chosen, the viewer draws the
ROI's outline on the chosen slice, images belong to the open patient (only its own sample images are offered; a
series of another patient is refused), uploads never stay on disk, bad files give the library's message."""

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from apptest_helpers import ROOT, errors, goto, load_sample, new_app, plotly_specs, texts
from apptest_helpers import upload_imaging as _upload
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
    """Sample patient ``pid`` open, its own sample images loaded on the Imaging screen."""
    at = new_app()
    load_sample(at, pid)
    goto(at, "imaging")
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
    from watchwait.features import RADIOMIC_NAMES

    assert list(model.index) == [RADIOMIC_NAMES[f][0] for f in FEATURES]  # clinical names, the technical one beside
    model = model.set_index(fig.PYRADIOMICS_NAME)
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
        assert prov.loc["series check (the model's images: T2-weighted axial pelvic MR)", visit] == "fit for the model"
    assert "Identifiers removed on ingest (DICOM PS3.15 Basic Profile, every attribute of its table, with the Clean Descriptors option)" in texts(at)
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


def test_only_the_open_patients_own_sample_images_are_offered():
    at = new_app()
    goto(at, "imaging")  # no patient open: nothing can be loaded
    assert "Open a patient first" in texts(at) and not at.file_uploader
    load_sample(at, "DEMO-09")
    goto(at, "imaging")
    assert at.button(key="imaging_load_sample").label.replace("\\", "") == "Load DEMO-09's sample images"
    assert "No images yet" in texts(at)
    load_sample(at, "DEMO-02")  # a sample patient without images: no other patient's images on offer
    goto(at, "imaging")
    assert not [b for b in at.button if b.key == "imaging_load_sample"]
    assert "Sample images exist only for the sample patients DEMO-01, DEMO-05, DEMO-09" in texts(at)


def test_each_visit_says_whose_it_is_and_when_it_was_loaded():
    at = _imaging("DEMO-05")
    shown = texts(at)
    assert shown.count("for patient **DEMO-05** (the open patient)") == 2
    assert shown.count("source: sample images of DEMO-05 (synthetic)") == 2
    bound = at.session_state[state.IMAGING_VISITS]
    assert {b.patient_id for b in bound.values()} == {"DEMO-05"}
    assert all(f"Loaded on {b.loaded_at} for patient **DEMO-05**" in shown for b in bound.values())


def _zip(*paths) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in paths:
            zf.write(p, Path(p).name)
    return buf.getvalue()



def _files(pid, visit):
    return [(p.name, p.read_bytes(), "application/dicom") for p in sorted((SAMPLES / pid / visit).iterdir())]


@pytest.mark.skipif(not TRUNCATED.exists(), reason=f"shared test data not found at {TRUNCATED}")
def test_malformed_upload_shows_the_plain_message_and_nothing_stays_on_disk(monkeypatch, tmp_path):
    import watchwait.imaging.dicom_io as dicom_io

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the private folder is made
    seen = []
    real = dicom_io.load_series

    def spy(source, **kw):  # while the library reads: a private folder, private files
        folder = Path(source).parent
        files = sorted(Path(source).iterdir())
        seen.append((oct(folder.stat().st_mode & 0o777), {oct(f.stat().st_mode & 0o777) for f in files}, str(folder)))
        return real(source, **kw)

    monkeypatch.setattr(dicom_io, "load_series", spy)
    at = new_app()
    load_sample(at, "DEMO-02")
    goto(at, "imaging")
    seg = SAMPLES / "DEMO-01" / "baseline_seg.dcm"
    _upload(at, "baseline", [("MR_truncated.zip", _zip(TRUNCATED), "application/zip")], "baseline_seg.dcm", seg.read_bytes())
    assert errors(at) == [
        "The series could not be used. 00001.dcm: pixel data is truncated "  # files are stored numbered
        "(expected 8192 bytes, found 8130)"]
    assert "Traceback" not in texts(at)
    assert len(seen) == 1 and seen[0][:2] == ("0o700", {"0o600"})
    assert Path(seen[0][2]).parent == tmp_path and list(tmp_path.iterdir()) == []  # deleted before the click returned


def test_uploaded_files_never_stay_on_disk_and_give_the_sample_features(monkeypatch, tmp_path):
    import watchwait.imaging.dicom_io as dicom_io

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    on_disk = []
    real = dicom_io.load_series

    def spy(source, **kw):  # while the library reads the stored copy: is the PatientID anywhere on disk?
        on_disk.extend(str(f) for f in tmp_path.rglob("*") if f.is_file() and b"DEMO-01" in f.read_bytes())
        on_disk.append("checked")
        return real(source, **kw)

    monkeypatch.setattr(dicom_io, "load_series", spy)
    assert all(b"DEMO-01" in data for _, data, _ in _files("DEMO-01", "restaging"))  # identifiers in the upload
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    seg = SAMPLES / "DEMO-01" / "restaging_seg.dcm"
    _upload(at, "restaging", _files("DEMO-01", "restaging"), seg.name, seg.read_bytes())
    assert not at.error
    assert on_disk == ["checked"]  # de-identified before any byte reached the disk
    assert list(tmp_path.iterdir()) == []  # and nothing written stays
    assert "for patient **DEMO-01** (the open patient) · source: uploaded series 1, 12 files + tumour ROI" in texts(at)
    assert seg.name not in "\n".join(texts(at))  # an uploaded file's name (often the patient's) is never shown
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


def test_default_window_of_an_int16_series_copies_it_at_most_once():
    """The viewer's first window on an int16 MR series allocates at most about the series once more (it was a float64
    copy, 4x, and a whole-volume mask without an ROI: 8x), and gives the same window as the float computation."""
    import tracemalloc

    rng = np.random.default_rng(1)
    vol = rng.integers(0, 3000, size=(40, 256, 256)).astype(np.int16)
    mask = np.zeros(vol.shape, bool)
    mask[15:25, 100:140, 100:140] = True
    for m in (mask, None):
        tracemalloc.start()
        level, width = fig.default_window(vol, m)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= 1.1 * vol.nbytes, (m is None, peak / vol.nbytes)
        ref = vol.astype(float)
        lo, hi = np.percentile(ref[m] if m is not None else ref, [1, 99])
        img_lo, img_hi = np.percentile(ref, [1, 99])
        assert level == (lo + hi) / 2
        assert width == max(fig.ROI_WINDOW_FACTOR * (hi - lo), fig.MIN_IMAGE_SHARE * (img_hi - img_lo))


def test_private_folder_is_private_and_gone_even_when_reading_fails(monkeypatch, tmp_path):
    from components.imaging import private_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(RuntimeError), private_folder() as folder:
        assert folder.stat().st_mode & 0o777 == 0o700
        (folder / "x.dcm").write_bytes(b"PatientID=MRN123")
        raise RuntimeError("reader crashed")
    assert list(tmp_path.iterdir()) == []


def test_a_series_of_another_patient_is_refused_with_the_reason():
    at = new_app()
    load_sample(at, "DEMO-02")
    goto(at, "imaging")
    _upload(at, "baseline", _files("DEMO-01", "baseline"), "b.dcm", (SAMPLES / "DEMO-01" / "baseline_seg.dcm").read_bytes())
    assert not at.error
    _upload(at, "restaging", _files("DEMO-05", "restaging"), "r.dcm", (SAMPLES / "DEMO-05" / "restaging_seg.dcm").read_bytes())
    assert any(e.startswith("Refused: this series belongs to another patient than the baseline series") for e in errors(at))
    bound = at.session_state[state.IMAGING_VISITS]
    assert bound["restaging"].visit.series is None and bound["restaging"].visit.result is None
    assert not [b for b in at.button if b.key == "imaging_use_radiomics"]  # nothing to write into the record
    assert "needs both visits" in texts(at)


def test_using_the_radiomics_feeds_them_into_the_patients_assessment_and_the_banner_says_so(sample_records):
    import watchwait
    from components.imaging import model_columns

    at = _imaging("DEMO-05")
    at.button(key="imaging_use_radiomics").click().run()
    assert not at.exception, [e.value for e in at.exception]
    base, rest = _expected("DEMO-05", "baseline")[2], _expected("DEMO-05", "restaging")[2]
    expected = model_columns(base.features, rest.features, delta_features(base, rest), FEATURES)
    extra = at.session_state[state.EXTRA]
    assert {k: v for k, v in extra.items() if k.startswith("radiomics_")} == expected
    without = {k: v for k, v in sample_records["DEMO-05"].items() if not k.startswith("radiomics_")}
    after = watchwait.assess({**without, **expected})
    goto(at, "assessment")
    assert f"{after.probability:.0%}" in texts(at)
    sources = at.session_state[state.RADIOMICS_SOURCE]
    loaded = [b.loaded_at for b in at.session_state[state.IMAGING_VISITS].values()]
    assert sources["kind"] == "imaging" and sources["at"] == loaded

    banner = [h.proto.body for h in at.get("html") if 'class="ww-facts"' in h.proto.body][0]
    assert f"Radiomics: from the MRI series loaded on {loaded[0]}" in banner and "for this patient" in banner


# ----------------------------------------------------------------------------- series checks (issue 18 item 1)

STS = ROOT.parent / "shared" / "testdata" / "mr" / "sts_025_t1" / "dicom"
T1_REASONS = ("T1-weighted (its description says T1, no TR or TE recorded), not T2; "
              "body part EXTREMITY, not pelvis")


def _sts_files():
    return [(p.name, p.read_bytes(), "application/dicom") for p in sorted((STS / "image").iterdir())]


@pytest.mark.skipif(not STS.is_dir(), reason=f"shared test data not found at {STS}")
def test_a_t1_limb_series_is_shown_but_kept_out_of_the_model_with_its_reasons():
    from components.imaging import kept_out_cell, kept_out_reasons
    from components.safe import unescape

    at = new_app()
    load_sample(at, "DEMO-13")
    goto(at, "imaging")
    rs = (STS / "mask" / "RS.dcm").read_bytes()
    _upload(at, "baseline", _sts_files(), "RS.dcm", rs)
    _upload(at, "restaging", _sts_files(), "RS.dcm", rs)
    shown = [unescape(e) for e in errors(at)]
    expected = ("**Not used by the model.** This series is not the kind of image the model was built on (T2-weighted "
                "axial pelvic MR), so its measurements do not enter the model; you can view it.\n"
                "- T1-weighted (its description says T1, no TR or TE recorded), not T2\n"
                "- body part EXTREMITY, not pelvis")
    assert shown == [expected, expected]
    assert len(plotly_specs(at)) == 2  # both still viewable
    assert not [b for b in at.button if b.key == "imaging_use_radiomics"]  # nothing offered to the record
    assert ("**Not for the model.** The baseline and restaging measurements below come from a series that is not a "
            "T2-weighted axial pelvic MR series, or not confirmed as one (see above its viewer): shown for reading, "
            "they do not enter the model or the assessment.") in texts(at)
    assert not [k for k in at.session_state[state.EXTRA] if k.startswith("radiomics_")]
    bound = at.session_state[state.IMAGING_VISITS]
    identity = (at.session_state[state.PATIENT_TOKEN], "DEMO-13")
    cell = kept_out_cell(bound, identity, {})
    assert kept_out_reasons(visits=bound, identity=identity, confirmed={}) == [
        f"{v} MRI kept out of the model: {T1_REASONS}" for v in ("baseline", "restaging")]
    assert cell.count(" | ") == 1
    assert kept_out_cell(bound, (identity[0] + 1, "DEMO-13"), {}) == ""  # another patient opened since: nothing
    # the Assessment says why (brief rule 12): the record it assesses carries the series checks' reasons
    goto(at, "assessment")
    screen = unescape(texts(at))
    assert "kept out by the series checks" in screen and "T1-weighted" in screen and "body part EXTREMITY" in screen


def test_a_series_without_an_roi_opens_in_the_viewer_and_says_what_radiomics_need():
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    at.button(key="imaging:baseline:use_upload").click().run()  # nothing chosen: said, not silent
    assert "Choose the DICOM series first" in texts(at)
    at.file_uploader(key="imaging:baseline:series_upload").set_value(_files("DEMO-01", "baseline"))
    at.run()
    at.button(key="imaging:baseline:use_upload").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    v = at.session_state[state.IMAGING_VISITS]["baseline"].visit
    assert v.series is not None and v.roi is None and v.result is None and v.check.fit_for_model is True
    assert len(plotly_specs(at)) == 1 and [s for s in at.slider if s.key == "imaging:baseline:slice"]
    assert "No tumour ROI: the series can be viewed, but radiomics need the tumour outlined." in texts(at)
    assert "Choose the DICOM series first" not in texts(at)
    assert "Series check: fit for the model (T2-weighted axial pelvic MR)" in texts(at)


def _without_timing(pid, visit):
    """The sample series with its TR, TE and description removed: nothing says it is not T2, nothing says it is."""
    out = []
    for name, data, kind in _files(pid, visit):
        ds = pydicom.dcmread(io.BytesIO(data))
        del ds.RepetitionTime, ds.EchoTime, ds.SeriesDescription
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append((name, buf.getvalue(), kind))
    return out


def test_an_unsettled_series_enters_the_model_only_once_a_named_clinician_confirms_it():
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "imaging")
    for visit in ("baseline", "restaging"):
        seg = SAMPLES / "DEMO-01" / f"{visit}_seg.dcm"
        _upload(at, visit, _without_timing("DEMO-01", visit), seg.name, seg.read_bytes())
    assert [w.value for w in at.warning][0].replace("\\", "") == (
        "**Not used by the model unless you confirm it.** Its headers cannot settle whether this is a T2-weighted "
        "axial pelvic MR series; until a clinician confirms it, its measurements do not enter the model.\n"
        "- the weighting cannot be read: no TR or TE recorded, and no T2 or T1 in its description")
    confirm = at.button(key="imaging:baseline:confirm")
    assert confirm.disabled  # no name yet: a confirmation records who
    assert not [b for b in at.button if b.key == "imaging_use_radiomics"]
    at.session_state[state.ACTOR] = "Dr A. Example"
    at.run()
    at.button(key="imaging:baseline:confirm").click().run()
    confirmed = at.session_state["imaging:confirmed"]
    uid = at.session_state[state.IMAGING_VISITS]["baseline"].visit.series.series_instance_uid
    record = confirmed[("DEMO-01", uid)]
    assert record["by"] == "Dr A. Example" and record["at"].endswith(" UTC")
    row = _table(at, "provenance").loc["series check (the model's images: T2-weighted axial pelvic MR)"]
    assert row["baseline"] == f"not settled by its headers; confirmed by Dr A. Example on {record['at']}"
    assert row["restaging"].startswith("not settled by its headers, not confirmed: the weighting cannot be read")
    assert (f"**Confirmed for the model** by Dr A. Example on {record['at']}: a T2-weighted axial pelvic MR series. "
            "Its headers could not settle it:") in texts(at)
    assert not [b for b in at.button if b.key == "imaging_use_radiomics"]  # restaging still unconfirmed
    at.button(key="imaging:restaging:confirm").click().run()
    at.button(key="imaging_use_radiomics").click().run()
    assert not at.exception, [e.value for e in at.exception]
    source = at.session_state[state.RADIOMICS_SOURCE]
    assert source["series_checks"]["baseline"]["confirmed"]["by"] == "Dr A. Example"
    assert source["series_checks"]["baseline"]["fit_for_model"] is None
    assert any(k.startswith("radiomics_") for k in at.session_state[state.EXTRA])
    at.button(key="imaging:baseline:unconfirm").click().run()
    assert not [b for b in at.button if b.key == "imaging_use_radiomics"]
    opened = {k: v for k, v in at.session_state[state.PATIENT_LOADED]["extra"].items() if k.startswith("radiomics_")}
    now = {k: v for k, v in at.session_state[state.EXTRA].items() if k.startswith("radiomics_")}
    assert now == opened  # the series' radiomics taken back out; the record's own (from its file) back
    assert (at.session_state[state.RADIOMICS_SOURCE] or {}).get("kind") != "imaging"
