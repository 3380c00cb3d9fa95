"""Imaging screen: each visit's series and ROI (this patient's sample images, a series from the hospital's PACS,
or an upload), loaded for the patient open now; the viewer and the tables.

The PACS (:func:`pacs_section`; ``[pacs]`` in the secrets, else the ``WATCHWAIT_PACS_*`` environment variables) is
searched by Patient ID or accession number (:mod:`watchwait.imaging.pacs`); the series found are listed in
clinicians' words (date, modality, images, the PACS's description as literal text, the series check, the tumour
ROI), never by UID; the chosen one is retrieved with its ROI through the upload's in-memory de-identification.
Results are kept in this session for the open patient only (an ``imaging:`` key), never cached across users.

Every loaded visit is bound to the patient identity open when it was loaded (:func:`components.state.identity`)
and says so on screen; it is dropped when another patient is opened or the pseudonym changes
(:func:`components.identity.enforce`). A restaging series whose patient (DICOM PatientID, compared through its
keyed pseudonym) differs from the baseline's, or the reverse, is refused with the reason.

Uploads never reach the disk as uploaded: :mod:`watchwait.imaging.ingest` parses and de-identifies them in
memory and writes only de-identified data sets, to a private folder (mode 0700, files 0600) that exists only for
the time the imaging library reads them and is deleted before the click returns, whatever happens.
What is kept (in this session's state only) is the de-identified series, the ROI mask and the features.
Only ``ImagingError`` (the imaging library's plain messages) is caught; anything else is a bug and
surfaces as one. Nothing here logs.

Every series is checked against the model's images (:mod:`watchwait.imaging.series_check`: T2-weighted axial
pelvic MR) as it is loaded. A series that is not fit stays viewable, with its reasons above the viewer, and its
measurements are not offered to the model; one its headers cannot settle is offered only after a clinician
confirms it (:func:`confirm_series`: who (the signed-in person, or the name typed in local mode; only a role that
may assess: clinician, chair) and when, in UTC; kept in this
session's state for that patient and series, and dropped with the images when another patient is opened).
:func:`kept_out_cell` says, for the record given to the engine, why the loaded series were kept out.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import streamlit as st

from components import auth, cache, roles, state
from components import imaging_figures as fig
from components.safe import md
from components.tables import safe_frame
from watchwait.errors import ImagingError

VISITS = ("baseline", "restaging")
TITLES = {"baseline": "Baseline (before treatment)", "restaging": "Restaging (response assessment)"}
DEID_NOTE = ("Identifiers removed on ingest (DICOM PS3.15 Basic Profile, every attribute of its table, with the Clean "
             "Descriptors option): names and IDs become a keyed pseudonym, UIDs are replaced, dates shifted, private "
             "tags dropped, and free text (descriptions, ROI names, comments) keeps only words of a fixed clinical "
             "vocabulary, before anything is shown. Text burned into the pixels is not removed.")
UPLOAD_NOTE = ("Uploaded files are de-identified in memory; nothing identifying is written to disk, and the "
               "de-identified copy read from a private temporary folder is deleted at once. The images and their "
               "features are kept in this session only, until another patient is opened.")
SERIES_TYPES = ["zip", "dcm", "ima", "dicom"]
ROI_TYPES = ["dcm", "nii", "gz", "nrrd", "mha", "mhd"]
UPLOAD_PREFIX = "watchwait-upload-"


@dataclass(frozen=True)
class Visit:
    """One loaded visit: the de-identified series, its ROI mask and the features (or a plain error), and the
    series check (whether the model may use it)."""

    label: str
    series: object | None = None  # watchwait.imaging.Series
    roi: object | None = None  # watchwait.imaging.roi.RoiMask
    result: object | None = None  # watchwait.imaging.radiomics.RadiomicsResult
    error: str | None = None
    check: object | None = None  # watchwait.imaging.series_check.SeriesCheck
    note: str | None = None  # what is missing, said plainly (a series without an ROI)


@dataclass(frozen=True)
class Bound:
    """A loaded visit and the patient it belongs to: the identity open when it was loaded, and when."""

    visit: Visit
    token: int
    patient_id: str
    loaded_at: str  # "YYYY-MM-DD HH:MM:SS", server time


def loaded() -> dict[str, Visit]:
    """The loaded visits of the open patient."""
    return {visit: b.visit for visit, b in state.imaging_visits().items()}


# ----------------------------------------------------------------------------- sources

def sample_paths(patient_id: str, visit: str) -> tuple[Path, Path]:
    folder = cache.SAMPLE_IMAGING / patient_id
    return folder / visit, folder / f"{visit}_seg.dcm"


def own_sample(identity: tuple[int, str]) -> str | None:
    """The open patient's own sample images (a sample patient opened from the sample list), or None."""
    src = st.session_state.get(state.PATIENT_SOURCE) or {}
    pid = identity[1]
    if src.get("kind") == "sample" and src.get("name") == pid and pid in cache.sample_imaging_ids():
        return pid
    return None


