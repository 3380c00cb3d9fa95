"""Series checks before the model: is this MR series the kind of image the model's radiomics were built on?

The model's radiomic features were learnt on **T2-weighted, axial, pelvic MR** (the synthetic training images of
:mod:`watchwait.imaging.synthetic`: spin echo, TR 4000 ms, TE 100 ms, 3.0 mm slices, 0.8 mm pixels). Radiomics
of another kind of image - a T1-weighted limb tumour, a sagittal plane, a diffusion map - measure something else
under the same name, so they must not enter the model (brief rule 12). :func:`check_series` reads what the DICOM
headers say and decides:

* ``fit_for_model = True``: every fact that can be read agrees with the model's images;
* ``fit_for_model = False``: at least one fact says this is another kind of image; ``reasons`` say which, in
  words a clinician reads ("T1-weighted (TR 450 ms, TE 15 ms), not T2");
* ``fit_for_model = None``: nothing says it is wrong, but the headers cannot settle it (no timing, no
  orientation...); ``reasons`` say what is missing. Such a series stays out of the model unless a clinician
  confirms it (the Imaging screen records who and when); a cohort file keeps it out.

What is read, and from where (top level first, then the Enhanced MR functional groups):

* Modality: MR only.
* Weighting: Repetition Time / Echo Time (thresholds below), Inversion Time and Scanning Sequence ``IR``
  (inversion recovery: FLAIR, STIR), Scanning Sequence ``GR`` without ``SE`` (gradient echo) and ``EP`` (echo
  planar, as diffusion is acquired), Diffusion b-value, Contrast/Bolus Agent (post-contrast), and words of Series Description, Protocol Name, Sequence Name, Image Type and
  Acquisition Contrast (T2, T2W, TSE, FSE, T1, VIBE, FLAIR, STIR, DWI, ADC, b-values, post-contrast, ...).
  Only words of a fixed vocabulary (:data:`TERMS`) are kept, never the text itself: the descriptions are
  removed by de-identification, and the words are read just before it (see :func:`description_terms`).
* Orientation: Image Orientation (Patient). Axial = slice normal within :data:`AXIAL_TOLERANCE_DEG` of the
  head-foot axis; oblique axial (angled perpendicular to the rectum or the tumour, common in rectal MRI) is
  accepted within that tolerance and said.
* Body Part Examined, where present: pelvic and abdominal parts accepted, any other refused; absent decides
  nothing.
* Slice Thickness (else Spacing Between Slices, else the loaded series' slice spacing) and Pixel Spacing,
  against :data:`MAX_SLICE_THICKNESS_MM` and :data:`MAX_PIXEL_SPACING_MM`.

Nothing here echoes header text to the reasons except values of a coded kind (Modality, Body Part Examined,
numbers), cleaned to letters, digits and spaces.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SeriesCheck",
    "check_series",
    "description_terms",
    "header_of",
    "KEPT_OUT_COLUMN",
    "kept_out_cell",
    "CONFIRMED_COLUMN",
    "confirmed_cell",
    "kept_out_reasons",
]

# ----------------------------------------------------------------------------- thresholds

#: T2-weighted spin echo: long TR and long TE (conventional MR physics ranges; a rectal T2 TSE is typically
#: TR 3000-6000 ms, TE 80-120 ms; the model's synthetic images are TR 4000 ms, TE 100 ms).
T2_MIN_TR_MS = 1500.0
T2_MIN_TE_MS = 60.0
#: T1-weighted: short TR and short TE.
T1_MAX_TR_MS = 1000.0
T1_MAX_TE_MS = 30.0
# Anything else (e.g. long TR with short TE: proton density; intermediate values) is undecided by the timing,
# unless the series' description says T2 (fit) or T1 (not fit).

#: Axial = the slice normal within this angle of the head-foot axis. Rectal T2 is often acquired oblique axial,
#: perpendicular to the tumour's axis; tilts up to this are accepted (and said above OBLIQUE_FROM_DEG).
AXIAL_TOLERANCE_DEG = 30.0
OBLIQUE_FROM_DEG = 5.0

#: The model's training images (watchwait/imaging/synthetic.py, ``spacing=(3.0, 0.8, 0.8)``).
TRAINING_SLICE_MM = 3.0
TRAINING_PIXEL_MM = 0.8
#: Bounds of what this model accepts: a margin around its training images, set by this project (not taken from
#: a guideline). Thicker slices or coarser pixels change volume and texture features beyond what it has seen.
MAX_SLICE_THICKNESS_MM = 5.0
MAX_PIXEL_SPACING_MM = 1.2
BOUNDS_SOURCE = ("bounds of this model's training images (3.0 mm slices, 0.8 mm pixels; "
                 "watchwait/imaging/synthetic.py), with a margin set by this project")

#: Body Part Examined values accepted (compared without spaces, '_' and '-'); any other present value is refused.
PELVIC_PARTS = frozenset({"PELVIS", "RECTUM", "ABDOMEN", "ABDOMENPELVIS", "ABDPELVIS", "ABDOMENANDPELVIS", "COLON",
                          "SIGMOID", "ANUS", "ANALCANAL", "PERINEUM", "LOWERABDOMEN", "PROSTATE", "BLADDER",
                          "UTERUS", "CERVIX"})

MODEL_IMAGES = "T2-weighted axial pelvic MR"

# ----------------------------------------------------------------------------- vocabulary

#: Words of descriptions (Series Description, Protocol Name, Sequence Name, Image Type, Acquisition Contrast)
#: and what they mean. Only these canonical meanings are ever kept from a description.
TERMS: dict[str, str] = {
    # T2
    "T2": "T2", "T2W": "T2", "T2WI": "T2", "T2TSE": "T2", "T2FSE": "T2", "T2WTSE": "T2",
    # T1 (and T1 gradient-echo families)
    "T1": "T1", "T1W": "T1", "T1WI": "T1", "T1TSE": "T1", "T1SE": "T1", "VIBE": "T1", "LAVA": "T1",
    "THRIVE": "T1", "MPRAGE": "T1", "FLASH": "T1", "SPGR": "T1", "STARVIBE": "T1",
    # proton density
    "PD": "PD", "PDW": "PD", "PDWI": "PD", "PROTONDENSITY": "PD",
    # inversion recovery
    "FLAIR": "FLAIR", "STIR": "STIR", "TIRM": "STIR",
    # diffusion
    "DWI": "DWI", "DIFFUSION": "DWI", "DIFF": "DWI", "TRACE": "DWI", "TRACEW": "DWI", "ADC": "DWI",
    "RESOLVE": "DWI", "EPIDIFF": "DWI",
    # contrast
    "POST": "CONTRAST", "POSTCONTRAST": "CONTRAST", "GD": "CONTRAST", "GAD": "CONTRAST", "CONTRAST": "CONTRAST",
    "DCE": "CONTRAST", "DYN": "CONTRAST", "DYNAMIC": "CONTRAST", "KM": "CONTRAST", "C+": "CONTRAST",
    "+C": "CONTRAST", "T1C": "CONTRAST", "T1+C": "CONTRAST", "PERFUSION": "CONTRAST",
    # fat suppression
    "FS": "FATSAT", "FATSAT": "FATSAT", "SPAIR": "FATSAT", "SPIR": "FATSAT", "SPIRIT": "FATSAT",
    "DIXON": "FATSAT",
    # spin-echo families (say spin echo, not the weighting)
    "TSE": "TSE", "FSE": "TSE", "HASTE": "TSE", "SSFSE": "TSE", "SPACE": "TSE", "CUBE": "TSE", "VISTA": "TSE",
    "BLADE": "TSE", "PROPELLER": "TSE", "MULTIVANE": "TSE", "RARE": "TSE",
    # planes (recorded; the orientation is decided by Image Orientation (Patient))
    "AX": "AXIAL", "AXIAL": "AXIAL", "TRA": "AXIAL", "TRANSVERSE": "AXIAL", "SAG": "SAGITTAL",
    "SAGITTAL": "SAGITTAL", "COR": "CORONAL", "CORONAL": "CORONAL",
}
_B_VALUE = re.compile(r"B\d{2,4}")  # b800, B1000: a diffusion b-value
#: Enhanced MR's Acquisition Contrast defined terms.
_ACQUISITION_CONTRAST = {"T1": "T1", "T2": "T2", "PROTON_DENSITY": "PD", "DIFFUSION": "DWI", "FLAIR": "FLAIR",
                         "STIR": "STIR"}
#: Siemens-style Sequence Name prefixes (after '*'): tse..., fl..., ep_b..., tir...
_SEQUENCE_PREFIXES = (("TSE", "TSE"), ("TIR", "STIR"), ("EP_B", "DWI"), ("RE_B", "DWI"), ("FL", "GRE"),
                      ("FI", "GRE"), ("H2D", "TSE"))
#: What each word group is called on screen.
TERM_WORDS = {"T2": "T2", "T1": "T1", "PD": "proton density", "FLAIR": "FLAIR", "STIR": "STIR",
              "DWI": "diffusion (DWI/ADC)", "CONTRAST": "post-contrast", "FATSAT": "fat-suppressed",
              "TSE": "turbo/fast spin echo", "GRE": "gradient echo", "AXIAL": "axial", "SAGITTAL": "sagittal",
              "CORONAL": "coronal"}
TEXT_KEYWORDS = ("SeriesDescription", "ProtocolName", "SequenceName", "ImageType", "AcquisitionContrast",
                 "PulseSequenceName")


def description_terms(values: Iterable[object] | object) -> tuple[str, ...]:
    """The canonical meanings (:data:`TERMS`) found in free-text header values, sorted; never the text itself.

    ``values``: one string or several (a DICOM multi-value counts as several). Words are split on anything
    but letters, digits and ``+`` (so ``t2_tse_tra`` gives T2, TSE, AXIAL and ``IBSI_1_STS_025_MR_T1_image``
    gives T1).
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        values = [values]
    found: set[str] = set()
    for value in values:
        if value is None:
            continue
        if not isinstance(value, (str, bytes)) and isinstance(value, Iterable):
            found.update(description_terms(value))
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        upper = text.upper()
        if upper in _ACQUISITION_CONTRAST:
            found.add(_ACQUISITION_CONTRAST[upper])
            continue
        stripped = upper.lstrip("*").strip()
        for prefix, meaning in _SEQUENCE_PREFIXES:
            if stripped.startswith(prefix) and re.fullmatch(r"[A-Z_]+\d?[A-Z0-9_]*", stripped):
                found.add(meaning)
                break
        for word in re.split(r"[^A-Z0-9+]+", upper):
            if not word:
                continue
            if word in TERMS:
                found.add(TERMS[word])
            elif _B_VALUE.fullmatch(word):
                found.add("DWI")
            elif word.endswith("W") and word[:-1] in ("T1", "T2", "PD"):
                found.add(TERMS[word[:-1]])
    return tuple(sorted(found))


