"""De-identification on ingest: DICOM PS3.15 Annex E, Basic Application Confidentiality Profile.

The reader calls :meth:`Deidentifier.apply` on every data set right after parsing, before any
other code (or any log line) sees it. What it does, in the profile's vocabulary:

* **D** (dummy): Patient's Name and Patient ID become a keyed pseudonym (``WW-`` + 12 hex
  digits, HMAC-SHA256 of the original Patient ID), so the baseline and restaging scans of one
  patient still share an identifier.
* **Z** / **X** (empty / remove): the attributes in :data:`ACTIONS`; every other Person Name
  (PN) element anywhere in the data set is emptied; overlays (60xx) and curves (50xx) are removed.
* **U** (UID): every UID that is not a DICOM-defined one (SOP classes, transfer syntaxes, coding
  schemes keep theirs) is replaced by ``2.25.<HMAC>``. The mapping is a keyed hash, so it is
  the same in every file and every call with the same key: a SEG's references to its source
  images still match the de-identified images.
* Private elements are removed.
* Dates (DA, and the date part of DT) are shifted by a per-patient number of days derived from
  the key (the *Retain Longitudinal Temporal Information with Modified Dates* option, code
  113107), so the interval between baseline and restaging survives. ``shift_dates=False``
  empties them instead. Patient's Birth Date is always removed.

Recorded in the data set: Patient Identity Removed = YES, De-identification Method, and the
De-identification Method Code Sequence (113100 "Basic Application Confidentiality Profile",
DCM; plus 113107 when dates are shifted).

The key comes from the ``WATCHWAIT_DEID_KEY`` environment variable, or else is drawn at random
once per process (pseudonyms are then stable within one process only). Burned-in text in the
pixels is not removed (no clean-pixel option); :func:`burned_in_warning` reports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.valuerep import VR as ValueRepresentation

from ._reading import quiet_pydicom

__all__ = ["Deidentifier", "ACTIONS", "default_deidentifier", "deidentify", "burned_in_warning"]

PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
DATES_OPTION_CODE = ("113107", "DCM", "Retain Longitudinal Temporal Information Modified Dates Option")
METHOD = "watchwait: PS3.15 E Basic Application Confidentiality Profile"
KEY_ENV = "WATCHWAIT_DEID_KEY"

#: Attribute actions of the basic profile for the common identifying attributes.
#: "X" remove, "Z" replace by an empty value, "D" replace by the pseudonym.
ACTIONS: dict[str, str] = {
    # patient
    "PatientName": "D",
    "PatientID": "D",
    "PatientBirthDate": "Z",
    "PatientBirthTime": "X",
    "PatientSex": "Z",
    "PatientAge": "X",
    "PatientSize": "X",
    "PatientWeight": "X",
    "PatientAddress": "X",
    "PatientTelephoneNumbers": "X",
    "PatientMotherBirthName": "X",
    "PatientBirthName": "X",
    "OtherPatientIDs": "X",
    "OtherPatientIDsSequence": "X",
    "OtherPatientNames": "X",
    "IssuerOfPatientID": "X",
    "MedicalRecordLocator": "X",
    "EthnicGroup": "X",
    "Occupation": "X",
    "MilitaryRank": "X",
    "BranchOfService": "X",
    "CountryOfResidence": "X",
    "RegionOfResidence": "X",
    "AdditionalPatientHistory": "X",
    "PatientComments": "X",
    "PatientState": "X",
    "PregnancyStatus": "X",
    "ResponsiblePerson": "X",
    "ResponsibleOrganization": "X",
    "PatientInsurancePlanCodeSequence": "X",
    "ReferencedPatientSequence": "X",
    # study / visit / request
    "AccessionNumber": "Z",
    "StudyID": "Z",
    "StudyDescription": "X",
    "SeriesDescription": "X",
    "ProtocolName": "X",
    "ImageComments": "X",
    "StudyComments": "X",
    "DerivationDescription": "X",
    "AdmittingDiagnosesDescription": "X",
    "AdmittingDiagnosesCodeSequence": "X",
    "ReasonForStudy": "X",
    "RequestedProcedureDescription": "X",
    "RequestedProcedureID": "X",
    "PerformedProcedureStepID": "X",
    "PerformedProcedureStepDescription": "X",
    "ScheduledProcedureStepDescription": "X",
    "RequestAttributesSequence": "X",
    "ReferencedStudySequence": "X",
    "AdmissionID": "X",
    "InstitutionName": "X",
    "InstitutionAddress": "X",
    "InstitutionalDepartmentName": "X",
    "InstitutionCodeSequence": "X",
    # people
    "ReferringPhysicianName": "Z",
    "ReferringPhysicianAddress": "X",
    "ReferringPhysicianTelephoneNumbers": "X",
    "PerformingPhysicianName": "X",
    "NameOfPhysiciansReadingStudy": "X",
    "PhysiciansOfRecord": "X",
    "RequestingPhysician": "X",
    "OperatorsName": "X",
    "ContentCreatorName": "Z",
    # device
    "StationName": "X",
    "DeviceSerialNumber": "X",
    "DetectorID": "X",
    "PlateID": "X",
    "GantryID": "X",
}

# UIDs that are kept: they name things defined by the standard or by coding schemes, not people.
_KEEP_UID_KEYWORDS = {
    "TransferSyntaxUID",
    "ImplementationClassUID",
    "CodingSchemeUID",
    "ContextUID",
    "MappingResourceUID",
    "PrivateInformationCreatorUID",
}


def _keeps_uid(keyword: str, value: str) -> bool:
    return keyword.endswith("ClassUID") or keyword in _KEEP_UID_KEYWORDS or value.startswith(
        "1.2.840.10008."
    )


class Deidentifier:
    """Applies the profile with one secret key (same key -> same pseudonyms and UIDs).

    Parameters
    ----------
    key:
        Secret for the keyed hashes. ``None``: the ``WATCHWAIT_DEID_KEY`` environment variable,
        else a random key drawn once per process.
    shift_dates:
        Shift dates by a per-patient offset (keeps intervals) instead of emptying them.
    """

    def __init__(self, key: bytes | str | None = None, *, shift_dates: bool = True):
        if key is None:
            key = os.environ.get(KEY_ENV) or _PROCESS_KEY
        self.key = key.encode() if isinstance(key, str) else bytes(key)
        self.shift_dates = shift_dates

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, uid: str) -> str:
        """The de-identified UID for ``uid`` (a ``2.25.`` UID, at most 44 characters)."""
        return "2.25." + str(int.from_bytes(self._digest("uid", uid.strip())[:16], "big"))

    def pseudonym(self, patient_id: str) -> str:
        """The pseudonym that replaces Patient ID and Patient's Name."""
        return "WW-" + self._digest("patient", patient_id.strip()).hex()[:12].upper()

    def date_offset_days(self, patient_id: str) -> int:
        """Days added to every date of this patient: between -3650 and -366 (never zero)."""
        n = int.from_bytes(self._digest("dates", patient_id.strip())[:4], "big")
        return -(366 + n % 3285)

    def apply(self, ds: Dataset) -> Dataset:
        """De-identify ``ds`` in place (file meta included) and return it."""
        with quiet_pydicom():  # value checks on access may quote identifying values
            return self._apply(ds)

    def _apply(self, ds: Dataset) -> Dataset:
        patient_id = str(ds.get("PatientID", "") or "")
        self._clean(ds, self.pseudonym(patient_id), self.date_offset_days(patient_id))
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.uid(str(meta.MediaStorageSOPInstanceUID))
        self._record(ds)
        return ds

    def _clean(self, ds: Dataset, pseudonym: str, offset: int) -> None:
        """Apply the actions to ``ds`` and its sequence items, recursively.

        Elements are chosen by tag and Value Representation without decoding them (the reader
        has decoded all but an RTSTRUCT's contour coordinates, which stay encoded). A name, UID
        or date is recognised by the VR in the file *or* the dictionary's for its tag, so a
        corrupt or unusual VR does not let it through; new values are written as new elements
        with the VR they need, whatever VR the file gave the old one.
        """
        for tag in list(ds.keys()):
            tag = Tag(tag)
            group = tag.group
            if tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del ds[tag]
                continue
            known = _dictionary_vr(tag)
            vr = ds.get_item(tag).VR
            if vr in (None, "UN"):  # implicit VR, or a public element written as UN
                vr = known
            elif vr not in _VALID_VRS:  # corrupt: it could not be cleaned, so it is not kept
                raise ValueError(f"invalid Value Representation {vr!r} in element {tag}")
            kinds = {vr, known}
            keyword = keyword_for_tag(tag)
            action = ACTIONS.get(keyword)
            if action == "X":
                del ds[tag]
            elif action == "Z":
                ds[tag] = DataElement(tag, known, Sequence() if known == "SQ" else "")
            elif action == "D":
                ds[tag] = DataElement(tag, known, pseudonym + "^" if known == "PN" else pseudonym)
            elif vr == "SQ":
                for item in ds[tag].value or []:
                    self._clean(item, pseudonym, offset)
            elif "PN" in kinds:
                ds[tag] = DataElement(tag, "PN", "")
            elif "UI" in kinds:
                value = ds[tag].value
                if value:
                    ds[tag] = DataElement(tag, "UI", self._map_uids(keyword, value))
            elif kinds & {"DA", "DT"}:
                value = ds[tag].value
                if value:
                    date_vr = "DT" if "DT" in kinds else "DA"
                    ds[tag] = DataElement(tag, date_vr, self._shift(date_vr, value, offset))

    def _map_uids(self, keyword: str, value: object) -> object:
        return _each(value, lambda v: v if _keeps_uid(keyword, v) else self.uid(v))

    def _shift(self, vr: str, value: object, offset: int) -> object:
        if not self.shift_dates:
            return ""
        return _each(value, lambda v: _shift_one(v, offset))

    def _record(self, ds: Dataset) -> None:
        for keyword in ("PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
                        "LongitudinalTemporalInformationModified"):
            if keyword in ds:  # written anew below, with the dictionary's VR (not the file's)
                del ds[keyword]
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = METHOD
        codes = [PROFILE_CODE] + ([DATES_OPTION_CODE] if self.shift_dates else [])
        items = []
        for value, scheme, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = scheme
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        ds.LongitudinalTemporalInformationModified = "MODIFIED" if self.shift_dates else "REMOVED"