def _still_open(identity: tuple[int, str]) -> bool:
    """The patient a button was shown for is still the open one (else the click does nothing)."""
    return tuple(identity) == state.identity() and bool(identity[1])


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def load_sample_images(identity: tuple[int, str]) -> None:
    """Both visits of the open sample patient's own synthetic images."""
    pid = own_sample(identity)
    if not _still_open(identity) or pid is None:
        return
    for visit in VISITS:
        series, roi = sample_paths(pid, visit)
        store(visit, _load(str(series), str(roi), f"sample images of {pid} (synthetic)"), identity)


@contextmanager
def private_folder() -> Iterator[Path]:
    """A folder only this process's user can open (0700), deleted on leaving, whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))  # mkdtemp: mode 0700
    try:
        os.chmod(folder, 0o700)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _AlreadyDeidentified():  # noqa: N802 (the name load_upload calls)
    """For files :mod:`watchwait.imaging.ingest` stored, de-identified once already
    (:class:`watchwait.imaging.pacs.AlreadyDeidentified`; imported when first needed)."""
    from watchwait.imaging.pacs import AlreadyDeidentified

    return AlreadyDeidentified()


UPLOAD_COUNT = "imaging:upload_count"


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


def load_upload(visit: str, series_files: list, roi_file, identity: tuple[int, str]) -> None:
    """Read one visit's upload and bind the result to the open patient. The files are parsed and de-identified
    in memory (:mod:`watchwait.imaging.ingest`); only the de-identified data sets are written, to a private folder
    (0700, files 0600) that is deleted as soon as the series and ROI have been read, whatever happens.
    ``roi_file`` None: the series alone, to view (radiomics need an ROI)."""
    if not _still_open(identity):
        return
    from watchwait.imaging.ingest import store_roi_upload, store_series_upload

    # An uploaded file's name is often the patient's: it is never shown or kept. The source reads "uploaded
    # series 2, 28 files" (numbered per open patient; an "imaging:" key is dropped when another patient is opened).
    number = int(st.session_state.get(UPLOAD_COUNT) or 0) + 1
    st.session_state[UPLOAD_COUNT] = number
    label = f"uploaded series {number}, {_files(len(series_files))} chosen"
    with private_folder() as folder:
        try:
            stored = store_series_upload([(f.name, f.getvalue()) for f in series_files], folder / "series")
        except ImagingError as exc:
            v = Visit(label, error=f"The series could not be used. {exc}")
        else:
            label = (f"uploaded series {number}, {_files(stored.n_files)}"
                     + (" + tumour ROI" if roi_file is not None else ", no tumour ROI"))
            try:
                roi = (None if roi_file is None
                       else store_roi_upload(roi_file.name, roi_file.getvalue(), folder / "roi"))
            except ImagingError as exc:  # the series is still shown, with the ROI's problem
                v = _load(str(stored.path), None, label, deidentifier=_AlreadyDeidentified(), notes=stored.warnings,
                          terms_by_series=stored.terms)
                v = dataclasses.replace(v, error=v.error or f"The tumour ROI could not be used. {exc}", note=None)
            else:
                v = _load(str(stored.path), None if roi is None else str(roi), label,
                          deidentifier=_AlreadyDeidentified(), notes=stored.warnings, terms_by_series=stored.terms)
    store(visit, v, identity)


def uploader_key(visit: str, what: str) -> str:
    """Key of a visit's file uploader (``what``: series_upload, roi_upload). Once its files are used, the uploader is
    replaced by an empty one (a new key): the uploaded files' names (often the patient's) are no longer shown, and
    their bytes are let go."""
    used = int(st.session_state.get(state.imaging_key(visit, "uploads_used")) or 0)
    return state.imaging_key(visit, what if not used else f"{what}_{used}")


def _upload_clicked(visit: str, identity: tuple[int, str]) -> None:
    files = st.session_state.get(uploader_key(visit, "series_upload")) or []
    roi = st.session_state.get(uploader_key(visit, "roi_upload"))
    message = state.imaging_key(visit, "upload_message")
    if not files:
        st.session_state[message] = ("Choose the DICOM series first (a .zip of one series, or its files); the "
                                     "tumour ROI is optional for viewing, and needed for radiomics.")
        return
    st.session_state.pop(message, None)
    used = state.imaging_key(visit, "uploads_used")
    for what in ("series_upload", "roi_upload"):
        st.session_state.pop(uploader_key(visit, what), None)
    st.session_state[used] = int(st.session_state.get(used) or 0) + 1  # the next run shows empty uploaders
    load_upload(visit, list(files), roi, identity)


def store(visit: str, v: Visit, identity: tuple[int, str]) -> None:
    """Bind a loaded visit to the open patient; a series of another patient than the other visit's is refused."""
    other = state.imaging_visits().get(VISITS[1 - VISITS.index(visit)])
    if (other is not None and other.visit.series is not None and v.series is not None
            and other.visit.series.patient_pseudonym != v.series.patient_pseudonym):
        v = Visit(v.label, error=(
            f"Refused: this series belongs to another patient than the {VISITS[1 - VISITS.index(visit)]} series "
            "(their DICOM Patient IDs differ). Both visits must be of the patient open now; load the right series, "
            "or open the other patient."))
    state.set_imaging_visit(visit, Bound(v, identity[0], identity[1], _now()))


