"""Imaging screen: choosing each visit's series and ROI (sample or upload), loading them, the viewer and the tables.

Uploads are written at once to this session's temporary folder (:func:`components.state.upload_dir`);
session state keeps only their paths. Loaded visits (arrays, mask, features) are memoised in this
session's state, never in a cache shared between users. Only ``ImagingError`` (the imaging library's
plain messages) is caught; anything else is a bug and surfaces as one. Nothing here logs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from components import cache, state
from components import imaging_figures as fig
from watchwait.errors import ImagingError

VISITS = ("baseline", "restaging")
TITLES = {"baseline": "Baseline (before treatment)", "restaging": "Restaging (response assessment)"}
DEID_NOTE = ("Identifiers removed on ingest (DICOM PS3.15 basic profile): names and IDs become a keyed pseudonym, "
             "UIDs are replaced, dates shifted, private tags dropped, before anything is stored or shown.")
SERIES_TYPES = ["zip", "dcm", "ima", "dicom"]
ROI_TYPES = ["dcm", "nii", "gz", "nrrd", "mha", "mhd"]


@dataclass(frozen=True)
class Visit:
    """One loaded visit: the de-identified series, its ROI mask and the features (or a plain error)."""

    label: str
    series: object | None = None  # watchwait.imaging.Series
    roi: object | None = None  # watchwait.imaging.roi.RoiMask
    result: object | None = None  # watchwait.imaging.radiomics.RadiomicsResult
    error: str | None = None


# ----------------------------------------------------------------------------- sources

def sample_paths(patient_id: str, visit: str) -> tuple[Path, Path]:
    folder = cache.SAMPLE_IMAGING / patient_id
    return folder / visit, folder / f"{visit}_seg.dcm"


def use_sample(patient_id: str) -> None:
    for visit in VISITS:
        series, roi = sample_paths(patient_id, visit)
        state.set_imaging_source(visit, str(series), str(roi), f"sample {patient_id} (synthetic)")


def _load_sample_clicked() -> None:
    choice = st.session_state.get(state.IMAGING_SAMPLE_CHOICE)
    if choice:
        use_sample(choice)


def save_upload(visit: str, series_files: list, roi_file) -> None:
    """Write one visit's uploaded files to this session's folder (replacing that visit's earlier upload)
    and point the visit at them. One .zip stays a zip (the reader opens it); several files go to a folder."""
    folder = Path(state.upload_dir()) / visit
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "series").mkdir(parents=True)
    (folder / "roi").mkdir()
    for f in series_files:
        (folder / "series" / Path(f.name).name).write_bytes(f.getvalue())
    only = series_files[0].name if len(series_files) == 1 else ""
    series = folder / "series" / Path(only).name if only.lower().endswith(".zip") else folder / "series"
    roi = folder / "roi" / Path(roi_file.name).name
    roi.write_bytes(roi_file.getvalue())
    names = series_files[0].name if len(series_files) == 1 else f"{len(series_files)} files"
    state.set_imaging_source(visit, str(series), str(roi), f"upload: {names} + {roi_file.name}")


def _upload_clicked(visit: str) -> None:
    files = st.session_state.get(state.imaging_key(visit, "series_upload")) or []
    roi = st.session_state.get(state.imaging_key(visit, "roi_upload"))
    if files and roi is not None:
        save_upload(visit, list(files), roi)


def source_picker() -> None:
    """A shipped sample for both visits, or an upload per visit."""
    ids = cache.sample_imaging_ids()
    current = str(state.raw().get("patient_id") or "")
    if ids:
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        if state.IMAGING_SAMPLE_CHOICE not in st.session_state:
            st.session_state[state.IMAGING_SAMPLE_CHOICE] = current if current in ids else ids[0]
        left.selectbox("Sample imaging (synthetic MR, baseline and restaging)", ids, key=state.IMAGING_SAMPLE_CHOICE,
                       help="Small synthetic T2-weighted series with a DICOM SEG of the tumour; no real patient.")
        right.button("Load sample images", key="imaging_load_sample", on_click=_load_sample_clicked, type="primary")
    with st.expander("Upload a series and its tumour ROI", icon=":material/upload_file:",
                     expanded=not state.imaging_sources()):
        st.caption("Series: a .zip of one DICOM series, or several DICOM files. ROI: a DICOM SEG, an RTSTRUCT or a "
                   "NIfTI mask on the same grid. Files are kept in a temporary folder of this session only. "
                   + DEID_NOTE)
        cols = st.columns(2)
        for col, visit in zip(cols, VISITS):
            with col:
                st.markdown(f"**{TITLES[visit]}**")
                st.file_uploader("DICOM series (.zip or files)", accept_multiple_files=True, type=SERIES_TYPES,
                                 key=state.imaging_key(visit, "series_upload"))
                st.file_uploader("Tumour ROI (SEG, RTSTRUCT or NIfTI)", type=ROI_TYPES,
                                 key=state.imaging_key(visit, "roi_upload"))
                st.button(f"Use these files for {visit}", key=state.imaging_key(visit, "use_upload"),
                          on_click=_upload_clicked, args=(visit,))


# ----------------------------------------------------------------------------- loading

def _stamp(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def load_visit(visit: str) -> Visit | None:
    """The visit's series, ROI and features (memoised in this session), None when no source is chosen."""
    src = state.imaging_sources().get(visit)
    if not src:
        return None
    key = (src["series"], _stamp(src["series"]), src["roi"], _stamp(src["roi"]))
    memo = state.imaging_memo()
    if key in memo:
        return memo[key]
    loaded = _load(src)
    if len(memo) >= state.IMAGING_MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = loaded
    return loaded


def _load(src: dict[str, str]) -> Visit:
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi

    label = src["label"]
    try:
        series = load_series(src["series"])
    except ImagingError as exc:
        return Visit(label, error=f"The series could not be used. {exc}")
    try:
        roi = load_roi(src["roi"], series)
    except ImagingError as exc:
        return Visit(label, series, error=f"The tumour ROI could not be used. {exc}")
    try:
        result = extract_features(series, roi)
    except ImagingError as exc:
        return Visit(label, series, roi, error=f"Radiomics could not be computed. {exc}")
    return Visit(label, series, roi, result)


# ----------------------------------------------------------------------------- viewer

def viewer(visit: str, v: Visit | None, large: bool = False) -> None:
    """One visit: a slice with the ROI outline, and its slice, level and width controls."""
    st.subheader(TITLES[visit])
    if v is None:
        st.info("No images chosen for this visit.")
        return
    st.caption(f"Source: {v.label}")
    if v.error:
        st.error(v.error)
    if v.series is None:
        return
    series, mask = v.series, (v.roi.mask if v.roi is not None else None)
    volume = series.array
    nz = volume.shape[0]
    k_slice, k_level, k_width = (state.imaging_key(visit, w) for w in ("slice", "level", "width"))
    lo, hi, step = fig.control_range(volume)
    step = _snap(step, step)  # int sliders for integer-valued MR, floats otherwise
    if k_level not in st.session_state:
        level, width = fig.default_window(volume, mask if mask is not None else volume > -1e30)
        st.session_state[k_level] = _snap(min(max(level, lo), hi), step)
        st.session_state[k_width] = _snap(min(max(width, step), 2 * (hi - lo) + step), step)
        st.session_state[k_slice] = (fig.best_slice(mask) if mask is not None else nz // 2) + 1
    k = st.session_state[k_slice] - 1 if nz > 1 else 0
    st.plotly_chart(fig.slice_figure(volume[k], None if mask is None else mask[k], st.session_state[k_level],
                                     st.session_state[k_width], series.spacing[1:], large=large),
                    key=f"imaging:{visit}:figure", theme=None, config={"displaylogo": False})
    if nz > 1:
        st.slider(f"Slice (1-{nz})", 1, nz, key=k_slice, help="Slices ordered along the slice normal (feet to head for axial).")
    c1, c2 = st.columns(2)
    c1.slider("Window level", _snap(lo, step), _snap(hi, step), step=step, key=k_level,
              help="Intensity at mid-grey. Default: the middle of the ROI's 1st-99th percentiles.")
    c2.slider("Window width", step, _snap(2 * (hi - lo) + step, step), step=step, key=k_width,
              help="Intensity range from black to white. Default: 2.5x the ROI's 1st-99th percentile range.")
    roi_note = f"ROI: {v.roi.kind} '{v.roi.name}', {v.roi.voxel_count:,} voxels" if v.roi is not None else "no ROI"
    st.caption(f"{series.shape[0]} slices of {series.shape[1]} x {series.shape[2]}, spacing "
               f"{series.spacing[0]:g} x {series.spacing[1]:g} x {series.spacing[2]:g} mm; {roi_note}; "
               f"pseudonym {series.patient_pseudonym}.")
    notes = list(series.warnings) + (list(v.roi.warnings) if v.roi is not None else [])
    for note in notes:
        st.warning(note, icon=":material/warning:")


def _snap(x: float, step: float) -> float | int:
    return int(round(x)) if step >= 1 else round(round(x / step) * step, 10)


# ----------------------------------------------------------------------------- tables

def same_patient_check(visits: dict[str, Visit | None]) -> None:
    names = {v.series.patient_pseudonym for v in visits.values() if v is not None and v.series is not None}
    if len(names) > 1:
        st.warning("Baseline and restaging carry different patient pseudonyms: check that both series belong to "
                   "the same patient.", icon=":material/warning:")


def model_columns(baseline: dict, restaging: dict, delta: dict, features) -> dict[str, float]:
    """The model's ``radiomics_<visit>_<feature>`` columns (as in a cohort file) from one patient's visits."""
    out = {}
    for f in features:
        out[f"radiomics_baseline_{f}"] = float(baseline[f])
        out[f"radiomics_restaging_{f}"] = float(restaging[f])
        out[f"radiomics_delta_{f}"] = float(delta[f"delta_{f}"])
    return out


def _use_radiomics(columns: dict[str, float]) -> None:
    state.extra().update(columns)


def features(visits: dict[str, Visit | None]) -> None:
    """The model's features with the change, every feature, and where the values come from."""
    from watchwait.imaging.model_features import FEATURES
    from watchwait.imaging.radiomics import delta_features

    done = {visit: v.result for visit, v in visits.items() if v is not None and v.result is not None}
    if not done:
        return
    st.subheader("Radiomics (pyradiomics)")
    if len(done) == 2:
        base, rest = done["baseline"], done["restaging"]
        try:
            delta = delta_features(base, rest)
        except ImagingError as exc:
            st.error(f"The change between visits cannot be computed. {exc}")
        else:
            st.markdown("**The model's radiomics features and their change** (restaging - baseline; intensities "
                        "are on each image's z-scored scale x100, so the visits are comparable)")
            st.dataframe(fig.model_delta_table(base.features, rest.features, delta, FEATURES))
            columns = model_columns(base.features, rest.features, delta, FEATURES)
            st.button("Use these radiomics in this patient's assessment", key="imaging_use_radiomics",
                      on_click=_use_radiomics, args=(columns,),
                      help="Writes the model's 15 radiomic columns into the current patient's record; the "
                           "Assessment then includes the MRI radiomics branch (see its contributions).")
            if all(state.extra().get(k) == v for k, v in columns.items()):
                st.caption("These radiomics are part of the current patient's record.")
    else:
        missing = next(v for v in VISITS if v not in done)
        st.info(f"The change (restaging - baseline) needs both visits; the {missing} features are not available.")
    st.markdown(f"**Every feature extracted** ({len(next(iter(done.values())).features)} per visit, "
                "pyradiomics names)")
    st.dataframe(fig.feature_table({visit: r.features for visit, r in done.items()}), height=320)
    st.markdown("**Provenance**")
    prov = fig.provenance_table({visit: r.provenance for visit, r in done.items()})
    st.dataframe(prov, height=35 * (len(prov) + 1) + 3)
    st.caption("Image and mask sha256: of the arrays passed to pyradiomics (image as float32, mask as uint8), so a value "
               "can be traced to exactly what was measured. Parameter file sha256: of the versioned pyradiomics settings.")