# ----------------------------------------------------------------------------- header

#: Header attributes read (all technical, none identifying), as kept in :func:`header_of`.
HEADER_KEYWORDS = ("Modality", "RepetitionTime", "EchoTime", "InversionTime", "ScanningSequence", "SequenceVariant",
                   "DiffusionBValue", "BodyPartExamined", "SliceThickness", "SpacingBetweenSlices", "PixelSpacing",
                   "ImageOrientationPatient", "MRAcquisitionType")


def _find(ds: Any, keyword: str, groups: tuple[tuple[str, ...], ...] = ()) -> Any:
    """``keyword`` at the top level of ``ds``, else inside the Enhanced MR functional groups (shared, then the
    first frame's), through each path of sequence keywords in ``groups``."""
    value = ds.get(keyword) if hasattr(ds, "get") else None
    if not _blank(value):
        return value
    for top in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(top) if hasattr(ds, "get") else None
        if not seq:
            continue
        item = seq[0]
        for path in groups:
            node = item
            for kw in path:
                inner = node.get(kw) if hasattr(node, "get") else None
                if not inner:
                    node = None
                    break
                node = inner[0]
            if node is not None and hasattr(node, "get"):
                for kw in (keyword,) + (("EffectiveEchoTime",) if keyword == "EchoTime" else ()) \
                        + (("InversionTimes",) if keyword == "InversionTime" else ()):
                    value = node.get(kw)
                    if not _blank(value):
                        return value
    return None