def source_picker() -> bool:
    """This patient's sample images, or an upload per visit. False (after saying why) when no patient is open."""
    identity = state.identity()
    if not identity[1]:
        st.info("Open a patient first (a pseudonym at least): images belong to the patient who is open when they "
                "are loaded, and are closed when another patient is opened.")
        st.page_link("pages/patient.py", label="Go to the Patient screen", icon=":material/person:")
        return False
    st.markdown(f"Images of the open patient, **{md(identity[1])}**. A series belongs to the patient open when it was "
                "loaded; opening another patient closes it.")
    sample = own_sample(identity)
    if sample is not None:
        st.button(f"Load {sample}'s sample images", key="imaging_load_sample", on_click=load_sample_images,  # a shipped id
                  args=(identity,), type="primary",
                  help="Small synthetic T2-weighted series with a DICOM SEG of the tumour; no real patient.")
    elif cache.sample_imaging_ids():
        st.caption("Sample images exist only for the sample patients " + ", ".join(cache.sample_imaging_ids())
                   + " (open one on the Patient screen to see its own).")
    pacs_section(identity)
    with st.expander("Upload a series and its tumour ROI", icon=":material/upload_file:",
                     expanded=not state.imaging_visits()):
        st.caption("Series: a .zip of one DICOM series, or several DICOM files. ROI (needed for radiomics, not for "
                   "viewing): a DICOM SEG, an RTSTRUCT or a NIfTI mask on the same grid. Each series is checked "
                   f"against the model's images ({MODEL_IMAGES}); one that is not is shown but kept out of the "
                   "model. " + UPLOAD_NOTE + " " + DEID_NOTE)
        cols = st.columns(2)
        for col, visit in zip(cols, VISITS):
            with col:
                st.markdown(f"**{TITLES[visit]}**")
                st.file_uploader("DICOM series (.zip or files)", accept_multiple_files=True, type=SERIES_TYPES,
                                 key=uploader_key(visit, "series_upload"))
                st.file_uploader("Tumour ROI (SEG, RTSTRUCT or NIfTI)", type=ROI_TYPES,
                                 key=uploader_key(visit, "roi_upload"))
                st.button(f"Use these files for {visit}", key=state.imaging_key(visit, "use_upload"),
                          on_click=_upload_clicked, args=(visit, identity))
                message = st.session_state.get(state.imaging_key(visit, "upload_message"))
                if message:
                    st.warning(md(message), icon=":material/upload_file:")
    return True


# ----------------------------------------------------------------------------- the hospital's PACS

