"""The hospital's PACS over DICOMweb: find a patient's studies, list their series with the series check, and
retrieve one series and its tumour ROI straight into the same in-memory de-identification as an upload.

Configuration (:class:`PacsConfig`): the DICOMweb root URL and credentials (HTTP basic user + password, or a
bearer token), a timeout and the largest series retrieved. The dashboard reads them from ``[pacs]`` in
``.streamlit/secrets.toml`` (never committed), the CLI and cohort files from environment variables:

=================== ================================ ===========================================
secrets ``[pacs]``  environment                      meaning
=================== ================================ ===========================================
``url``             ``WATCHWAIT_PACS_URL``           DICOMweb root, e.g. ``https://pacs.example/dicom-web``
``user``            ``WATCHWAIT_PACS_USER``          HTTP basic user (with ``password``)
``password``        ``WATCHWAIT_PACS_PASSWORD``      HTTP basic password
``token``           ``WATCHWAIT_PACS_TOKEN``         bearer token (instead of user/password)
``timeout``         ``WATCHWAIT_PACS_TIMEOUT``       seconds to wait for an answer (default 20)
``max_series_mb``   ``WATCHWAIT_PACS_MAX_SERIES_MB`` largest series retrieved, MB (default 1024)
``max_images``      ``WATCHWAIT_PACS_MAX_IMAGES``    most images in a series retrieved (default 2000)
``ca_bundle``       ``WATCHWAIT_PACS_CA_BUNDLE``     CA certificates to verify the PACS's TLS certificate
=================== ================================ ===========================================

What is read (``dicomweb-client``):

* :func:`search_studies` (QIDO-RS): the studies of one Patient ID, else of one Accession Number (exact match;
  wildcards are refused so that a search can never list other patients), most recent first.
* :func:`list_series` (QIDO-RS, then WADO-RS metadata): each image series of a study with its date, modality,
  number of images and the **series check** (:func:`~watchwait.imaging.series_check.check_series`). QIDO's
  attributes do not carry the facts the check needs (repetition and echo times, orientation, slice thickness),
  so the check reads the WADO-RS *metadata* (header without pixels) of the series' first instance: one small
  request per series. The check is a preview; the loaded series is checked again on all its headers. Each
  series also says which tumour ROI of the study refers to it: the SEG or RTSTRUCT objects of the study whose
  metadata reference its Series Instance UID (or one of its instances).
* :func:`retrieve_series` (WADO-RS): the series **instance by instance** (``iter_series``, a streamed
  multipart answer), each one handed at once to :func:`watchwait.imaging.ingest.store_series_upload` - the
  upload path: parsed in memory, de-identified, only the de-identified data set written (0700 folder, 0600
  files) - and dropped before the next arrives, so memory stays near one instance whatever the series' size;
  then the ROI through :func:`~watchwait.imaging.ingest.store_roi_upload`. Nothing identified reaches the disk.

What the PACS returns is identified. What this module gives to show (:attr:`StudyInfo.label`,
:attr:`SeriesInfo.label`) holds dates, modalities, counts, the series check's words and the PACS's own series
description, cut to :data:`MAX_DESCRIPTION` characters (the hospital's PACS shown on the hospital's screen; it
is the one way to tell two undated series apart): the caller shows it as literal text (``components.safe.md``),
and keeps none of it once a series is loaded. Patient names, IDs, accession numbers and UIDs are never in a
label.

Every failure is a :class:`PacsError` (an :class:`~watchwait.errors.ImagingError`) whose message says what is
wrong and what to do: the PACS did not answer in time, cannot be reached, refused the credentials, found no
study, holds a series larger than allowed, or answered with something that is not DICOM.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from watchwait.errors import ImagingError, quoted

__all__ = ["PacsConfig", "PacsError", "StudyInfo", "SeriesInfo", "Retrieved", "AlreadyDeidentified",
           "search_studies", "list_series", "retrieve_series", "parse_reference", "local_paths",
           "REFERENCE_PREFIX", "ENV"]

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_SERIES_MB = 1024.0
DEFAULT_MAX_IMAGES = 2000
MAX_STUDIES = 20  # listed per search, most recent first
MAX_DESCRIPTION = 64
REFERENCE_PREFIX = "dicomweb:"
ROI_MODALITIES = ("SEG", "RTSTRUCT")
#: Series that are not images (never offered to load as a series).
NOT_IMAGES = frozenset({"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "PR", "SR", "KO", "REG", "DOC", "OT_PDF",
                        "FID", "AU", "ECG", "HD", "PLAN"})
#: Environment variables (the CLI, cohort files and tests); the secrets' ``[pacs]`` keys are the same names
#: in lower case without the prefix.
ENV = {"url": "WATCHWAIT_PACS_URL", "user": "WATCHWAIT_PACS_USER", "password": "WATCHWAIT_PACS_PASSWORD",
       "token": "WATCHWAIT_PACS_TOKEN", "timeout": "WATCHWAIT_PACS_TIMEOUT",
       "max_series_mb": "WATCHWAIT_PACS_MAX_SERIES_MB", "max_images": "WATCHWAIT_PACS_MAX_IMAGES",
       "ca_bundle": "WATCHWAIT_PACS_CA_BUNDLE"}
_QUERY = re.compile(r"[A-Za-z0-9 ._/^:+-]{1,64}")


class PacsError(ImagingError):
    """A plain message: what went wrong with the PACS, and what to do."""


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class PacsConfig:
    """Where the PACS is and how to sign in (see the module's table)."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT_S
    max_series_mb: float = DEFAULT_MAX_SERIES_MB
    max_images: int = DEFAULT_MAX_IMAGES
    ca_bundle: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> PacsConfig | None:
        """From ``[pacs]`` of the secrets (keys of :data:`ENV`); None when no ``url`` is set."""
        values = dict(values or {})
        url = str(values.get("url") or "").strip()
        if not url:
            return None
        if not url.lower().startswith(("http://", "https://")):
            raise PacsError(f"The PACS address {quoted(shown_url(url))} is not an http(s) URL. Set pacs.url "
                            f"({ENV['url']}) to the DICOMweb root, e.g. https://pacs.example/dicom-web.")

        def number(key: str, default: float, kind=float):
            raw = values.get(key)
            if raw is None or str(raw).strip() == "":
                return default
            try:
                out = kind(str(raw).strip())
            except ValueError:
                out = None
            if out is None or out <= 0:
                raise PacsError(f"pacs.{key} ({ENV[key]}) must be a positive number, not {quoted(str(raw))}.")
            return out

        text = {k: (str(values[k]) if values.get(k) not in (None, "") else None)
                for k in ("user", "password", "token", "ca_bundle")}
        return cls(url.rstrip("/"), text["user"], text["password"], text["token"],
                   number("timeout", DEFAULT_TIMEOUT_S), number("max_series_mb", DEFAULT_MAX_SERIES_MB),
                   number("max_images", DEFAULT_MAX_IMAGES, int), text["ca_bundle"])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PacsConfig | None:
        """From the ``WATCHWAIT_PACS_*`` environment variables; None when ``WATCHWAIT_PACS_URL`` is not set."""
        environ = os.environ if environ is None else environ
        return cls.from_mapping({k: environ.get(v) for k, v in ENV.items()})

    @property
    def shown(self) -> str:
        """The URL as it may be shown (no user or password in it)."""
        return shown_url(self.url)


def shown_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, query or fragment."""
    try:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "")
                           if parts.hostname else parts.netloc, parts.path, "", ""))
    except ValueError:
        return "(the configured address)"


def _client(config: PacsConfig):
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    if config.token:
        session.headers["Authorization"] = f"Bearer {config.token}"
    elif config.user is not None:
        session.auth = (config.user, config.password or "")
    if config.ca_bundle:
        session.verify = config.ca_bundle
    client = DICOMwebClient(config.url, session=session, timeout=config.timeout)
    client.set_http_retry_params(retry=False)  # a clinician waits: one attempt, then a plain message
    return client


@contextmanager
def _talking_to(config: PacsConfig) -> Iterator[None]:
    """Turn what the network, the PACS and the decoders raise into one :class:`PacsError` each."""
    import requests
    from pydicom.errors import InvalidDicomError

    url = config.shown
    try:
        yield
    except ImagingError:  # ours, or ingest's (already plain)
        raise
    except requests.exceptions.SSLError:
        raise PacsError(f"The secure connection to the PACS at {url} failed (its certificate is not trusted here, "
                        "or it does not speak https), so nothing was sent. Check the address (http or https), or ask "
                        f"IT for the hospital's CA certificates and set pacs.ca_bundle ({ENV['ca_bundle']}) to "
                        "that file.") from None
    except requests.exceptions.Timeout:
        raise PacsError(f"The PACS at {url} did not answer within {config.timeout:g} s. Try again; if it keeps "
                        f"happening, ask IT whether the PACS is working (pacs.timeout, {ENV['timeout']}, sets "
                        "how long to wait).") from None
    except requests.exceptions.ConnectionError:
        raise PacsError(f"Cannot reach the PACS at {url}: the connection was refused or the address does not "
                        f"answer. Check the address (pacs.url, {ENV['url']}), or ask IT whether the PACS is "
                        "running.") from None
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise PacsError(f"The PACS at {url} refused the credentials (HTTP {status}). Check the user and "
                            f"password, or the token (pacs.user and pacs.password, or pacs.token; "
                            f"{ENV['user']}, {ENV['password']}, {ENV['token']}).") from None
        raise PacsError(f"The PACS at {url} answered with an error (HTTP {status}). Check that the address is "
                        "the DICOMweb root (e.g. https://pacs.example/dicom-web); if it is, ask IT.") from None
    except (ValueError, KeyError, InvalidDicomError, EOFError) as exc:
        raise PacsError(_not_dicom(url, exc)) from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(f"The PACS at {url} could not be read ({type(exc).__name__}). Try again, or ask IT.") \
            from None


def _not_dicom(url: str, exc: BaseException | str) -> str:
    what = exc if isinstance(exc, str) else type(exc).__name__
    return (f"The PACS at {url} answered, but not with DICOM ({what}). Check that the address is the DICOMweb "
            f"root (e.g. https://pacs.example/dicom-web), not a web page.")


# ----------------------------------------------------------------------------- search

@dataclass(frozen=True)
class StudyInfo:
    """One study found: its UID (never shown), date, modalities and counts."""

    study_uid: str
    date: str  # YYYY-MM-DD or ""
    modalities: tuple[str, ...]
    n_series: int | None
    n_images: int | None

    @property
    def label(self) -> str:
        parts = [f"Study of {self.date or 'unknown date'}"]
        if self.modalities:
            parts.append(", ".join(self.modalities))
        if self.n_images is not None:
            parts.append(_images(self.n_images))
        return " · ".join(parts)


def _value(item: Mapping[str, Any], tag: str) -> Any:
    v = (item.get(tag) or {}).get("Value") or [None]
    return v[0]


def _values(item: Mapping[str, Any], tag: str) -> list[Any]:
    return list((item.get(tag) or {}).get("Value") or [])


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str:
    text = re.sub(r"\D", "", str(value or ""))[:8]
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 else ""


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def _code(value: Any) -> str:
    return re.sub(r"[^A-Z0-9_]", "", str(value or "").upper())[:16]


def check_query(text: str) -> str:
    """The Patient ID or accession number to search for, stripped; PacsError when empty or with wildcards."""
    text = str(text or "").strip()
    if not text:
        raise PacsError("Type the patient's Patient ID (hospital number) or the study's accession number, then "
                        "search.")
    if not _QUERY.fullmatch(text):
        raise PacsError("A Patient ID or accession number is letters, digits and . _ - / ^ : + (at most 64); "
                        "wildcards such as * and ? are not searched, so that a search finds one patient only.")
    return text


def search_studies(config: PacsConfig, query: str, *, by: str = "either") -> list[StudyInfo]:
    """The studies of Patient ID ``query`` (``by="patient_id"``), of Accession Number ``query``
    (``by="accession"``), or (``"either"``) of the Patient ID, else of the accession number; most recent first,
    at most :data:`MAX_STUDIES`. PacsError when none is found."""
    query = check_query(query)
    keys = {"patient_id": ("PatientID",), "accession": ("AccessionNumber",),
            "either": ("PatientID", "AccessionNumber")}[by]
    fields = ["StudyDate", "StudyTime", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "NumberOfStudyRelatedInstances"]
    found: list[dict] = []
    client = _client(config)
    with _talking_to(config):
        for key in keys:
            found = client.search_for_studies(search_filters={key: query}, fields=fields)
            if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
                raise PacsError(_not_dicom(config.shown, "not a list of DICOM JSON studies"))
            found = [s for s in found if _value(s, "0020000D")]
            if found:
                break
    if not found:
        what = {"patient_id": "Patient ID", "accession": "accession number",
                "either": "Patient ID or accession number"}[by]
        raise PacsError(f"No study found for {what} {quoted(query)} on the PACS at {config.shown}. Check the "
                        "number (exactly as the PACS has it), or search by the other one.")
    studies = [StudyInfo(str(_value(s, "0020000D")), _date(_value(s, "00080020")),
                         tuple(sorted({_code(m) for m in _values(s, "00080061") if _code(m)})),
                         _int(_value(s, "00201206")), _int(_value(s, "00201208")))
               for s in found]
    times = {str(_value(s, "0020000D")): str(_value(s, "00080030") or "") for s in found}
    studies.sort(key=lambda s: (s.date, times.get(s.study_uid, "")), reverse=True)
    return studies[:MAX_STUDIES]


# ----------------------------------------------------------------------------- series

@dataclass(frozen=True)
class RoiRef:
    """A SEG or RTSTRUCT instance of the study that refers to an image series."""

    series_uid: str
    sop_uid: str
    modality: str


@dataclass(frozen=True)
class SeriesInfo:
    """One image series of a study: what the list shows, and the series check of its first instance."""

    study_uid: str
    series_uid: str
    study_date: str
    date: str
    modality: str
    number: int | None
    n_images: int | None
    description: str  # the PACS's own, cut to MAX_DESCRIPTION; literal text to show, never kept
    check: Any  # watchwait.imaging.series_check.SeriesCheck
    rois: tuple[RoiRef, ...] = ()

    @property
    def shown_date(self) -> str:
        return self.date or self.study_date or "unknown date"

    @property
    def label(self) -> str:
        """In clinicians' words: date, modality, images, description, series check, tumour ROI."""
        parts = [self.shown_date, self.modality or "modality not recorded"]
        if self.n_images is not None:
            parts.append(_images(self.n_images))
        if self.description:
            parts.append(f"“{self.description}”")
        parts.append(check_words(self.check))
        parts.append("tumour ROI: " + " + ".join(r.modality for r in self.rois) if self.rois else "no tumour ROI")
        return " · ".join(parts)


def check_words(check: Any) -> str:
    """The series check in one phrase: the decision, and the reasons when not fit or not settled."""
    if check is None:
        return "series check not available"
    if check.fit_for_model is True:
        return "fit for the model"
    return f"{check.decision}: " + "; ".join(check.reasons)


def _strip_bulk(item: Any) -> Any:
    """DICOM JSON without bulk data (pixel data is never needed to read a header)."""
    if isinstance(item, dict):
        return {k: _strip_bulk(v) for k, v in item.items()
                if not (isinstance(v, dict) and ("BulkDataURI" in v or "InlineBinary" in v))}
    if isinstance(item, list):
        return [_strip_bulk(v) for v in item]
    return item


def _dataset(metadata: Mapping[str, Any]):
    from pydicom.dataset import Dataset

    from ._reading import quiet_pydicom

    with quiet_pydicom():
        return Dataset.from_json(_strip_bulk(dict(metadata)))


def _referenced(metadata: Any, top: bool = True) -> tuple[set[str], set[str]]:
    """(series UIDs, SOP instance UIDs) referenced anywhere below the top level of DICOM JSON metadata."""
    series: set[str] = set()
    sops: set[str] = set()
    if isinstance(metadata, dict):
        for tag, element in metadata.items():
            if not isinstance(element, dict):
                continue
            values = element.get("Value") or []
            if element.get("vr") == "SQ":
                for item in values:
                    s, o = _referenced(item, top=False)
                    series |= s
                    sops |= o
            elif not top and tag == "0020000E":
                series.update(str(v) for v in values)
            elif tag == "00081155":
                sops.update(str(v) for v in values)
    return series, sops


def _series_rows(client, config: PacsConfig, study_uid: str) -> list[dict]:
    rows = client.search_for_series(study_uid, fields=["Modality", "SeriesDate", "SeriesTime", "SeriesNumber",
                                                       "SeriesDescription", "NumberOfSeriesRelatedInstances"])
    if not isinstance(rows, list) or not all(isinstance(x, dict) for x in rows):
        raise PacsError(_not_dicom(config.shown, "not a list of DICOM JSON series"))
    return [r for r in rows if _value(r, "0020000E")]


def _rois(client, study_uid: str, rows: list[dict]) -> list[tuple[RoiRef, set[str], set[str]]]:
    """Each SEG/RTSTRUCT instance of the study with the series and instances it references."""
    out = []
    for row in rows:
        modality = _code(_value(row, "00080060"))
        if modality not in ROI_MODALITIES:
            continue
        uid = str(_value(row, "0020000E"))
        for meta in client.retrieve_series_metadata(study_uid, uid):
            sop = str(_value(meta, "00080018") or "")
            series, sops = _referenced(meta)
            if sop:
                out.append((RoiRef(uid, sop, modality), series, sops))
    return out


def _matching(rois, series_uid: str, sop_uids: set[str] = frozenset()) -> tuple[RoiRef, ...]:
    return tuple(ref for ref, series, sops in rois if series_uid in series or (sops & sop_uids))


def list_series(config: PacsConfig, study: StudyInfo | str) -> list[SeriesInfo]:
    """The image series of a study (SEG, RTSTRUCT and other non-image objects left out), each with its series
    check (read from its first instance's WADO-RS metadata) and the tumour ROIs that refer to it; by series
    number."""
    from .series_check import check_series

    study_uid = study.study_uid if isinstance(study, StudyInfo) else str(study)
    study_date = study.date if isinstance(study, StudyInfo) else ""
    client = _client(config)
    out = []
    with _talking_to(config):
        rows = _series_rows(client, config, study_uid)
        rois = _rois(client, study_uid, rows)
        for row in rows:
            modality = _code(_value(row, "00080060"))
            if modality in NOT_IMAGES:
                continue
            uid = str(_value(row, "0020000E"))
            first = client.search_for_instances(study_uid, uid, fields=["SOPInstanceUID"], limit=1)
            check = None
            if first and _value(first[0], "00080018"):
                meta = client.retrieve_instance_metadata(study_uid, uid, str(_value(first[0], "00080018")))
                check = check_series(_dataset(meta))
            description = " ".join(str(_value(row, "0008103E") or "").split())[:MAX_DESCRIPTION]
            out.append(SeriesInfo(study_uid, uid, study_date, _date(_value(row, "00080021")), modality or "",
                                  _int(_value(row, "00200011")), _int(_value(row, "00201209")), description,
                                  check, _matching(rois, uid)))
    out.sort(key=lambda s: (s.number is None, s.number or 0, s.date))
    return out


# ----------------------------------------------------------------------------- retrieval

@dataclass(frozen=True)
class Retrieved:
    """A series (and its ROI) retrieved from the PACS, stored de-identified in a private folder."""

    series_path: Path
    n_images: int
    n_bytes: int
    roi_path: Path | None
    roi_modality: str | None
    warnings: tuple[str, ...]
    terms: Mapping[str, tuple[str, ...]]
    seconds: float

    def label(self, date: str) -> str:
        """The loaded visit's source: "PACS series 2024-03-01, 24 images + tumour ROI"."""
        return (f"PACS series {date or 'of unknown date'}, {_images(self.n_images)}"
                + (" + tumour ROI" if self.roi_path is not None else ", no tumour ROI"))


def _encode(ds) -> bytes:
    from ._reading import quiet_pydicom

    buffer = io.BytesIO()
    with quiet_pydicom():
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _too_large(config: PacsConfig, what: str) -> PacsError:
    return PacsError(f"This series is too large to retrieve here: {what}; the limit is {config.max_images} images "
                     f"and {config.max_series_mb:g} MB (pacs.max_images and pacs.max_series_mb; "
                     f"{ENV['max_images']}, {ENV['max_series_mb']}). Nothing was kept. Choose another series, or "
                     "ask IT to raise the limit.")


def retrieve_series(config: PacsConfig, study_uid: str, series_uid: str, dest: str | os.PathLike, *,
                    with_roi: bool = True, deidentifier=None) -> Retrieved:
    """Retrieve one series (WADO-RS, instance by instance) and, with ``with_roi``, the SEG or RTSTRUCT of the
    study that refers to it (the first by series number when several do; said in the warnings), de-identified
    in memory by :mod:`watchwait.imaging.ingest` before anything is written to ``dest`` (a new folder, 0700):
    ``dest/series`` (one numbered sub-folder per instance) and ``dest/roi``. On any failure nothing is left in
    ``dest``."""
    from .deid import default_deidentifier
    from .ingest import store_roi_upload, store_series_upload

    deid = deidentifier or default_deidentifier()
    dest = Path(dest)
    if dest.exists() or dest.is_symlink():
        raise PacsError(f"{dest}: already exists; a retrieved series is stored in a new folder")
    limit_bytes = int(config.max_series_mb * 1024**2)
    client = _client(config)
    start = time.perf_counter()
    done = False
    try:
        with _talking_to(config):
            rows = {str(_value(r, "0020000E")): r for r in _series_rows(client, config, study_uid)}
            row = rows.get(series_uid)
            if row is None:
                raise PacsError(f"The PACS at {config.shown} has no such series in that study any more (it may "
                                "have been moved or deleted). Search again.")
            n_listed = _int(_value(row, "00201209"))
            if n_listed is not None and n_listed > config.max_images:
                raise _too_large(config, f"{_images(n_listed)}")
            dest.mkdir(mode=0o700, parents=False)
            os.chmod(dest, 0o700)
            (dest / "series").mkdir(mode=0o700)
            terms: dict[str, set[str]] = {}
            warnings: list[str] = []
            sops: set[str] = set()
            n = total = 0
            for ds in client.iter_series(study_uid, series_uid):
                sops.add(str(ds.get("SOPInstanceUID", "")))
                data = _encode(ds)
                del ds
                n += 1
                total += len(data)
                if n > config.max_images or total > limit_bytes:
                    raise _too_large(config, f"more than {_images(n - 1)} or {total / 1024**2:.1f} MB so far")
                stored = store_series_upload([(f"{n:05d}.dcm", data)], dest / "series" / f"{n:05d}",
                                             deidentifier=deid)
                del data
                warnings.extend(stored.warnings)
                for uid, words in stored.terms.items():
                    terms.setdefault(uid, set()).update(words)
            if not n:
                raise PacsError(f"The PACS at {config.shown} returned no image for this series. Search again, or "
                                "ask IT.")
            roi_path = roi_modality = None
            if with_roi:
                found = _matching(_rois(client, study_uid, list(rows.values())), series_uid, sops)
                if found:
                    ref = sorted(found, key=lambda r: _int(_value(rows.get(r.series_uid, {}), "00200011")) or 0)[0]
                    if len(found) > 1:
                        warnings.append(f"{len(found)} tumour ROIs of this study refer to this series; the first "
                                        f"(by series number, a {ref.modality}) is used")
                    roi_ds = client.retrieve_instance(study_uid, ref.series_uid, ref.sop_uid)
                    roi_data = _encode(roi_ds)
                    del roi_ds
                    roi_path = store_roi_upload("roi.dcm", roi_data, dest / "roi", deidentifier=deid)
                    roi_modality = ref.modality
        done = True
    finally:
        if not done:
            shutil.rmtree(dest, ignore_errors=True)
    return Retrieved(dest / "series", n, total, roi_path, roi_modality, tuple(warnings),
                     {k: tuple(sorted(v)) for k, v in terms.items()}, time.perf_counter() - start)


class AlreadyDeidentified:
    """For files :mod:`watchwait.imaging.ingest` stored: they are de-identified once already (a second pass
    would give another pseudonym, and a series could no longer be compared with a sample's)."""

    def __init__(self) -> None:
        from .deid import default_deidentifier

        self._default = default_deidentifier()

    def apply(self, ds):
        return ds

    def __getattr__(self, name):
        return getattr(self._default, name)


# ----------------------------------------------------------------------------- references (CLI, cohort files)

def parse_reference(value: object) -> tuple[str, str] | None:
    """``dicomweb:<StudyInstanceUID>/<SeriesInstanceUID>`` as (study, series); None for anything else (a path).
    PacsError for a ``dicomweb:`` reference that is not two UIDs."""
    text = str(value or "").strip()
    if not text.lower().startswith(REFERENCE_PREFIX):
        return None
    parts = text[len(REFERENCE_PREFIX):].strip("/").split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[0-9]+(\.[0-9]+)*", p) and len(p) <= 64 for p in parts):
        raise PacsError(f"{quoted(text)} is not a DICOMweb series reference: write "
                        f"{REFERENCE_PREFIX}<StudyInstanceUID>/<SeriesInstanceUID> (two UIDs, digits and dots).")
    return parts[0], parts[1]


@contextmanager
def local_paths(series: str | os.PathLike, roi: str | os.PathLike | None, *, deidentifier=None,
                config: PacsConfig | None = None) -> Iterator[tuple[str, str | None, Any, Mapping[str, tuple]]]:
    """``(series_path, roi_path, deidentifier_to_load_them_with, terms)``: paths are passed through as they are
    (``terms`` empty); a
    ``dicomweb:`` series is retrieved (with the tumour ROI that refers to it) into a private temporary folder,
    deleted on leaving whatever happens. A ``dicomweb:`` ROI names the image series it outlines (the same
    reference as the series: its SEG/RTSTRUCT is taken) or the SEG/RTSTRUCT series itself. The PACS: ``config``,
    else the ``WATCHWAIT_PACS_*`` environment variables. ``terms``: the words of the retrieved series'
    descriptions, read before de-identification removed them, per de-identified Series Instance UID: give them
    to :func:`~watchwait.imaging.series_check.check_series` (as ingest's ``StoredUpload.terms``)."""
    import tempfile

    from .deid import default_deidentifier

    deid = deidentifier or default_deidentifier()
    series_ref = parse_reference(series)
    roi_ref = parse_reference(roi) if roi is not None else None
    if series_ref is None and roi_ref is None:
        yield str(series), (None if roi is None else str(roi)), deidentifier, {}
        return
    if series_ref is None:
        raise PacsError("A DICOMweb ROI reference needs a DICOMweb series reference too (the ROI is taken with "
                        "its series from the PACS).")
    config = config or PacsConfig.from_env()
    if config is None:
        raise PacsError(f"{REFERENCE_PREFIX} references need the PACS: set {ENV['url']} (and {ENV['user']} with "
                        f"{ENV['password']}, or {ENV['token']}).")
    if roi_ref is not None and roi_ref[0] != series_ref[0]:
        raise PacsError("A DICOMweb ROI reference must be in the same study as its series.")
    folder = Path(tempfile.mkdtemp(prefix="watchwait-pacs-"))  # 0700
    try:
        got = retrieve_series(config, *series_ref, folder / "retrieved", with_roi=roi is not None,
                              deidentifier=deid)
        roi_path = None if roi is None else got.roi_path
        if roi_ref is not None and roi_ref[1] != series_ref[1]:  # the ROI series named itself
            roi_path = _retrieve_roi_series(config, *roi_ref, folder / "roi", deid)
        elif roi is not None and roi_ref is None:
            roi_path = str(roi)
        elif roi is not None and roi_path is None:
            raise PacsError(f"No tumour ROI (SEG or RTSTRUCT) of study {series_ref[0]} on the PACS refers to "
                            f"series {series_ref[1]}.")
        yield (str(got.series_path), (None if roi_path is None else str(roi_path)), AlreadyDeidentified(),
               got.terms)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _retrieve_roi_series(config: PacsConfig, study_uid: str, series_uid: str, dest: Path, deid) -> Path:
    from .ingest import store_roi_upload

    client = _client(config)
    with _talking_to(config):
        for ds in client.iter_series(study_uid, series_uid):
            return store_roi_upload("roi.dcm", _encode(ds), dest, deidentifier=deid)
    raise PacsError(f"The PACS at {config.shown} returned nothing for ROI series {series_uid}.")
