"""What is shown about one assessment, computed once: the screens (``components``), the case PDF
(:mod:`watchwait.export.pdf`) and the FHIR export (:mod:`watchwait.export.fhir`) all read it from here.

Plain data, no Streamlit: each function takes a record or an :class:`~watchwait.engine.Assessment` and returns
texts and numbers in words; the renderers only lay them out (markdown, columns, icons, PDF cells, FHIR fields).
From a screen element to the function that computes it:

===============================================  ==========================  ===================================
Screen element                                   Function                    Also feeds
===============================================  ==========================  ===================================
facts banner (``ww-facts``, every patient page)  :func:`key_facts`           -
"Top N reasons" (Assessment, Meeting)            :func:`top_reasons`         PDF "What moved the probability most"
notices (scope, confirm, flags, context)         :func:`notices`             PDF cautions and scope box; FHIR rationale
the suggestion box (``ww-suggestion``)           :func:`suggestion`          PDF "Suggested next step"
option cards (``ww-option-*``, Options screen)   :func:`options`             -
"Disputed" beside the number                     :func:`disputed`            PDF probability; FHIR note
(the reasons' and the waterfall's blank tests)   :func:`not_tested`          -
every model probability, interval and count      :func:`percent` ...         PDF, FHIR text, command line
a yes/no of the facts banner                     :func:`yes_no`              -
===============================================  ==========================  ===================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from watchwait import agreement, probtext
from watchwait.labels import code_text
from watchwait.references import plain
from watchwait.schema import BY_NAME, MODALITIES
from watchwait.validation import check_cell, is_blank

#: How many reasons the screen and the PDF show (the inputs that moved the probability most).
N_REASONS = 5

# ----------------------------------------------------------------------------- a model probability in words
# One way to write a model's probability, everywhere (:mod:`watchwait.probtext`): never "100%" or "0%" for a
# model output, "> 99%" and "< 1%" instead. Screens (``components.fmt``), the case PDF, the FHIR text and the
# command line all call these.
percent = probtext.percent  # 0.9996 -> "> 99%"; 0.374 -> "37%"
interval_text = probtext.interval  # (0.97, 0.9996) -> "97% to > 99%"
count = probtext.count  # "37" / "more than 99" / "fewer than 1" (of 100)
about = probtext.about  # "about 37" / "more than 99" / "fewer than 1"
in_100 = probtext.in_100  # "about 37 in 100"
count_range = probtext.count_range  # "97 to more than 99"


# ----------------------------------------------------------------------------- key facts


def _num(v: object) -> object:
    """Whole floats without '.0' (5.0 -> 5); everything else unchanged (the numbers of :func:`key_facts`)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def yes_no(name: str, value: object) -> bool | None:
    """A yes/no field's value as the validator reads it (:func:`watchwait.validation.check_cell`: True, False,
    1/0, "true"/"yes"/"1", "false"/"no"/"0", any case); None when blank or not a yes/no.

    Screen: every yes/no of the facts banner (through :func:`key_facts`). PDF: not used (its key inputs are the
    validated record's, worded by :func:`watchwait.labels.value_text`). FHIR: not used."""
    value, issue = check_cell(BY_NAME[name], value)
    return None if issue is not None or value is None else bool(value)


def _yn(r: Mapping[str, object], name: str, yes: str | None, no: str | None) -> str | None:
    """``yes`` or ``no`` for a yes/no field of :func:`key_facts` (None when blank)."""
    v = yes_no(name, r.get(name))
    return None if v is None else (yes if v else no)


def _ctdna(v: object) -> str:
    """One ctDNA level of :func:`key_facts` ("not tested" when blank, 0 as "0")."""
    return "not tested" if v is None else ("0" if float(v) == 0 else f"{float(v):g}")  # type: ignore[arg-type]