PACS_RESULTS = "imaging:pacs:results"  # "imaging:" keys are dropped when another patient is opened
PACS_MESSAGE = "imaging:pacs:message"
PACS_QUERY = "imaging:pacs:query"
PACS_CHOICE = "imaging:pacs:choice"
PACS_SETTINGS = ("url, and user with password (or token), under [pacs] in .streamlit/secrets.toml (or the "
                 "WATCHWAIT_PACS_URL, WATCHWAIT_PACS_USER, WATCHWAIT_PACS_PASSWORD / WATCHWAIT_PACS_TOKEN "
                 "environment variables)")
PACS_NOTE = ("A retrieved series and its tumour ROI (the SEG or RTSTRUCT of the same study that refers to it) take "
             "the upload's path: de-identified in memory, image by image, before anything is written; the "
             "de-identified copy is deleted once read. Search results are kept for this patient only, in this "
             "session.")


def pacs_config():
    """The PACS of ``[pacs]`` in the secrets, else of the ``WATCHWAIT_PACS_*`` environment variables; None when
    neither is set. Raises PacsError for a setting that is not usable."""
    from watchwait.imaging.pacs import PacsConfig

    try:
        section = st.secrets.get("pacs") if st.secrets.load_if_toml_exists() else None
    except (KeyError, FileNotFoundError):  # no secrets file, or no [pacs] in it
        section = None
    return PacsConfig.from_mapping(section) if section else PacsConfig.from_env()


def pacs_search(identity: tuple[int, str]) -> None:
    """Search the PACS for what the user typed (Patient ID or accession number) and list the image series of the
    studies found, with their series check; kept for the open patient only."""
    from watchwait.imaging.pacs import list_series, search_studies

    if not _still_open(identity):
        return
    st.session_state.pop(PACS_RESULTS, None)
    st.session_state.pop(PACS_MESSAGE, None)
    st.session_state.pop(PACS_CHOICE, None)
    query = str(st.session_state.get(PACS_QUERY) or "")
    try:
        config = pacs_config()
        studies = search_studies(config, query)
        series = [s for study in studies for s in list_series(config, study)]
    except ImagingError as exc:
        st.session_state[PACS_MESSAGE] = str(exc)
        return
    if not series:
        found = "1 study" if len(studies) == 1 else f"{len(studies)} studies"
        st.session_state[PACS_MESSAGE] = (f"The PACS has {found} for {query.strip()}, but no image series in them "
                                          "(only reports, ROIs or other objects). Check the number, or ask the "
                                          "radiology department.")
        return
    st.session_state[PACS_RESULTS] = {"token": identity[0], "patient_id": identity[1], "query": query.strip(),
                                      "studies": len(studies), "series": series}


def load_pacs(visit: str, identity: tuple[int, str]) -> None:
    """Retrieve the chosen series and its tumour ROI through the upload's de-identification, load, check and
    measure it, and bind it to the open patient."""
    from watchwait.imaging.pacs import retrieve_series

    results = st.session_state.get(PACS_RESULTS)
    choice = st.session_state.get(PACS_CHOICE)
    if (not _still_open(identity) or not results or choice is None
            or (results["token"], results["patient_id"]) != tuple(identity)):
        return
    chosen = results["series"][choice]
    st.session_state.pop(PACS_MESSAGE, None)
    with private_folder() as folder:
        try:
            got = retrieve_series(pacs_config(), chosen.study_uid, chosen.series_uid, folder / "pacs")
        except ImagingError as exc:
            st.session_state[PACS_MESSAGE] = str(exc)
            return
        v = _load(str(got.series_path), None if got.roi_path is None else str(got.roi_path),
                  got.label(chosen.date or chosen.study_date), deidentifier=_AlreadyDeidentified(), notes=got.warnings,
                  terms_by_series=got.terms)
        if got.roi_path is None and v.series is not None:
            v = dataclasses.replace(v, note=PACS_NO_ROI_NOTE)
    store(visit, v, identity)


PACS_NO_ROI_NOTE = ("No tumour ROI: no SEG or RTSTRUCT of this study on the PACS refers to this series. The series can "
                    "be viewed; radiomics need the tumour outlined (upload a ROI with the series files, below).")