_VALID_VRS = frozenset(v.value for v in ValueRepresentation)


def _dictionary_vr(tag: BaseTag) -> str:
    """The VR of a public tag from the data dictionary ("UN" when unknown)."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _each(value: object, fn: Callable[[str], str]) -> object:
    """Apply ``fn`` to a single value or to each value of a multi-valued element (as text)."""
    if isinstance(value, (list, tuple, MultiValue)):
        return [fn(_text(v)) for v in value]
    return fn(_text(value))


def _text(value: object) -> str:
    """A value as text: bytes (a value stored under a binary VR) decoded as ASCII."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("ascii", "replace").strip(" \x00")
    return str(value)


def _shift_one(value: str, offset: int) -> str:
    """Shift a DA (YYYYMMDD) or the date part of a DT; anything unparsable, or a date the shift
    would carry outside years 1-9999 (a damaged file's 00010101), becomes empty."""
    value = value.strip()
    try:
        day = dt.datetime.strptime(value[:8], "%Y%m%d").date()
        return (day + dt.timedelta(days=offset)).strftime("%Y%m%d") + value[8:]
    except (ValueError, OverflowError):
        return ""


_PROCESS_KEY = secrets.token_bytes(32)


def default_deidentifier() -> Deidentifier:
    """A :class:`Deidentifier` with the default key (environment or per-process)."""
    return Deidentifier()


def deidentify(ds: Dataset, deidentifier: Deidentifier | None = None) -> Dataset:
    """De-identify ``ds`` in place with ``deidentifier`` (default key) and return it."""
    return (deidentifier or default_deidentifier()).apply(ds)


def burned_in_warning(ds: Dataset) -> str | None:
    """A warning when the header says the pixels carry burned-in annotation."""
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        return "Burned In Annotation is YES: the pixels may show identifying text (not removed)"
    return None