def key_facts(record: Mapping[str, object]) -> list[tuple[str, str]]:
    """The patient's key facts in words, in the order an MDT reads them (blank values left out).

    Screen: the facts banner at the top of every patient screen (``components.layout.facts_banner``, ``ww-facts``:
    Patient, Tumour, Treatment, Restaging, ctDNA, Person). PDF: not used (the PDF prints every key input in its
    own table, ``KEY_INPUTS``). FHIR: not used (a RiskAssessment carries the pseudonym only).

    ``record`` is typed (the engine's) or as the form holds it ("true", "61"): blanks and yes/no are read as the
    validator reads them (:func:`watchwait.validation.is_blank`, :func:`yes_no`), so both say the same."""
    r = {k: (None if is_blank(v) else _num(v)) for k, v in record.items()}  # blank as the validator reads it
    facts: list[tuple[str, str]] = []
    who = " ".join(str(x) for x in (f"{r['age_years']} y" if r.get("age_years") is not None else None,
                                     code_text("sex", r["sex"]) if r.get("sex") else None) if x)
    if r.get("ecog") is not None:
        who += f", ECOG {r['ecog']}"
    facts.append(("Patient", f"{r.get('patient_id') or 'no pseudonym'}" + (f" ({who})" if who else "")))
    new_metastasis = yes_no("new_distant_metastasis", r.get("new_distant_metastasis"))
    stage = " ".join(str(r[k]) for k in ("ct_stage", "cn_stage", "cm_stage") if r.get(k))
    if new_metastasis and stage:  # the staging was at baseline; the metastasis is new (said under Restaging)
        stage += " at baseline"
    extras = [x for x in (_yn(r, "mrf_involved", "MRF+", "MRF-"), _yn(r, "emvi", "EMVI+", "EMVI-"),
                          _yn(r, "lateral_nodes", "lateral nodes+", None)) if x]
    dist = f"{r['distance_from_anal_verge_cm']} cm from anal verge" if r.get("distance_from_anal_verge_cm") is not None else ""
    facts.append(("Tumour", ", ".join(x for x in [r.get("mmr_status") or "MMR not recorded", stage, *extras, dist] if x)))
    treat = []
    if r.get("rt_schedule"):
        treat.append(code_text("rt_schedule", r["rt_schedule"]))
    if r.get("sequence") and r["sequence"] != "none":
        treat.append(code_text("sequence", r["sequence"]))
    systemic = [x for x in (code_text("chemotherapy", r.get("chemotherapy")) if r.get("chemotherapy") not in (None, "none") else None,
                            code_text("immunotherapy", r.get("immunotherapy"))
                            if r.get("immunotherapy") not in (None, "none") else None,
                            _yn(r, "regorafenib", "regorafenib", None)) if x]
    if systemic:
        treat.append(" + ".join(str(s) for s in systemic)
                     + (f" x{r['systemic_cycles']}" if r.get("systemic_cycles") is not None else ""))
    facts.append(("Treatment", ", ".join(str(t) for t in treat) or "not recorded"))
    rest = [f"endoscopy: {code_text('endoscopy', r['endoscopy'])}" if r.get("endoscopy") else "endoscopy not recorded",
            f"DRE: {code_text('dre', r['dre'])}" if r.get("dre") else "DRE not recorded",
            f"mrTRG {r['mr_trg']}" if r.get("mr_trg") is not None else "mrTRG not recorded",
            _yn(r, "dwi_restriction", "DWI restriction", "no DWI restriction") or "DWI not recorded",
            f"nodes y{r['ymr_n_stage']}" if r.get("ymr_n_stage") else "nodes not recorded"]
    if r.get("residual_lesion_mm") is not None:
        rest.append(f"residual {r['residual_lesion_mm']} mm")
    if r.get("restaging_biopsy") in ("negative", "positive"):
        rest.append(f"biopsy {code_text('restaging_biopsy', r['restaging_biopsy'])}")
    if new_metastasis:
        rest.insert(0, "new distant metastasis")
    if yes_no("ymr_emvi", r.get("ymr_emvi")):
        rest.append("EMVI still visible")
    if r.get("weeks_rt_to_assessment") is not None:
        rest.append(f"{r['weeks_rt_to_assessment']} weeks after RT")
    facts.append(("Restaging", ", ".join(rest)))
    ct = [r.get(c) for c in ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")]
    if all(v is None for v in ct):
        facts.append(("ctDNA", "not tested"))
    else:
        facts.append(("ctDNA C1/C2/C3", " / ".join(_ctdna(v) for v in ct) + " MTM/mL (0 = not detected)"))
    person = [x for x in (
        {"yes": "fit for major surgery", "no": "unfit for major surgery", "uncertain": "fitness for surgery uncertain"}.get(str(r.get("fit_for_major_surgery"))),
        _yn(r, "sphincter_involved", "sphincter involved", None),
        {"organ_preservation": "prefers organ preservation", "surgery": "prefers surgery", "undecided": "preference undecided",
         "not_discussed": "preference not yet discussed"}.get(str(r.get("patient_preference")))) if x]
    if person:
        facts.append(("Person", ", ".join(person)))
    return facts


# ----------------------------------------------------------------------------- top reasons

_LONG_DECIMAL = re.compile(r"-?\d+\.\d{3,}")


def short_value(value: object) -> str:
    """A value as a chart label says it: decimals to 3 significant digits (0.409071 -> 0.409, -119.273 -> -119).

    Screen: the values of the "Top N reasons" (:func:`top_reasons`) and of the SHAP waterfall's bars
    (``components.tables.bar_label``). PDF and FHIR: not used (the PDF prints the value as recorded)."""
    return _LONG_DECIMAL.sub(lambda m: f"{float(m.group()):.3g}", str(value))


def not_tested(contributions: Sequence) -> dict[str, float]:
    """Modalities with every input blank -> what their blanks move the model, in probability points (the
    model's figure for a patient without that test; not evidence about this patient).

    Screen: "Not tested" under the top reasons (:func:`top_reasons`), the waterfall's starting point and its
    "Not tested" line (Assessment screen, ``components.views.explanations``). PDF and FHIR: not used."""
    out: dict[str, float] = {}
    for c in contributions:
        if getattr(c, "not_tested", False):
            out[c.modality] = out.get(c.modality, 0.0) + c.shap_pp
    return out


@dataclass(frozen=True)
class Reason:
    """One input that moved this patient's probability: its label, its points and this patient's value."""

    feature: str
    label: str
    points: float  # probability points (SHAP, rescaled)
    value: str  # this patient's value, as recorded
    short: str  # the value with long decimals cut (:func:`short_value`)

    @property
    def raises(self) -> bool:
        return self.points >= 0

    @property
    def points_text(self) -> str:
        return f"{self.points:+.1f}"


@dataclass(frozen=True)
class Reasons:
    """The top reasons and what they leave out (modalities not tested, and measured but not used)."""

    shown: tuple[Reason, ...]
    not_tested: tuple[str, ...]  # modality names in words: every input blank (and not in ``not_used``)
    not_used: tuple[str, ...]  # modality names in words: measured, left out of the model (a notice says why)


def top_reasons(a, n: int = N_REASONS) -> Reasons:
    """The ``n`` inputs that moved this patient's probability most: tested inputs only (not a modality with every
    input blank, not a value "not recorded"), largest effect first.

    Screen: "Top N reasons" with its "Not tested" and "Measured, not used" captions (Assessment screen, and the
    Meeting screen's case; ``components.views.top_reasons``). PDF: "What moved the probability most" with its
    bars (``_Page._reasons``). FHIR: not used."""
    shown = tuple(Reason(c.feature, c.label, c.shap_pp, str(c.value), short_value(c.value))
                  for c in a.contributions if not getattr(c, "not_tested", False) and str(c.value) != "not recorded")[:n]
    not_used = getattr(a, "not_used", {}) or {}
    return Reasons(shown=shown,
                   not_tested=tuple(MODALITIES.get(m, m) for m in not_tested(a.contributions) if m not in not_used),
                   not_used=tuple(MODALITIES.get(m, m) for m in not_used))


# ----------------------------------------------------------------------------- notices


def one_line(text: str, limit: int = 160) -> str:
    """The first sentence (or, when that is longer than ``limit``, its first clause): the one-line reason
    presentation mode keeps.

    Screen: a notice's reason in presentation mode, a context notice's one line on the shared screen
    (``components.views.notice_text``, ``notices``), and the head of a notice whose rationale only repeats it
    (:func:`notice`). PDF and FHIR: not used (the PDF cuts text to its own line budgets)."""
    text = " ".join(str(text).split())
    i = text.find(". ")
    first = text if i < 0 else text[:i + 1]
    if len(first) > limit:
        j = first.find("; ")
        if 0 < j < limit:
            return first[:j]
    return first


_TEMPLATE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
#: group -> how strongly the screen says it (Streamlit error, warning or info box)
_LEVELS = {"scope": "error", "confirm": "warning", "flag": "warning", "context": "info"}


@dataclass(frozen=True)
class NoticeText:
    """One notice in words: what it says, why, where from, its thresholds, and whether it conditions the
    suggested next step."""

    rule_id: str
    group: str  # scope | confirm | flag | context: which list of the assessment it is in
    severity: str  # the rule's: scope | confirm | caution | discordance | info | context
    level: str  # error | warning | info: how strongly it is shown
    title: str  # the rule's title, as the engine filled it
    says: str  # what the notice says in full: its title (scope, confirm) or its message (flags, context)
    rationale: str  # the rule's rationale, as the engine filled it
    head: str  # what the screen says in bold (``says`` in plain words; its first sentence when ``why`` is the rest)
    why: str  # the reason the screen gives ("" when there is none of its own)
    source: str  # the source as clinicians know it (:func:`watchwait.references.plain`)
    thresholds: tuple[str, ...]  # each threshold the rule uses, with its status (published or a design choice)
    conditions_suggestion: bool  # this notice's condition is part of the suggestion's headline


def _head_and_reason(says: str, rationale: str) -> tuple[str, str]:
    """What the notice says and why (:attr:`NoticeText.head`, :attr:`NoticeText.why`). A notice whose rationale only
    repeats its message (or is an unfilled template) gives the rest of its message as the reason, so every notice
    keeps a reason of its own."""
    head = " ".join(plain(says).split())
    why = " ".join(plain(rationale or "").split())
    if not why or why == head or _TEMPLATE.search(why):
        first = one_line(head)
        rest = head[len(first):].lstrip(" ;.")
        why = ""
        if rest:
            head, why = first, rest[0].upper() + rest[1:]
    return head, why


def notice(n, group: str = "") -> NoticeText:
    """One engine :class:`~watchwait.engine.Notice` in words (a :class:`NoticeText` is returned as it is).
    ``group`` is the list it came from; left out, it follows the notice's severity.

    Screen: one notice box (``components.views.notice_text``). PDF: one caution, scope box or context line.
    FHIR: a scope notice's title in the rationale of a RiskAssessment without a probability."""
    if isinstance(n, NoticeText):
        return n
    group = group or (n.severity if n.severity in ("scope", "confirm", "context") else "flag")
    level = "info" if group == "flag" and n.severity == "info" else _LEVELS[group]
    says = n.title if n.severity in ("scope", "confirm") else n.message
    head, why = _head_and_reason(says, n.rationale)
    return NoticeText(rule_id=n.rule_id, group=group, severity=n.severity, level=level, title=n.title, says=says,
                      rationale=n.rationale, head=head, why=why, source=plain(n.source), thresholds=tuple(n.thresholds),
                      conditions_suggestion=bool(n.qualifies_headline))


@dataclass(frozen=True)
class Notices:
    """Every notice of an assessment, in the order the screen shows them."""

    scope: tuple[NoticeText, ...]  # outside the tool's scope: they replace the probability
    confirm: tuple[NoticeText, ...]  # blank fields a scope rule needs (confirm first)
    flags: tuple[NoticeText, ...]  # cautions, discordances, information
    context: tuple[NoticeText, ...]  # the person: fitness, sphincter, preference, biopsy (shown, never used)

    @property
    def cautions(self) -> tuple[NoticeText, ...]:
        """The notices that qualify the suggestion: fields to confirm, then the flags."""
        return self.confirm + self.flags

    @property
    def conditioning(self) -> tuple[NoticeText, ...]:
        """The cautions whose condition is part of the suggestion's headline."""
        return tuple(n for n in self.cautions if n.conditions_suggestion)


def notices(a) -> Notices:
    """The notices of an assessment in words, one :class:`NoticeText` per notice the rules fired.

    Screen: the notice boxes under the facts banner of every patient screen (``components.views.notices``),
    the Meeting screen's case, the cautions fold of the suggestion box. PDF: the scope box (no probability), the
    cautions beside the suggestion and "Also for the MDT" (context). FHIR: the titles of the scope notices in
    ``prediction[0].rationale`` ("No probability: ...")."""
    s = a.suggestion
    return Notices(scope=tuple(notice(n, "scope") for n in a.scope_notices),
                   confirm=tuple(notice(n, "confirm") for n in s.confirm),
                   flags=tuple(notice(n, "flag") for n in s.flags),
                   context=tuple(notice(n, "context") for n in s.context))


def disputed(a) -> bool:
    """The number and the clinical picture disagree (clinical brief, rule 3, third case): never a plain number.

    Screen: the "Disputed" box beside the probability, the disputed icon-array sentence, a disputed option figure
    (``components.views.probability``, ``icon_array``). PDF: the disputed sentence under the number. FHIR: the
    disputed ``note``."""
    return agreement.is_disputed(a.suggestion)


# ----------------------------------------------------------------------------- the suggestion


@dataclass(frozen=True)
class SuggestionText:
    """The suggested next step in words: its headline as a lead and its conditions, the rule, reason and source,
    and the notices it rests on."""

    pathway: str
    headline: str  # the whole headline (the pathway's label when the engine gave none)
    lead: str  # "Watch-and-wait only after:" (a conditional headline) or the whole headline
    conditions: tuple[str, ...]  # one per line; lead + " " + "; ".join(conditions) == headline when any
    conditional: bool  # one of its own notices asks for something first (brief rule 6)
    rule_id: str
    rationale: str  # the pathway rule's reason, as the engine filled it
    source: str  # as clinicians know it
    thresholds: tuple[str, ...]
    cautions: tuple[NoticeText, ...]  # fields to confirm and flags: they qualify the suggestion
    conditioning: tuple[NoticeText, ...]  # the cautions whose condition is in the headline
    context: tuple[NoticeText, ...]  # the person (shown, never used)
    in_scope: bool


def _headline_parts(s) -> tuple[str, tuple[str, ...]]:
    """The headline as its lead ("Watch-and-wait only after:") and its conditions, one per line; an unconditional
    headline is its own lead (:attr:`SuggestionText.lead`, :attr:`SuggestionText.conditions`)."""
    joined = "; ".join(s.conditions)
    if s.conditional and s.conditions and s.headline.endswith(" " + joined):
        return s.headline[:-len(joined)].rstrip(), tuple(s.conditions)
    return s.headline, ()


def suggestion(a) -> SuggestionText:
    """The suggested next step of an assessment, with its conditions one per line and the cautions they come from.

    Screen: the suggestion box (``ww-suggestion``: "Suggested, with conditions: ..." and its conditions, the
    cautions fold, "Why", "Source", "Threshold used"; Assessment, Options and Meeting screens;
    ``components.views.suggestion``). PDF: "Suggested next step" with its cautions, rule and source and "Also for
    the MDT". FHIR: not used (the RiskAssessment carries the probability)."""
    s = a.suggestion
    lead, conditions = _headline_parts(s)
    said = notices(a)
    return SuggestionText(pathway=s.pathway, headline=s.headline or s.label, lead=lead, conditions=conditions,
                          conditional=bool(s.conditional), rule_id=s.rule_id, rationale=s.rationale,
                          source=plain(s.source), thresholds=tuple(s.thresholds), cautions=said.cautions,
                          conditioning=said.conditioning, context=said.context, in_scope=bool(a.in_scope))


# ----------------------------------------------------------------------------- options


def out_of_100(p: float) -> int:
    """A probability as whole patients of 100 (0.374 -> 37).

    Screen: the intervals of the option cards' model figures (:func:`options`). PDF and FHIR: not used (the PDF's
    icon array counts the same way, ``round(100 * p)``)."""
    return int(round(100 * p))


@dataclass(frozen=True)
class FigureText:
    """One figure of an option in words: "<count> <of whom>", and the population it was measured in."""

    id: str
    kind: str  # model (this patient's, from the model) | definition | published (a cohort's measured rate)
    n_out_of_100: int | None
    count: str  # "37 out of 100"; a model figure at the edges "more than 99 out of 100" (never "100 out of 100")
    of_whom: str  # "patients like this one have no tumour left": the denominator and the label, in plain words
    population: str  # who it was measured in (published figures; plain words)
    source: str  # as clinicians know it
    disputed: bool  # a model figure while the number and the clinical picture disagree
    band: tuple[int, int] | None  # a model figure's interval out of 100 (None when it has none)
    note: str  # where the figure comes from, in one sentence


@dataclass(frozen=True)
class OptionText:
    """One option (pathway) with this patient's figures and, apart, the published cohorts' figures."""

    pathway: str
    label: str
    suggested: bool
    badge: str  # "Suggested" / "Suggested, with conditions" on the suggested option, else ""
    criteria: str
    mine: tuple[FigureText, ...]  # for patients like this one: from the model, or by definition
    cohort: tuple[FigureText, ...]  # published cohort figures (not personalised)
    not_applicable: tuple[str, ...]  # why a published figure does not fit this patient, in words


def _band(a, n_fig: int | None) -> tuple[int, int] | None:
    """The interval of a model figure, out of 100 (the complement's for a 'residual tumour' figure)."""
    if a.probability is None or a.interval is None:
        return None
    n, lo, hi = out_of_100(a.probability), out_of_100(a.interval[0]), out_of_100(a.interval[1])
    if n_fig == n:
        return lo, hi
    if n_fig == 100 - n:
        return 100 - hi, 100 - lo
    return None


def _model_share(a, n_fig: int | None) -> tuple[float, bool] | None:
    """The probability a model figure counts (``a.probability``, or its complement for a 'residual tumour' figure)
    as (p, complement); None when it is neither."""
    if a.probability is None or n_fig is None:
        return None
    n = out_of_100(a.probability)
    if n_fig == n:
        return a.probability, False
    if n_fig == 100 - n:
        return a.probability, True
    return None


def _figure(a, f) -> FigureText:
    """One figure of an option card in words (:func:`options`). A model figure is counted as the model's
    probability is written (:mod:`watchwait.probtext`: "more than 99 out of 100", never "100 out of 100")."""
    band = _band(a, f.n_out_of_100) if f.kind == "model" else None
    share = _model_share(a, f.n_out_of_100) if f.kind == "model" else None
    band_words = ""
    if band and share is not None and a.interval is not None:
        band_words = probtext.count_range(a.interval[0], a.interval[1], complement=share[1])
    elif band:
        band_words = f"{band[0]} to {band[1]}"
    if f.kind == "model":
        note = ("From the model's probability (synthetic training data)" + (f"; interval {band_words}" if band else "")
                + "." + (" " + agreement.DISPUTED + "." if f.disputed else ""))
    elif f.kind == "definition":
        note = f"By definition: {plain(f.source)}."
    else:
        note = f"Measured in: {plain(f.population)}. Source: {plain(f.source)}"
    n_text = probtext.count(*share) if share is not None else f"{f.n_out_of_100}"
    return FigureText(id=f.id, kind=f.kind, n_out_of_100=f.n_out_of_100, count=f"{n_text} out of 100",
                      of_whom=f"{f.denominator} {plain(f.label)}", population=plain(f.population), source=plain(f.source),
                      disputed=bool(f.disputed), band=band, note=note)


def options(a) -> tuple[OptionText, ...]:
    """Every option of the assessment, as PREDICT lays them out: this patient's figures (from the model, or by
    definition), then the published cohort figures, each with the population it was measured in.

    Screen: the option cards of the Options screen (``ww-option-<pathway>``; ``components.views.options``). PDF and
    FHIR: not used."""
    s = a.suggestion
    out = []
    for opt in s.options:
        figures = [_figure(a, f) for f in opt.figures]
        out.append(OptionText(
            pathway=opt.pathway, label=opt.label, suggested=bool(opt.suggested),
            badge=("Suggested" + (", with conditions" if s.conditional else "")) if opt.suggested else "",
            criteria=plain(opt.criteria) if opt.criteria else "",
            mine=tuple(f for f in figures if f.kind in ("model", "definition")),
            cohort=tuple(f for f in figures if f.kind == "published"),
            not_applicable=tuple(plain(t) for t in opt.not_applicable)))
    return tuple(out)