def pacs_section(identity: tuple[int, str]) -> None:
    """"From the hospital's PACS": a search by Patient ID or accession number, the image series found (date,
    modality, images, the series check, the tumour ROI) and a button per visit to load the chosen one. When no
    PACS is set up, one caption saying how."""
    try:
        config = pacs_config()
    except ImagingError as exc:
        st.warning(md(str(exc)), icon=":material/cloud_off:")
        return
    if config is None:
        st.caption("The hospital's PACS can be searched here once it is set up: " + md(PACS_SETTINGS) + ".")
        return
    results = st.session_state.get(PACS_RESULTS)
    message = st.session_state.get(PACS_MESSAGE)
    with st.expander("From the hospital's PACS", icon=":material/cloud_download:",
                     expanded=bool(results or message) or not state.imaging_visits()):
        st.caption("Search by the patient's Patient ID (hospital number) or a study's accession number. "
                   + PACS_NOTE)
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("Patient ID or accession number", key=PACS_QUERY, max_chars=64)
        c2.button("Search the PACS", key="imaging:pacs:search", on_click=pacs_search, args=(identity,),
                  icon=":material/search:")
        if message:
            st.warning(md(message), icon=":material/cloud_off:")
        if not results or (results["token"], results["patient_id"]) != tuple(identity):
            return
        series = results["series"]
        n = results["studies"]
        st.markdown(f"**{len(series)} image series** in {n} stud{'y' if n == 1 else 'ies'} for "
                    f"**{md(results['query'])}** (the PACS's own descriptions in quotes):")
        st.radio("Series to load", options=list(range(len(series))), key=PACS_CHOICE,
                 format_func=lambda i: md(series[i].label), index=None, label_visibility="collapsed")
        cols = st.columns(2)
        for col, visit in zip(cols, VISITS):
            col.button(f"Load this series for {visit}", key=f"imaging:pacs:load:{visit}", on_click=load_pacs,
                       args=(visit, identity), disabled=st.session_state.get(PACS_CHOICE) is None,
                       icon=":material/download:")


# ----------------------------------------------------------------------------- loading

NO_ROI_NOTE = ("No tumour ROI: the series can be viewed, but radiomics need the tumour outlined. Upload a DICOM SEG, "
               "an RTSTRUCT or a NIfTI mask of the tumour on this series with it (Upload a series and its tumour "
               "ROI, above), then use the files again.")


def _load(series_path: str, roi_path: str | None, label: str, deidentifier=None, notes: tuple[str, ...] = (),
          terms_by_series=None) -> Visit:
    """Load, check and measure one visit. The series check runs on the loaded series' headers (plus the words of
    its descriptions read before de-identification: ``terms_by_series`` for an upload stored by ingest); a
    series that fails it is still measured, for viewing, and never offered to the model."""
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi
    from watchwait.imaging.series_check import check_series

    try:
        series = load_series(series_path, deidentifier=deidentifier)
    except ImagingError as exc:
        return Visit(label, error=f"The series could not be used. {exc}")
    if notes:  # what the upload held but was not stored (not DICOM, ...): said with the series' own warnings
        series = dataclasses.replace(series, warnings=tuple(notes) + tuple(series.warnings))
    check = check_series(series, terms=(terms_by_series or {}).get(series.series_instance_uid, ()))
    if roi_path is None:
        return Visit(label, series, check=check, note=NO_ROI_NOTE)
    try:
        roi = load_roi(roi_path, series, deidentifier=deidentifier)
    except ImagingError as exc:
        return Visit(label, series, error=f"The tumour ROI could not be used. {exc}", check=check)
    try:
        result = extract_features(series, roi)
    except ImagingError as exc:
        return Visit(label, series, roi, error=f"Radiomics could not be computed. {exc}", check=check)
    return Visit(label, series, roi, result, check=check)


# ----------------------------------------------------------------------------- the series check

CONFIRMATIONS = "imaging:confirmed"  # an "imaging:" key: dropped with the images when another patient is opened
MODEL_IMAGES = "T2-weighted axial pelvic MR"


def _actor() -> str:
    """Who confirms: the signed-in person's display name, or local mode's typed name ("" when none)."""
    p = auth.current_person()
    return "" if p is None else p.name


def confirmation(b: Bound | None, confirmed: dict | None = None) -> dict | None:
    """The clinician's confirmation of a loaded visit's series ({"by", "at"}), or None. ``confirmed``: the
    confirmations (default: this session's)."""
    if b is None or b.visit.series is None:
        return None
    if confirmed is None:
        confirmed = st.session_state.get(CONFIRMATIONS) or {}
    return confirmed.get((b.patient_id, b.visit.series.series_instance_uid))


