"""One page per case for the notes: :func:`case_pdf` (fpdf2; A4 or Letter).

The page holds the pseudonym and the meeting date; the key inputs in clinical words and units; the
probability of complete response with its interval, as a number and as an icon array of 100 patients;
the findings that moved it most; the suggested next step with the cautions that qualify it, its rule and
source; the MDT decision and who was present; the model version (and the synthetic-training statement
while it applies); and when the page was generated.

It is always exactly one page: the variable parts (the decision's free text, the cautions) are laid out
with budgets of lines that shrink step by step until the page fits, and text cut short ends with
"[continued in the record]". Free text is printed as text: no markup is interpreted (``markdown=False``,
and fpdf2's page-count alias ``{nb}`` is switched off), control characters become spaces, Chinese and Japanese
print in a fallback font (``CJK_FONT``) and Korean in another (``HANGUL_FONT``) when the machine has them, and a
character no font can draw becomes "?" rather than an error.

The icon array is drawn with fpdf2's own shapes (vectors), not a plotly figure through kaleido: a
kaleido render starts a Chromium (2.5-3 s cold, a browser process per server), while the vectors cost
under a millisecond, print sharp at any size and cannot fail for want of a browser. It encodes what the
screen's icon array does (``components/figures.icon_array``): filled = complete response, open = residual
tumour, a square ring = inside the interval.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from fpdf.recorder import FPDFRecorder

from watchwait import present
from watchwait.export import DecisionSummary, ExportError, ModelInfo, check_model
from watchwait.labels import value_text
from watchwait.rules import PATHWAY_LABELS
from watchwait.schema import BY_NAME
from watchwait.validation import validate_record

#: Debian's fonts-dejavu-extra (the condensed faces); another folder holding these two files can be named with WATCHWAIT_PDF_FONT_DIR.
FONT_DIR = Path(os.environ.get("WATCHWAIT_PDF_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
FONT_FILES = {"": "DejaVuSansCondensed.ttf", "B": "DejaVuSansCondensed-Bold.ttf"}  # condensed: a dense page that still reads
#: Chinese and Japanese, which DejaVu lacks (Debian fonts-droid-fallback; it has no Korean Hangul; WATCHWAIT_PDF_CJK_FONT names another
#: TrueType file). Loaded only for a page whose text needs it: the file is 4 MB and parsing it costs time.
CJK_FONT = Path(os.environ.get("WATCHWAIT_PDF_CJK_FONT", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"))
#: Korean Hangul (Debian fonts-nanum; WATCHWAIT_PDF_HANGUL_FONT names another TrueType file), loaded only for a page
#: whose typed text has Hangul in it.
HANGUL_FONT = Path(os.environ.get("WATCHWAIT_PDF_HANGUL_FONT", "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"))
# NanumGothic carries hinting tables fontTools cannot subset; it drops them (they only matter on screen) and would
# say so once per table in the server's log at every Korean page.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
#: Hangul Jamo, Hangul Compatibility Jamo, Jamo Extended-A, Hangul Syllables, Jamo Extended-B
HANGUL_RANGES = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF), (0xD7B0, 0xD7FF))
PAPERS = {"A4": "A4", "Letter": "Letter"}
CONTINUED = " … [continued in the record]"
SYNTHETIC_STATEMENT = ("Synthetic training data: the model behind this number was trained on a simulated cohort "
                       "calibrated to published figures; it has not been validated on real patients.")
OUTCOME_TEXT = ("Complete response: no tumour left, i.e. pathological complete response at surgery (ypT0N0) or clinical "
                "complete response sustained for 12 months or more without regrowth.")
INFORMS = "It informs; the MDT decides."

# Okabe-Ito colours, as the screen uses them (components/palette.py; watchwait does not import components).
BLUE = (0x00, 0x72, 0xB2)  # complete response; a finding that raises the probability
VERMILLION = (0xD5, 0x5E, 0x00)  # a finding that lowers it
ORANGE = (0xE6, 0x9F, 0x00)  # the interval
MID_GREY = (0x76, 0x76, 0x76)  # residual tumour (4.5:1 on white)
TEXT_GREY = (0x59, 0x59, 0x59)
BLACK = (0, 0, 0)
AMBER_BG = (0xFF, 0xF4, 0xD6)
LIGHT_BG = (0xF2, 0xF2, 0xF2)

#: The key inputs, grouped as a clinician reads a case (data-dictionary columns; labels from watchwait.schema).
KEY_INPUTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Patient and tumour at baseline", ("age_years", "sex", "ecog", "mmr_status", "ct_stage", "cn_stage", "cm_stage",
                                        "mrf_involved", "emvi", "lateral_nodes", "distance_from_anal_verge_cm",
                                        "tumour_length_cm")),
    ("Neoadjuvant treatment", ("rt_schedule", "sequence", "immunotherapy", "chemotherapy", "systemic_cycles",
                               "regorafenib", "weeks_rt_to_assessment")),
    ("Response assessment", ("mr_trg", "endoscopy", "dre", "dwi_restriction", "ymr_n_stage", "ymr_emvi",
                             "residual_lesion_mm", "restaging_biopsy", "new_distant_metastasis")),
    ("Blood and biomarkers", ("cea_baseline_ng_ml", "cea_post_ng_ml", "ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml",
                              "ctdna_post_treatment_mtm_ml", "pdl1_cps")),
    ("Decision context", ("sphincter_involved", "fit_for_major_surgery", "patient_preference")),
)
#: Labels that fit a third of a page (the schema's full labels would wrap); abbreviations clinicians use.
SHORT_LABELS = {
    "ecog": "ECOG PS",
    "mrf_involved": "MRF involved (≤ 1 mm)",
    "lateral_nodes": "Lateral nodes",
    "distance_from_anal_verge_cm": "Height from anal verge",
    "tumour_length_cm": "Tumour length",
    "chemotherapy": "Chemotherapy",
    "systemic_cycles": "Systemic cycles",
    "weeks_rt_to_assessment": "Weeks after RT",
    "mr_trg": "mrTRG",
    "dre": "DRE",
    "dwi_restriction": "DWI restriction",
    "ymr_n_stage": "ymrN (restaging)",
    "ymr_emvi": "EMVI on restaging MRI",
    "residual_lesion_mm": "Residual lesion or scar",
    "restaging_biopsy": "Tumour-bed biopsy",
    "new_distant_metastasis": "New distant metastasis",
    "cea_baseline_ng_ml": "CEA before treatment",
    "cea_post_ng_ml": "CEA at assessment",
    "ctdna_baseline_mtm_ml": "ctDNA C1 (baseline)",
    "ctdna_post_rt_mtm_ml": "ctDNA C2 (after RT)",
    "ctdna_post_treatment_mtm_ml": "ctDNA C3 (assessment)",
    "pdl1_cps": "PD-L1 CPS",
    "sphincter_involved": "Sphincter involved",
    "fit_for_major_surgery": "Fit for major surgery",
    "patient_preference": "Patient's preference",
}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
FOOT_MARGIN = 10.0  # mm below the footer


@dataclass(frozen=True)
class _Budget:
    """How much of the variable text one attempt prints (smaller at each step until the page fits)."""

    size: float  # body font size, pt
    rationale: int  # at most this many lines of the decision's rationale (it gets the room left on the page)
    other: int  # lines of each other free-text item of the decision (reason, dissent, present)
    caution: int  # lines of each caution
    context: bool  # print the context notices (preference, sphincter, biopsy)
    suggestion_rationale: int  # lines of the pathway rule's rationale


BUDGETS = (
    _Budget(8.5, 30, 4, 3, True, 2),
    _Budget(8, 30, 3, 2, True, 1),
    _Budget(7.5, 30, 2, 2, False, 1),
    _Budget(7, 30, 1, 1, False, 0),
)


def case_pdf(record: Mapping[str, object], assessment, *, meeting_date: _dt.date, decision: DecisionSummary | None = None,
             model_info: ModelInfo, paper: str = "A4", meeting_title: str = "",
             generated_at: _dt.datetime | None = None) -> bytes:
    """The one-page PDF of a case, as bytes.

    ``record`` is the patient's record (validated again here), ``assessment`` what
    :func:`watchwait.engine.assess` returned for it, ``model_info`` the details of the model that made
    it (:meth:`ModelInfo.from_bundle`). ``decision`` is the MDT's decision, if recorded. ``paper`` is
    "A4" or "Letter". ``generated_at`` defaults to now (UTC). Raises :class:`ExportError` for inputs that
    do not fit together, and :class:`watchwait.RecordError` for an invalid record.
    """
    if paper not in PAPERS:
        raise ExportError(f"paper must be 'A4' or 'Letter'; got {paper!r} instead.")
    if not isinstance(meeting_date, _dt.date):
        raise ExportError(f"the meeting date must be a date (such as 2026-12-03); got {meeting_date!r} instead.")
    if isinstance(meeting_date, _dt.datetime):
        meeting_date = meeting_date.date()
    if decision is not None and not isinstance(decision, DecisionSummary):
        raise ExportError(f"decision must be a DecisionSummary or None; got {type(decision).__name__} instead.")
    check_model(assessment, model_info)
    rec = validate_record(record)
    if rec["patient_id"] != assessment.patient_id:
        raise ExportError(f"the record is patient {rec['patient_id']!r} but the assessment is patient "
                          f"{assessment.patient_id!r}; pass the assessment of this record.")
    generated_at = generated_at or _dt.datetime.now(_dt.timezone.utc)
    page = _Page(rec, assessment, meeting_date, meeting_title, decision, model_info, paper, generated_at)
    return bytes(_fitted(page).output())


def _fitted(page) -> FPDF:
    """The page at the first budget that fits, the most text first. One
    document, its fonts parsed once; an attempt that overflows is rewound (fpdf2's FPDFRecorder snapshot)."""
    pdf = page.new()
    snapshot = FPDFRecorder(pdf)

    def fits(k: int) -> bool:
        page.render(pdf, BUDGETS[k])
        if pdf.pages_count == 1:
            return True
        snapshot.rewind()
        return False

    for k in range(len(BUDGETS)):
        if fits(k):
            return pdf
    raise AssertionError("the smallest layout did not fit on one page")  # pragma: no cover - a layout bug


# ----------------------------------------------------------------------------- text


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")


def clean(text: object, *, lines: bool = False) -> str:
    """User text as printable text: control characters (tabs too) as spaces; line breaks kept only with
    ``lines`` (at most one empty line in a row), else folded into spaces."""
    s = unicodedata.normalize("NFC", str(text))
    s = _BREAKS.sub("\n", s)
    if not lines:
        s = s.replace("\n", " ")
    s = _CONTROL.sub(" ", s)
    s = re.sub(r"[ \u00a0]{2,}", " ", s)
    s = re.sub(r"\n{3,}", "\n\n", s)
    return s.strip()


def _pct(p: float) -> str:
    """A model probability as the screens write it (:func:`watchwait.present.percent`: "> 99%", never "100%")."""
    return present.percent(p)


def _out_of_100(p: float) -> int:
    """Filled icons of 100 (0 to 100); the words beside them are :func:`watchwait.present.count`'s."""
    return present.probtext.icons(p)


def _date(d: _dt.date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def _stamp(t: _dt.datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc)
        return f"{t:%Y-%m-%d %H:%M} UTC"
    return f"{t:%Y-%m-%d %H:%M}"


# ----------------------------------------------------------------------------- layout

class _Page:
    def __init__(self, rec, a, meeting_date, meeting_title, decision, model, paper, generated_at):
        self.rec, self.a, self.meeting_date, self.meeting_title = rec, a, meeting_date, meeting_title
        self.decision, self.model, self.paper, self.generated_at = decision, model, paper, generated_at

    # -- document and text helpers
    def new(self) -> FPDF:
        """A new document with the page size, margins and fonts set (one per PDF: fpdf2 subsets the font in place
        when it writes, so parsed fonts are not shared between documents)."""
        pdf = FPDF(orientation="portrait", unit="mm", format=PAPERS[self.paper])
        pdf.str_alias_nb_pages = ""  # "{nb}" in user text stays "{nb}" (fpdf2 would replace it with the page count)
        pdf.set_margins(12, 11, 12)
        pdf.set_creator("watchwait")
        pdf.set_lang("en")
        pdf.set_creation_date(self.generated_at if self.generated_at.tzinfo else self.generated_at.astimezone())
        pdf.set_title(f"MDT case summary {self.a.patient_id}")
        if all((FONT_DIR / f).is_file() for f in FONT_FILES.values()):
            for style, name in FONT_FILES.items():
                pdf.add_font("DejaVu", style, str(FONT_DIR / name))
            self.family, self.cmap = "DejaVu", set(pdf.fonts["dejavu"].cmap)
            missing = {ch for ch in self._free_text() if ord(ch) not in self.cmap}
            hangul = {ch for ch in missing if any(lo <= ord(ch) <= hi for lo, hi in HANGUL_RANGES)}
            fallbacks = []
            if CJK_FONT.is_file() and missing - hangul:  # Droid has no Hangul: a Korean-only page does not load it
                pdf.add_font("Fallback", "", str(CJK_FONT))
                fallbacks.append("fallback")
            if HANGUL_FONT.is_file() and hangul:
                pdf.add_font("Hangul", "", str(HANGUL_FONT))
                fallbacks.append("hangul")
            if fallbacks:
                pdf.set_fallback_fonts(fallbacks, exact_match=False)  # bold text in the regular face
                for name in fallbacks:
                    self.cmap |= set(pdf.fonts[name].cmap)
        else:  # no Unicode font on this machine: Latin-1 only (other characters print as "?")
            self.family, self.cmap = "Helvetica", None
        return pdf

    def _free_text(self) -> str:
        """Every text on the page that a person typed (the rest is this project's own English)."""
        d = self.decision
        parts = [self.meeting_title, *(v for v in self.rec.values() if isinstance(v, str))]
        if d is not None:
            parts += [getattr(d, f.name) for f in dataclasses.fields(d)]
        return " ".join(str(x) for x in parts if x)

    def text(self, s: object, lines: bool = False) -> str:
        s = clean(s, lines=lines)
        if self.cmap is None:
            return s.replace("…", "...").replace("–", "-").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
        return "".join(ch if ch == "\n" or ord(ch) in self.cmap else "?" for ch in s)

    def font(self, size: float, style: str = "", color=BLACK) -> None:
        self.pdf.set_font(self.family, style, size)
        self.pdf.set_text_color(*color)

    def lh(self, size: float) -> float:
        return size * 0.3528 * 1.28

    def prepare(self, w: float, s: object, size: float, style: str = "", max_lines: int | None = None,
                lines: bool = False) -> tuple[str, int]:
        """``s`` as printable text for width ``w``, cut to ``max_lines`` lines with the note; and its number of lines."""
        pdf = self.pdf
        self.font(size, style)
        s = str(s)
        per_line = int(w / (size * 0.3528 * 0.3)) + 1  # more characters than a line of the narrowest glyphs holds
        cut = max_lines is not None and len(s) > 4 * (max_lines + 1) * per_line
        if cut:
            s = s[:4 * (max_lines + 1) * per_line]  # a megabyte of text is not cleaned whole
        body = self.text(s, lines=lines)
        if not body or (max_lines is not None and max_lines <= 0):
            return "", 0
        if max_lines is None:
            return body, -1  # printed whole: no need to count its lines
        if len(body) > (max_lines + 1) * per_line:
            body, cut = body[:(max_lines + 1) * per_line], True  # wrap only what could fit: fpdf2's line breaking is quadratic
        wrapped = pdf.multi_cell(w, self.lh(size), body, markdown=False, dry_run=True, output="LINES")
        if len(wrapped) > max_lines or cut:
            kept = wrapped[:max_lines]
            last = kept[-1].rstrip()
            note = self.text(CONTINUED)
            while last and pdf.get_string_width(last + note) > w - 2 * pdf.c_margin - 0.5:
                last = last[:-1].rstrip()
            kept[-1] = last + note
            wrapped = kept
        return "\n".join(wrapped), len(wrapped)

    def para(self, x: float, w: float, s: object, size: float, style: str = "", color=BLACK, max_lines: int | None = None,
             lines: bool = False, align: str = "L") -> float:
        """Print ``s`` at (x, current y) in width ``w``, at most ``max_lines`` lines (then cut with the note);
        returns the y below it."""
        pdf = self.pdf
        body, _ = self.prepare(w, s, size, style, max_lines, lines)
        if not body:
            return pdf.get_y()
        self.font(size, style, color)
        pdf.set_x(x)
        pdf.multi_cell(w, self.lh(size), body, markdown=False, align=align, new_x="LEFT", new_y="NEXT")
        return pdf.get_y()

    def heading(self, x: float, w: float, s: str, size: float) -> float:
        pdf = self.pdf
        pdf.set_draw_color(*MID_GREY)
        pdf.set_line_width(0.2)
        y = pdf.get_y() + 1.2
        pdf.line(x, y, x + w, y)
        pdf.set_y(y + 0.6)
        return self.para(x, w, s, size + 1.2, "B")

    # -- the page
    def render(self, pdf: FPDF, b: _Budget) -> FPDF:
        self.pdf = pdf
        pdf.set_auto_page_break(True, margin=FOOT_MARGIN + self._footer_height(b))
        pdf.add_page()
        x0, w = pdf.l_margin, pdf.epw
        self._header(x0, w, b)
        self._probability(x0, w, b)
        self._suggestion(x0, w, b)
        self._inputs(x0, w, b)
        self._decision(x0, w, b)
        if pdf.pages_count == 1:
            self._footer(x0, w, b)
        return pdf

    def _header(self, x, w, b):
        pdf, a = self.pdf, self.a
        pdf.set_y(pdf.t_margin)
        self.font(b.size + 1, "B", TEXT_GREY)
        pdf.set_x(x)
        pdf.cell(w * 0.5, self.lh(b.size + 1), "MDT case summary", markdown=False)
        meeting = "Meeting " + _date(self.meeting_date) + (f": {self.meeting_title}" if self.meeting_title else "")
        self.para(x + w * 0.4, w * 0.6, meeting, b.size + 1, "B", align="R", max_lines=1)
        pdf.set_y(pdf.get_y() + 0.5)
        self.para(x, w, f"Patient {a.patient_id}", b.size + 8, "B")
        self.para(x, w, "The patient is named by pseudonym only. Generated "
                  + _stamp(self.generated_at) + ". " + INFORMS, b.size - 0.5, color=TEXT_GREY)
        if self.model.synthetic:
            pdf.set_y(pdf.get_y() + 1.5)
            self._box(x, w, SYNTHETIC_STATEMENT, b.size, AMBER_BG, ORANGE, style="B")

    def _box(self, x, w, s, size, fill, border, style=""):
        pdf = self.pdf
        y0 = pdf.get_y()
        self.font(size, style)
        n = len(pdf.multi_cell(w - 4, self.lh(size), self.text(s), markdown=False, dry_run=True, output="LINES"))
        h = n * self.lh(size) + 2.4
        pdf.set_fill_color(*fill)
        pdf.set_draw_color(*border)
        pdf.set_line_width(0.5)
        pdf.rect(x, y0, w, h, style="DF")
        pdf.set_y(y0 + 1.2)
        self.para(x + 2, w - 4, s, size, style)
        pdf.set_y(y0 + h)

    def _probability(self, x, w, b):
        pdf, a = self.pdf, self.a
        pdf.set_y(pdf.get_y() + 1)
        self.heading(x, w, "Probability of complete response", b.size)
        top = pdf.get_y() + 0.5
        if a.probability is None:
            self.para(x, w, "No probability: this patient is outside the tool's scope.", b.size + 2, "B")
            for n in present.notices(a).scope:
                self.para(x, w, n.title, b.size, "B")
                self.para(x, w, n.rationale, b.size, max_lines=3)
                self.para(x, w, "Source: " + n.source, b.size - 0.5, color=TEXT_GREY, max_lines=2)
            self.para(x, w, f"Response at restaging: {a.category_label}. It does not set the next step for a patient "
                      "outside the scope.", b.size, max_lines=2)
            return
        icons_w = 47.0
        tw = w - icons_w - 8
        pdf.set_y(top)
        lo, hi = a.interval
        n, nlo, nhi = _out_of_100(a.probability), _out_of_100(lo), _out_of_100(hi)
        self.font(b.size + 14, "B", BLUE)
        pdf.set_x(x)
        big = _pct(a.probability)
        pdf.cell(pdf.get_string_width(big) + 2, self.lh(b.size + 14), big, markdown=False)
        self.font(b.size + 1.5, "B")
        pdf.set_xy(pdf.get_x() + 1, top + 2.2)
        pdf.cell(0, self.lh(b.size + 1.5), f"{a.interval_level:.0%} interval: {present.interval_text(lo, hi)}",
                 markdown=False)
        pdf.set_y(top + self.lh(b.size + 14) + 0.5)
        if present.disputed(a):  # brief rule 3, third case: never a plain count beside the picture
            self.para(x, tw, f"Disputed: the model says that out of 100 patients like this one, {present.about(a.probability)} "
                      f"have no tumour left (interval {present.count_range(lo, hi)}), but the clinical picture points the "
                      "other way (see the cautions).",
                      b.size, "B", color=VERMILLION)
        else:
            self.para(x, tw, f"Out of 100 patients like this one, {present.about(a.probability)} have no tumour left "
                      f"(interval {present.count_range(lo, hi)}); {present.about(a.probability, complement=True)} have "
                      "residual tumour.", b.size)
        self.para(x, tw, OUTCOME_TEXT + f" Response category at restaging: {a.category_label}.", b.size - 0.5,
                  color=TEXT_GREY)
        if a.missing_modalities:
            from watchwait.schema import MODALITIES

            self.para(x, tw, "Not tested (all inputs blank; the interval is wider for it): "
                      + "; ".join(MODALITIES.get(m, m) for m in a.missing_modalities) + ".", b.size - 0.5,
                      color=TEXT_GREY, max_lines=2)
        pdf.set_y(pdf.get_y() + 1)
        y_left = self._reasons(x, tw, b)
        y_right = self._icons(x + w - icons_w, top, icons_w, n, nlo, nhi, b)
        pdf.set_y(max(y_left, y_right))

    def _reasons(self, x, w, b) -> float:
        """The top reasons (:func:`watchwait.present.top_reasons`, the screen's), each with a bar of its points."""
        pdf, a = self.pdf, self.a
        shown = present.top_reasons(a).shown
        if not shown:
            return pdf.get_y()
        base = "" if a.base_probability is None else f" from the average patient's {_pct(a.base_probability)}"
        self.para(x, w, f"What moved the probability most{base} (probability points):", b.size, "B")
        h = self.lh(b.size)
        bar_w = 16.0
        scale = bar_w / max(abs(c.points) for c in shown)
        for c in shown:
            y = pdf.get_y()
            colour = BLUE if c.raises else VERMILLION
            pdf.set_fill_color(*colour)
            length = max(0.4, abs(c.points) * scale / 2)  # half the bar's width each way from the middle
            mid = x + bar_w / 2
            pdf.rect(mid if c.raises else mid - length, y + h * 0.2, length, h * 0.6, style="F")
            pdf.set_draw_color(*TEXT_GREY)
            pdf.set_line_width(0.15)
            pdf.line(mid, y, mid, y + h)
            self.font(b.size, "B", colour)
            pdf.set_xy(x + bar_w + 1, y)
            pdf.cell(11, h, c.points_text, markdown=False, align="R")
            value = clean(c.value)
            label = c.label + (f": {value}" if value and len(value) <= 60 else "")
            self.font(b.size)
            pdf.set_xy(x + bar_w + 13, y)
            pdf.cell(w - bar_w - 13, h, self._fit(label, w - bar_w - 13), markdown=False, new_x="LMARGIN", new_y="NEXT")
        return pdf.get_y()

    def _icons(self, x, top, w, n, lo, hi, b) -> float:
        """100 patients: filled = complete response, open = residual tumour, square ring = inside the interval."""
        pdf = self.pdf
        cell = w / 10
        r = cell * 0.34
        pdf.set_line_width(0.3)
        for i in range(100):
            cx = x + (i % 10 + 0.5) * cell
            cy = top + (i // 10 + 0.5) * cell
            if lo <= i < hi:
                pdf.set_draw_color(*ORANGE)
                pdf.set_line_width(0.45)
                pdf.rect(cx - cell * 0.47, cy - cell * 0.47, cell * 0.94, cell * 0.94, style="D")
                pdf.set_line_width(0.3)
            if i < n:
                pdf.set_fill_color(*BLUE)
                pdf.circle(cx, cy, r, style="F")
            else:
                pdf.set_draw_color(*MID_GREY)
                pdf.circle(cx, cy, r * 0.85, style="D")
        y = top + w + 1.2
        size = b.size - 1
        h = self.lh(size)
        a = self.a  # the legend counts as the text does ("more than 99", never "100"; present.count)
        legend = ((f"complete response: {present.count(a.probability)}", "filled"),
                  (f"residual tumour: {present.count(a.probability, complement=True)}", "open"),
                  (f"interval: {present.count_range(*a.interval)}", "ring"))
        for text, kind in legend:
            cx, cy = x + 1.5, y + h / 2
            if kind == "filled":
                pdf.set_fill_color(*BLUE)
                pdf.circle(cx, cy, 1.1, style="F")
            elif kind == "open":
                pdf.set_draw_color(*MID_GREY)
                pdf.circle(cx, cy, 1.0, style="D")
            else:
                pdf.set_draw_color(*ORANGE)
                pdf.set_line_width(0.45)
                pdf.rect(cx - 1.4, cy - 1.4, 2.8, 2.8, style="D")
                pdf.set_line_width(0.3)
            fit = size  # "interval: 97 to more than 99" is longer than "97 to 100": smaller, never past the margin
            self.font(fit, "", BLACK)
            while pdf.get_string_width(text) > w - 4 and fit > size - 2:
                fit -= 0.25
                self.font(fit, "", BLACK)
            pdf.set_xy(x + 4, y)
            pdf.cell(w - 4, h, text, markdown=False)
            y += h
        return y

    def _suggestion(self, x, w, b):
        """The suggestion with its cautions, rule and source (:func:`watchwait.present.suggestion`, the screen's)."""
        pdf, s = self.pdf, present.suggestion(self.a)
        pdf.set_y(pdf.get_y() + 1)
        self.heading(x, w, "Suggested next step", b.size)
        cautions = s.cautions
        headline = s.headline
        if cautions and not s.conditional:
            headline += " (read with the cautions below)"
        self.para(x, w, headline, b.size + 1.5, "B", max_lines=3)
        if cautions:
            self.para(x, w, f"Cautions ({len(cautions)}), which qualify this suggestion:", b.size, "B", color=VERMILLION)
            for n in cautions:
                text = n.says
                y = pdf.get_y()
                self.font(b.size, "B", VERMILLION)
                pdf.set_xy(x + 1, y)
                pdf.cell(3, self.lh(b.size), "!", markdown=False)
                pdf.set_y(y)
                text = text if text.rstrip().endswith((".", ":", "?", "!")) else text.rstrip() + "."
                self.para(x + 4, w - 4, text + " Source: " + n.source, b.size, max_lines=b.caution)
        if s.rule_id:
            said = {n.rule_id for n in present.notices(self.a).scope}  # an out-of-scope rule's rationale is already printed above
            if b.suggestion_rationale and s.rationale and s.rule_id not in said:
                self.para(x, w, "Why: " + s.rationale, b.size - 0.5, max_lines=b.suggestion_rationale)
            self.para(x, w, f"Rule {s.rule_id}. Source: {s.source}", b.size - 0.5, color=TEXT_GREY, max_lines=2)
        if b.context and s.context:
            self.para(x, w, "Also for the MDT: " + " ".join(n.title if n.title.endswith(".") else n.title + "."
                                                            for n in s.context), b.size - 0.5, max_lines=3)

    def _inputs(self, x, w, b):
        pdf, rec = self.pdf, self.rec
        pdf.set_y(pdf.get_y() + 1)
        self.heading(x, w, "Key inputs (as recorded; blank = not recorded)", b.size)
        size = b.size - 1
        gap = 4
        cw = (w - 2 * gap) / 3
        columns = ((KEY_INPUTS[0],), (KEY_INPUTS[1], KEY_INPUTS[4]), (KEY_INPUTS[2], KEY_INPUTS[3]))
        top = pdf.get_y()
        bottom = top
        for k, groups in enumerate(columns):
            cx = x + k * (cw + gap)
            pdf.set_y(top)
            for title, names in groups:
                self.para(cx, cw, title, size, "B")
                for name in names:
                    label = SHORT_LABELS.get(name, BY_NAME[name].label)
                    y = pdf.get_y()
                    lw = cw * 0.52
                    pdf.set_y(y)
                    y_label = self.para(cx, lw - 1, label, size, color=TEXT_GREY)
                    pdf.set_y(y)
                    y_value = self.para(cx + lw, cw - lw, value_text(name, rec.get(name)), size)
                    pdf.set_y(max(y_label, y_value))
                pdf.set_y(pdf.get_y() + 0.8)
            bottom = max(bottom, pdf.get_y())
        pdf.set_y(bottom)

    def _fit(self, s: object, w: float) -> str:
        """One line of at most ``w`` mm (cut with an ellipsis)."""
        t = self.text(s)
        if self.pdf.get_string_width(t) <= w:
            return t
        ellipsis = self.text("…")  # "..." in the Latin-1 fallback font
        while t and self.pdf.get_string_width(t + ellipsis) > w:
            t = t[:-1]
        return t.rstrip() + ellipsis

    def _decision(self, x, w, b):
        pdf, d = self.pdf, self.decision
        pdf.set_y(pdf.get_y() + 0.5)
        self.heading(x, w, "MDT decision", b.size)
        if d is None:
            self.para(x, w, "Not recorded in watchwait when this page was generated.", b.size, color=TEXT_GREY)
            return
        pathway = PATHWAY_LABELS.get(d.pathway, d.pathway)
        self.para(x, w, "Decision: " + pathway, b.size + 1.5, "B", max_lines=2)
        if d.follows_suggestion:
            self.para(x, w, "Follows the suggested next step.", b.size)
        else:
            reason = clean(d.reason_not_followed) or "not recorded"
            self.para(x, w, "Differs from the suggested next step. Why: " + reason, b.size, max_lines=b.other, lines=True)
        dissent = "Dissent: " + clean(d.dissent, lines=True) if clean(d.dissent) else ""
        present = "Present: " + (", ".join(clean(p) for p in d.present if clean(p)) or "not recorded")
        who = clean(d.recorded_by) or "not recorded"
        when = _stamp(d.recorded_at) if d.recorded_at else "time not recorded"
        recorded = f"Recorded by {who}, {when}."
        if clean(d.rationale):  # the rationale gets the room the rest leaves, up to the budget's cap
            after = (self.prepare(w, dissent, b.size, max_lines=b.other, lines=True)[1] * self.lh(b.size)
                     + self.prepare(w, present, b.size, max_lines=b.other)[1] * self.lh(b.size) + self.lh(b.size - 0.5))
            room = int((pdf.page_break_trigger - pdf.get_y() - after - 0.5) // self.lh(b.size))
            n = min(b.rationale, max(room, 2 if b is not BUDGETS[-1] else 1))  # < 2 lines: the next budget
            self.para(x, w, "Rationale: " + clean(d.rationale, lines=True), b.size, max_lines=n, lines=True)
        if dissent:
            self.para(x, w, dissent, b.size, max_lines=b.other, lines=True)
        self.para(x, w, present, b.size, max_lines=b.other)
        self.para(x, w, recorded, b.size - 0.5, color=TEXT_GREY, max_lines=1)

    def _footer_lines(self, b) -> list[str]:
        m = self.model
        lines = [f"Model {m.version} (model file sha256 {m.sha256[:16]}…)"
                 + (f", rules {m.ruleset_version}" if m.ruleset_version else "") + f". Generated {_stamp(self.generated_at)}."
                 + " Page 1 of 1."]
        if m.synthetic:
            lines.append("Trained on synthetic data: not validated on real patients. " + INFORMS)
        else:
            lines.append("Trained on this site's cohort (see the model card for its held-out figures). " + INFORMS)
        return lines

    def _footer_height(self, b) -> float:
        return 2 + 2 * self.lh(b.size - 1) + 1

    def _footer(self, x, w, b):
        pdf = self.pdf
        pdf.set_auto_page_break(False)
        y = pdf.h - FOOT_MARGIN - self._footer_height(b)
        pdf.set_draw_color(*MID_GREY)
        pdf.set_line_width(0.2)
        pdf.line(x, y, x + w, y)
        pdf.set_y(y + 1)
        for line in self._footer_lines(b):
            self.para(x, w, line, b.size - 1, color=TEXT_GREY, max_lines=1)