_GROUP_PATHS = {
    "RepetitionTime": (("MRTimingAndRelatedParametersSequence",),),
    "EchoTime": (("MREchoSequence",),),
    "InversionTime": (("MRModifierSequence",),),
    "DiffusionBValue": (("MRDiffusionSequence",),),
    "SliceThickness": (("PixelMeasuresSequence",),),
    "SpacingBetweenSlices": (("PixelMeasuresSequence",),),
    "PixelSpacing": (("PixelMeasuresSequence",),),
    "ImageOrientationPatient": (("PlaneOrientationSequence",),),
    "AcquisitionContrast": (("MRImageFrameTypeSequence",),),
    "ImageType": (("MRImageFrameTypeSequence",),),
}


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return not value.strip()
    try:
        return len(value) == 0
    except TypeError:
        return False


def _plain(value: Any) -> Any:
    """A header value as plain Python: numbers, strings or lists of them (never pydicom objects)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):  # DSfloat too
        return float(value)
    if isinstance(value, int):  # IS too
        return int(value)
    if isinstance(value, str):  # PersonName, UID... as plain text
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, Iterable):
        return [_plain(v) for v in value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def header_of(ds: Any, terms: Iterable[str] = ()) -> dict[str, Any]:
    """The technical header facts :func:`check_series` reads, as a plain dict: the :data:`HEADER_KEYWORDS`
    (top level, else Enhanced MR functional groups), ``ContrastBolusAgent`` reduced to whether one is
    recorded, and ``description_terms`` (the meanings of the free-text attributes plus ``terms``). Nothing
    identifying: no names, IDs, UIDs, dates or description text. Works on a de-identified data set (whose
    descriptions may be gone: pass the words read before de-identification as ``terms``)."""
    out: dict[str, Any] = {}
    for kw in HEADER_KEYWORDS:
        value = _find(ds, kw, _GROUP_PATHS.get(kw, ()))
        if not _blank(value):
            out[kw] = _plain(value)
    agent = ds.get("ContrastBolusAgent") if hasattr(ds, "get") else None
    if isinstance(agent, bool):
        out["ContrastBolusAgent"] = agent
    else:
        out["ContrastBolusAgent"] = not _blank(agent) or bool(_find(ds, "ContrastBolusAgentSequence"))
    texts = [_find(ds, kw, _GROUP_PATHS.get(kw, ())) for kw in TEXT_KEYWORDS]
    found = set(description_terms([t for t in texts if not _blank(t)]))
    found.update(terms)
    if hasattr(ds, "get") and ds.get("description_terms"):
        found.update(ds.get("description_terms"))
    out["description_terms"] = sorted(found)
    return out


# ----------------------------------------------------------------------------- the check

@dataclass(frozen=True)
class SeriesCheck:
    """Whether a series may give the model its radiomics, and why (see the module's docstring).

    ``reasons``: why it is not fit, or why the headers cannot settle it (empty when fit). ``notes``: what was
    accepted with a comment ("oblique axial, 12 degrees from true axial: accepted"). ``facts``: what was read,
    in plain values (``weighting``, ``plane``, ``tilt_from_axial_deg``, ``slice_thickness_mm``, ...).
    """

    fit_for_model: bool | None
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        """In words: "fit for the model", "not fit for the model" or "not settled by its headers"."""
        return {True: "fit for the model", False: "not fit for the model",
                None: "not settled by its headers"}[self.fit_for_model]

    def summary(self) -> str:
        """One sentence: the decision and its reasons (or, when fit, what was read)."""
        if self.fit_for_model:
            return f"Fit for the model ({MODEL_IMAGES}): " + "; ".join(self.notes) + "."
        if self.fit_for_model is False:
            return f"Not fit for the model ({MODEL_IMAGES}): " + "; ".join(self.reasons) + "."
        return ("Not settled by its headers, so kept out of the model unless a clinician confirms it is a "
                f"{MODEL_IMAGES} series: " + "; ".join(self.reasons) + ".")

    def to_dict(self) -> dict[str, Any]:
        return {"fit_for_model": self.fit_for_model, "decision": self.decision, "reasons": list(self.reasons),
                "notes": list(self.notes), "facts": dict(self.facts)}


def check_series(datasets_or_headers: Any, *, slice_spacing_mm: float | None = None,
                 terms: Iterable[str] = ()) -> SeriesCheck:
    """Check a series against the model's images (:data:`MODEL_IMAGES`).

    ``datasets_or_headers``: a pydicom Dataset or a list of them (one series), a mapping of DICOM keywords
    (as :func:`header_of` gives, or written by hand), a list of such mappings, or a loaded
    :class:`watchwait.imaging.dicom_io.Series` (its ``header`` and slice spacing). The first item's technical
    facts are read; the description words of all items are pooled. ``slice_spacing_mm``: used when no slice
    thickness is recorded. ``terms``: description words read elsewhere (before de-identification).
    """
    items, spacing = _items(datasets_or_headers)
    if slice_spacing_mm is None:
        slice_spacing_mm = spacing
    if not items:
        return SeriesCheck(None, ["no image headers to read"], [], {})
    words: set[str] = set(terms)
    headers = []
    for item in items:
        h = dict(item) if isinstance(item, Mapping) and "description_terms" in item else header_of(item)
        words.update(h.get("description_terms") or ())
        headers.append(h)
    h = headers[0]
    h["description_terms"] = sorted(words)
    return _decide(h, slice_spacing_mm)


def _items(obj: Any) -> tuple[list[Any], float | None]:
    header = getattr(obj, "header", None)
    if header is not None and hasattr(obj, "spacing"):  # a loaded Series
        return [header], float(obj.spacing[0])
    if isinstance(obj, Mapping) or hasattr(obj, "dir"):  # one mapping or one pydicom Dataset
        return [obj], None
    return list(obj), None


def _number(value: Any) -> float | None:
    """A header number (first of a multi-value), or None when blank or not a finite number."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _numbers(value: Any) -> list[float] | None:
    if not isinstance(value, (list, tuple)):
        value = str(value).replace("\\", " ").split() if value is not None else []
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return out if out and all(math.isfinite(v) for v in out) else None


def _codes(value: Any) -> set[str]:
    """Scanning Sequence / Sequence Variant values ("SE\\IR", ["SE", "IR"]) as a set of upper-case codes."""
    if value is None:
        return set()
    if isinstance(value, (list, tuple)):
        return {str(v).strip().upper() for v in value if str(v).strip()}
    return {v.strip().upper() for v in re.split(r"[\\,\s]+", str(value)) if v.strip()}


def _clean(text: Any, limit: int = 32) -> str:
    """A coded header value as it may be shown: letters, digits and spaces only."""
    return re.sub(r"[^A-Za-z0-9 ]+", " ", str(text)).strip()[:limit].strip()


def _ms(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def _mm(x: float) -> str:
    return f"{x:.3g}"


def _decide(h: Mapping[str, Any], slice_spacing_mm: float | None) -> SeriesCheck:
    refused: list[str] = []
    unsure: list[str] = []
    notes: list[str] = []
    facts: dict[str, Any] = {}
    terms = set(h.get("description_terms") or ())
    facts["description_terms"] = sorted(terms)

    # -- modality
    modality = _clean(h.get("Modality") or "").upper()
    facts["modality"] = modality or None
    if not modality:
        unsure.append("the modality is not recorded (the model takes MR only)")
    elif modality != "MR":
        refused.append(f"{modality}, not MR")

    # -- weighting (an MR notion: not asked of a CT)
    facts["weighting"] = _weighting(h, terms, refused, unsure, notes, facts) if modality in ("", "MR") else None

    # -- orientation
    _orientation(h.get("ImageOrientationPatient"), refused, unsure, notes, facts)

    # -- body part
    part = _clean(h.get("BodyPartExamined") or "").upper()
    facts["body_part"] = part or None
    if part:
        if re.sub(r"[ _-]", "", part) in PELVIC_PARTS:
            notes.append(f"body part {part}")
        else:
            refused.append(f"body part {part}, not pelvis")

    # -- slice thickness and pixel spacing
    thickness = _number(h.get("SliceThickness"))
    source = "slice thickness"
    if thickness is None or thickness <= 0:
        thickness, source = _number(h.get("SpacingBetweenSlices")), "spacing between slices"
    if (thickness is None or thickness <= 0) and slice_spacing_mm:
        thickness, source = float(slice_spacing_mm), "slice spacing"
    facts["slice_thickness_mm"] = thickness
    if thickness is None or thickness <= 0:
        unsure.append("the slice thickness is not recorded")
    elif thickness > MAX_SLICE_THICKNESS_MM + 1e-6:
        refused.append(f"{source} {_mm(thickness)} mm, above the {_mm(MAX_SLICE_THICKNESS_MM)} mm this model accepts "
                       f"(its training images had {_mm(TRAINING_SLICE_MM)} mm slices)")
    else:
        notes.append(f"{source} {_mm(thickness)} mm")
    pixels = _numbers(h.get("PixelSpacing"))
    pixel = max(pixels) if pixels else None
    facts["pixel_spacing_mm"] = pixels
    if pixel is None or pixel <= 0:
        unsure.append("the pixel spacing is not recorded")
    elif pixel > MAX_PIXEL_SPACING_MM + 1e-6:
        refused.append(f"pixels {_mm(pixel)} mm, above the {_mm(MAX_PIXEL_SPACING_MM)} mm this model accepts "
                       f"(its training images had {_mm(TRAINING_PIXEL_MM)} mm pixels)")
    else:
        notes.append(f"pixels {_mm(pixel)} mm")
    facts["bounds"] = {"max_slice_thickness_mm": MAX_SLICE_THICKNESS_MM, "max_pixel_spacing_mm": MAX_PIXEL_SPACING_MM,
                       "source": BOUNDS_SOURCE}

    if refused:
        return SeriesCheck(False, refused + unsure, notes, facts)
    if unsure:
        return SeriesCheck(None, unsure, notes, facts)
    return SeriesCheck(True, [], notes, facts)


def _weighting(h: Mapping[str, Any], terms: set[str], refused: list[str], unsure: list[str], notes: list[str],
               facts: dict[str, Any]) -> str | None:
    """The weighting in words, appending to refused/unsure/notes."""
    tr, te = _number(h.get("RepetitionTime")), _number(h.get("EchoTime"))
    ti = _number(h.get("InversionTime"))
    scanning, variant = _codes(h.get("ScanningSequence")), _codes(h.get("SequenceVariant"))
    facts.update(repetition_time_ms=tr, echo_time_ms=te, inversion_time_ms=ti,
                 scanning_sequence=sorted(scanning) or None, sequence_variant=sorted(variant) or None,
                 contrast_agent=bool(h.get("ContrastBolusAgent")))
    timing = (f"TR {_ms(tr)} ms, TE {_ms(te)} ms" if tr is not None and te is not None
              else f"TR {_ms(tr)} ms, no TE recorded" if tr is not None
              else f"TE {_ms(te)} ms, no TR recorded" if te is not None else "no TR or TE recorded")
    said = "its description says"

    # Kinds that are not T2 whatever the timing.
    if h.get("ContrastBolusAgent") or "CONTRAST" in terms:
        why = "a contrast agent is recorded" if h.get("ContrastBolusAgent") else f"{said} post-contrast"
        refused.append(f"post-contrast ({why}), not the unenhanced T2")
        return "post-contrast"
    b_value = _number(h.get("DiffusionBValue"))
    facts["diffusion_b_value"] = b_value
    if "DWI" in terms:
        refused.append(f"diffusion-weighted ({said} DWI/ADC), not T2")
        return "diffusion-weighted"
    if b_value is not None and b_value > 0:
        refused.append(f"diffusion-weighted (b-value {b_value:.0f} s/mm2), not T2")
        return "diffusion-weighted"
    if "EP" in scanning:  # echo planar: how diffusion (and perfusion) is acquired; a rectal T2 is turbo spin echo
        refused.append(f"echo-planar (Scanning Sequence EP, as used for diffusion, {timing}), not a T2-weighted "
                       "turbo spin echo")
        return "echo-planar"
    if "IR" in scanning or (ti is not None and ti > 0) or terms & {"FLAIR", "STIR"}:
        kind = ("FLAIR" if "FLAIR" in terms or (ti is not None and ti >= 1500)
                else "STIR" if "STIR" in terms or (ti is not None and ti < 400) else "inversion recovery")
        ti_text = f"TI {_ms(ti)} ms" if ti is not None else "inversion recovery"
        refused.append(f"{kind} ({ti_text}), not T2" if kind != "inversion recovery"
                       else f"inversion recovery ({ti_text if ti is not None else 'Scanning Sequence IR'}), not T2")
        return kind
    if "GR" in scanning and "SE" not in scanning:
        refused.append(f"gradient echo ({timing}), not a T2-weighted spin echo")
        return "gradient echo"

    by_timing: str | None = None
    if tr is not None and te is not None:
        if tr >= T2_MIN_TR_MS and te >= T2_MIN_TE_MS:
            by_timing = "T2"
        elif tr < T1_MAX_TR_MS and te < T1_MAX_TE_MS:
            by_timing = "T1"
        else:
            by_timing = "unclear"
    desc = [t for t in ("T2", "T1", "PD") if t in terms]
    if "T1" not in desc and "GRE" in terms:
        desc.append("GRE")

    if by_timing == "T1":
        conflict = f"; {said} T2" if "T2" in desc else ""
        refused.append(f"T1-weighted ({timing}{conflict}), not T2")
        return "T1-weighted"
    if by_timing == "T2":
        others = [t for t in desc if t != "T2"]
        if others:
            unsure.append(f"the timing is T2-weighted ({timing}) but {said} "
                          + " and ".join(TERM_WORDS.get(t, t) for t in others))
            return None
        notes.append(f"T2-weighted ({timing})")
        if "FATSAT" in terms:
            unsure.append(f"fat-suppressed ({said} so): the model's T2 images were not")
        return "T2-weighted"
    # Timing unclear or absent: the description decides, if it says one thing.
    if len(desc) == 1 and desc[0] == "T2":
        notes.append(f"T2-weighted by its description ({timing}"
                     + (": not T2 or T1 by the timing alone)" if by_timing == "unclear" else ")"))
        if "FATSAT" in terms:
            unsure.append(f"fat-suppressed ({said} so): the model's T2 images were not")
        return "T2-weighted"
    if desc and "T2" not in desc:
        t = desc[0]
        label = {"T1": "T1-weighted", "PD": "proton-density-weighted", "GRE": "gradient echo"}[t]
        refused.append(f"{label} ({said} {TERM_WORDS[t]}, {timing}), not T2")
        return label
    if len(desc) > 1:
        unsure.append(f"the weighting is unclear: {said} " + " and ".join(TERM_WORDS[t] for t in desc)
                      + f" ({timing})")
        return None
    if by_timing == "unclear":
        hint = ""
        if tr is not None and te is not None and tr >= T2_MIN_TR_MS and te < T1_MAX_TE_MS:
            hint = ", which is proton-density-like"
        unsure.append(f"neither T2- nor T1-weighted by its timing ({timing}{hint}), and no T2 in its description")
        return None
    unsure.append(f"the weighting cannot be read: {timing}, and no T2 or T1 in its description")
    return None


def _orientation(iop: Any, refused: list[str], unsure: list[str], notes: list[str], facts: dict[str, Any]) -> None:
    v = _numbers(iop)
    if not v or len(v) != 6:
        facts.update(plane=None, tilt_from_axial_deg=None)
        unsure.append("the slice orientation is not recorded")
        return
    row, col = v[:3], v[3:]
    n = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0])
    norm = math.sqrt(sum(c * c for c in n))
    if norm < 1e-6:
        facts.update(plane=None, tilt_from_axial_deg=None)
        unsure.append("the slice orientation cannot be read (its row and column directions are parallel)")
        return
    n = tuple(c / norm for c in n)
    tilt = [math.degrees(math.acos(min(1.0, abs(c)))) for c in n]  # from the L-R, A-P, head-foot axes
    facts["tilt_from_axial_deg"] = round(tilt[2], 1)
    if tilt[2] <= AXIAL_TOLERANCE_DEG:
        if tilt[2] <= OBLIQUE_FROM_DEG:
            facts["plane"] = "axial"
            notes.append("axial")
        else:
            facts["plane"] = "oblique axial"
            notes.append(f"oblique axial, {tilt[2]:.0f} degrees from true axial (accepted up to "
                         f"{AXIAL_TOLERANCE_DEG:.0f}: rectal MRI is often angled to the tumour)")
        return
    if tilt[0] <= AXIAL_TOLERANCE_DEG:
        plane = "sagittal"
    elif tilt[1] <= AXIAL_TOLERANCE_DEG:
        plane = "coronal"
    else:
        plane = "oblique"
    facts["plane"] = plane
    if plane == "oblique":
        refused.append(f"oblique plane ({tilt[2]:.0f} degrees from axial), not axial")
    else:
        refused.append(f"{plane}, not axial")