def confirm_series(visit: str, identity: tuple[int, str]) -> None:
    """Record that the user confirms this visit's series is a T2-weighted axial pelvic MR series: who (the name the
    session records, "Your name") and when (UTC), for this patient and series. Nothing without a name, or if
    another patient was opened since the button was shown."""
    b = state.imaging_visits().get(visit)
    who = _actor()
    if not _still_open(identity) or b is None or b.visit.series is None or not who or not _may_confirm():
        return
    if (b.token, b.patient_id) != tuple(identity):
        return
    confirmed = dict(st.session_state.get(CONFIRMATIONS) or {})
    confirmed[(b.patient_id, b.visit.series.series_instance_uid)] = {
        "by": who, "at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    st.session_state[CONFIRMATIONS] = confirmed


def _may_confirm() -> bool:
    """Confirming a series is a clinical judgement on the assessment's inputs (it is saved with the case): the
    roles that may assess (clinician, chair; local mode's user)."""
    return auth.may("assess")


def withdraw_confirmation(visit: str, identity: tuple[int, str]) -> None:
    """Take a confirmation back; radiomics this session wrote into the record from the loaded series leave it
    (the record's own, from its file, come back), since one of their series is no longer confirmed."""
    b = state.imaging_visits().get(visit)
    if not _still_open(identity) or b is None or b.visit.series is None or not _may_confirm():
        return
    confirmed = dict(st.session_state.get(CONFIRMATIONS) or {})
    confirmed.pop((b.patient_id, b.visit.series.series_instance_uid), None)
    st.session_state[CONFIRMATIONS] = confirmed
    rs = st.session_state.get(state.RADIOMICS_SOURCE)
    if rs and rs.get("kind") == "imaging" and (rs.get("token"), rs.get("patient_id")) == tuple(identity):
        state.restore_opened_radiomics()


def usable(b: Bound | None, confirmed: dict | None = None) -> bool:
    """The visit's series may give the model its radiomics: fit by its headers, or not settled by them and
    confirmed by a clinician."""
    if b is None or b.visit.series is None or b.visit.check is None:
        return False
    fit = b.visit.check.fit_for_model
    return fit is True or (fit is None and confirmation(b, confirmed) is not None)


def kept_out_cell(visits: dict | None = None, identity: tuple[int, str] | None = None,
                  confirmed: dict | None = None) -> str:
    """Why the open patient's loaded series are kept out of the model, in the engine's format (the record column
    ``imaging_kept_out``, :data:`watchwait.imaging.series_check.KEPT_OUT_COLUMN`): "" when every loaded series may
    be used (or none is loaded). Defaults: this session's visits, open patient and confirmations."""
    from watchwait.imaging.series_check import kept_out_cell as cell

    visits = state.imaging_visits() if visits is None else visits
    identity = state.identity() if identity is None else tuple(identity)
    if confirmed is None:
        confirmed = st.session_state.get(CONFIRMATIONS) or {}
    checks = {}
    for visit in VISITS:
        b = visits.get(visit)
        if (b is not None and b.visit.series is not None and b.visit.check is not None
                and not usable(b, confirmed) and (b.token, b.patient_id) == identity):
            checks[visit] = b.visit.check
    return cell(checks)


def kept_out_reasons(**kwargs) -> list[str]:
    """:func:`kept_out_cell` as a list (one item per visit kept out)."""
    from watchwait.imaging.series_check import kept_out_reasons as reasons

    return reasons(kept_out_cell(**kwargs))


def _check_words(b: Bound | None) -> str:
    """The series check of a loaded visit in one line (for the provenance table)."""
    check = None if b is None else b.visit.check
    if check is None:
        return ""
    if check.fit_for_model is True:
        return "fit for the model"
    if check.fit_for_model is False:
        return "not fit for the model: " + "; ".join(check.reasons)
    done = confirmation(b)
    if done is not None:
        return f"not settled by its headers; confirmed by {done['by']} on {done['at']}"
    return "not settled by its headers, not confirmed: " + "; ".join(check.reasons)


def series_check_box(visit: str, b: Bound) -> None:
    """Above the viewer: whether the model may use this series, and why, in plain words; for a series its
    headers cannot settle, the confirmation (who, when) or the way to give it."""
    check = b.visit.check
    if check is None:
        return
    reasons = "\n".join(f"- {md(r)}" for r in check.reasons)  # one line each; the words escaped
    if check.fit_for_model is False:
        st.error(f"**Not used by the model.** This series is not the kind of image the model was built on "
                 f"({MODEL_IMAGES}), so its measurements do not enter the model; you can view it.\n{reasons}",
                 icon=":material/block:")
        return
    if check.fit_for_model is True:
        st.caption("Series check: fit for the model (" + MODEL_IMAGES + "): " + md("; ".join(check.notes)) + ".")
        return
    done = confirmation(b)
    identity = state.identity()
    if done is not None:
        st.info(f"**Confirmed for the model** by {md(done['by'])} on {md(done['at'])}: a {MODEL_IMAGES} series. "
                f"Its headers could not settle it:\n{reasons}", icon=":material/verified_user:")
        if not _may_confirm():
            _why_not_confirm("Withdrawing a confirmation")
            return
        st.button("Withdraw this confirmation", key=state.imaging_key(visit, "unconfirm"),
                  on_click=withdraw_confirmation, args=(visit, identity),
                  help="The series is then kept out of the model again; radiomics taken from these series into "
                       "the record leave it.")
        return
    st.warning(f"**Not used by the model unless you confirm it.** Its headers cannot settle whether this is a "
               f"{MODEL_IMAGES} series; until a clinician confirms it, its measurements do not enter the model.\n"
               f"{reasons}", icon=":material/help:")
    if not _may_confirm():
        _why_not_confirm("Confirming a series for the model")
        return
    who = _actor()
    st.button(f"I confirm this is a {MODEL_IMAGES} series", key=state.imaging_key(visit, "confirm"),
              on_click=confirm_series, args=(visit, identity), disabled=not who,
              help=(f"Recorded as confirmed by {md(who)}, with the date and time (UTC)." if who else
                    "Enter your name first (Your name, in the sidebar): the confirmation records who made it."))
    if not who:
        st.caption("Enter your name (Your name, in the sidebar) to confirm: the confirmation records who made it "
                   "and when.")


def _why_not_confirm(doing: str) -> None:
    roles.permitted("assess", doing)


# ----------------------------------------------------------------------------- viewer

def viewer(visit: str, b: Bound | None, large: bool = False) -> None:
    """One visit: whose it is, a slice with the ROI outline, and its slice, level and width controls."""
    st.subheader(TITLES[visit])
    if b is None:
        st.info("No images chosen for this visit.")
        return
    v = b.visit
    st.caption(f"Loaded on {b.loaded_at} for patient **{md(b.patient_id)}** (the open patient) · source: {md(v.label)}")
    if v.series is not None:
        series_check_box(visit, b)
    if v.error:
        st.error(md(v.error))
    if v.note:
        st.info(md(v.note), icon=":material/info:")
    if v.series is None:
        return
    series, mask = v.series, (v.roi.mask if v.roi is not None else None)
    volume = series.array
    nz = volume.shape[0]
    k_slice, k_level, k_width = (state.imaging_key(visit, w) for w in ("slice", "level", "width"))
    lo, hi, step = fig.control_range(volume)
    step = _snap(step, step)  # int sliders for integer-valued MR, floats otherwise
    if k_level not in st.session_state:
        level, width = fig.default_window(volume, mask)
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
    roi_note = (f"ROI: {v.roi.kind} '{md(v.roi.name)}', {v.roi.voxel_count:,} voxels" if v.roi is not None
                else "no ROI")
    st.caption(f"{series.shape[0]} slices of {series.shape[1]} x {series.shape[2]}, spacing "
               f"{series.spacing[0]:g} x {series.spacing[1]:g} x {series.spacing[2]:g} mm; {roi_note}; "
               f"DICOM pseudonym {md(series.patient_pseudonym)}.")
    notes = list(series.warnings) + (list(v.roi.warnings) if v.roi is not None else [])
    for note in notes:
        st.warning(md(note), icon=":material/warning:")


def _snap(x: float, step: float) -> float | int:
    return int(round(x)) if step >= 1 else round(round(x / step) * step, 10)


# ----------------------------------------------------------------------------- tables

def model_columns(baseline: dict, restaging: dict, delta: dict, features) -> dict[str, float]:
    """The model's ``radiomics_<visit>_<feature>`` columns (as in a cohort file) from one patient's visits."""
    out = {}
    for f in features:
        out[f"radiomics_baseline_{f}"] = float(baseline[f])
        out[f"radiomics_restaging_{f}"] = float(restaging[f])
        out[f"radiomics_delta_{f}"] = float(delta[f"delta_{f}"])
    return out


def use_radiomics(columns: dict[str, float], identity: tuple[int, str], loaded_at: tuple[str, ...]) -> None:
    """Write the model's radiomic columns into the open patient's record (replacing any earlier radiomics), and
    record where they come from and each series' check (and confirmation); nothing happens if another patient has
    been opened since the button was shown, or if a series is not (or no longer) usable by the model."""
    if not _still_open(identity):
        return
    bound = state.imaging_visits()
    if not all(usable(bound.get(v)) for v in VISITS):
        return
    extra = state.extra()
    for k in [k for k in extra if str(k).startswith(state.RADIOMICS_PREFIX)]:
        del extra[k]
    extra.update(columns)
    checks = {v: {**bound[v].visit.check.to_dict(), "confirmed": confirmation(bound[v])} for v in VISITS}
    st.session_state[state.RADIOMICS_SOURCE] = {"kind": "imaging", "at": list(loaded_at), "patient_id": identity[1],
                                                "token": identity[0], "series_checks": checks}


def features(visits: dict[str, Visit | None]) -> None:
    """The model's features with the change, every feature, and where the values come from."""
    from watchwait.imaging.model_features import FEATURES
    from watchwait.imaging.radiomics import delta_features

    done = {visit: v.result for visit, v in visits.items() if v is not None and v.result is not None}
    if not done:
        return
    st.subheader("Radiomics (pyradiomics)")
    bound = state.imaging_visits()
    kept_out = [v for v in VISITS if v in done and not usable(bound.get(v))]
    if kept_out:
        st.warning(f"**Not for the model.** The {' and '.join(kept_out)} measurements below come from a series that "
                   f"is not a {MODEL_IMAGES} series, or not confirmed as one (see above its viewer): shown for "
                   "reading, they do not enter the model or the assessment.", icon=":material/block:")
    if len(done) == 2:
        base, rest = done["baseline"], done["restaging"]
        try:
            delta = delta_features(base, rest)
        except ImagingError as exc:
            st.error(md(f"The change between visits cannot be computed. {exc}"))
        else:
            st.markdown("**The model's radiomics features and their change** (restaging - baseline; intensities "
                        "are on each image's z-scored scale x100, so the visits are comparable)")
            st.dataframe(safe_frame(fig.model_delta_table(base.features, rest.features, delta, FEATURES)))
            columns = model_columns(base.features, rest.features, delta, FEATURES)
            identity = state.identity()
            at = tuple(bound[v].loaded_at for v in VISITS)
            if not kept_out:
                st.button("Use these radiomics in the open patient's assessment", key="imaging_use_radiomics",
                          on_click=use_radiomics, args=(columns, identity, at),
                          help="Writes the model's radiomic columns into the open patient's record (replacing any "
                               "radiomics it had); the Assessment then includes the MRI radiomics branch.")
                if all(state.extra().get(k) == v for k, v in columns.items()):
                    st.caption(f"These radiomics are part of {md(identity[1])}'s record.")
    else:
        missing = next(v for v in VISITS if v not in done)
        st.info(f"The change (restaging - baseline) needs both visits; the {missing} features are not available.")
    st.markdown(f"**Every feature extracted** ({len(next(iter(done.values())).features)} per visit, "
                "pyradiomics names)")
    st.dataframe(safe_frame(fig.feature_table({visit: r.features for visit, r in done.items()})), height=320)
    st.markdown("**Provenance**")
    prov = fig.provenance_table({visit: {**r.provenance, "series_check": _check_words(bound.get(visit))}
                                 for visit, r in done.items()})
    st.dataframe(safe_frame(prov), height=35 * (len(prov) + 1) + 3)
    st.caption("Image and mask sha256: of the arrays passed to pyradiomics (image as float32, mask as uint8), so a value "
               "can be traced to exactly what was measured. Parameter file sha256: of the versioned pyradiomics settings.")