# ----------------------------------------------------------------------------- for the engine

#: The cohort column (text) that says why a row's MRI radiomics were kept out of the model: blank when nothing
#: was; else one item per visit kept out, "<visit> MRI kept out of the model: <reason>; <reason>", items separated
#: by " | ".
KEPT_OUT_COLUMN = "imaging_kept_out"
_SEP = " | "


def kept_out_cell(by_visit: Mapping[str, SeriesCheck]) -> str:
    """The :data:`KEPT_OUT_COLUMN` value for one patient: ``{visit: check}`` of the visits kept out."""
    items = []
    for visit, check in by_visit.items():
        if check.fit_for_model is True:
            continue
        why = "; ".join(r.replace("|", "/") for r in check.reasons)
        head = "not settled by its headers: " if check.fit_for_model is None else ""
        items.append(f"{visit} MRI kept out of the model: {head}{why}")
    return _SEP.join(items)


def kept_out_reasons(value: object) -> list[str]:
    """The plain-language reasons of a :data:`KEPT_OUT_COLUMN` cell (or a list of them) as a list; [] for blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(_SEP) if part.strip()]


#: The record column (text) that keeps a clinician's confirmation of a series its headers could not settle, so the
#: saved case carries it (who, when) beside the radiomics it let into the model: one item per confirmed visit,
#: "<visit> MRI confirmed as a T2-weighted axial pelvic MR series by <name> on <time> UTC (its headers could not
#: settle it: <reasons>)", items separated by " | ". An extra column: the model ignores it (data dictionary).
CONFIRMED_COLUMN = "imaging_confirmed"


def confirmed_cell(series_checks: Mapping[str, Mapping[str, Any]]) -> str:
    """The :data:`CONFIRMED_COLUMN` value from ``{visit: check.to_dict() + {"confirmed": {"by", "at"} or None}}``
    (what the Imaging screen records when radiomics are used); "" when no series needed a confirmation."""
    items = []
    for visit, check in series_checks.items():
        done = check.get("confirmed") if isinstance(check, Mapping) else None
        if check.get("fit_for_model") is not None or not isinstance(done, Mapping) or not done.get("by"):
            continue
        why = "; ".join(str(r).replace("|", "/") for r in check.get("reasons") or ())
        by = " ".join(str(done["by"]).replace("|", "/").split())
        items.append(f"{visit} MRI confirmed as a {MODEL_IMAGES} series by {by} on {done.get('at') or 'an unrecorded time'}"
                     + (f" (its headers could not settle it: {why})" if why else ""))
    return _SEP.join(items)
