"""watchwait.present: what is shown about one assessment is computed once, and the screen, the PDF and the FHIR
export say the same thing from it (issue 19, item 1).

The screen's renderers are run with a recording stand-in for Streamlit (what they would draw, in order); the PDF is
read back with pypdf."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pypdf
import pytest

from watchwait import present
from watchwait.schema import BY_NAME
from watchwait.validation import check_cell, validate_record

# the sample patients' assessments by the shipped model, and its details, as the export tests have them
from tests.export.conftest import GENERATED, MEETING, assessments, model_info, shipped  # noqa: F401 (fixtures)

# in scope, with their reasons and their cautions; DEMO-12 is outside the scope (a new distant metastasis)
PATIENTS = ("DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04", "DEMO-05", "DEMO-13", "DEMO-14")
BOOLEANS = ("mrf_involved", "emvi", "lateral_nodes", "regorafenib", "dwi_restriction", "new_distant_metastasis",
            "ymr_emvi", "sphincter_involved")


class _Screen:
    """Streamlit as the renderers call it, recording (function, text, icon) for every element drawn."""

    def __init__(self):
        self.drawn: list[tuple[str, str, str | None]] = []

    def __getattr__(self, name):
        def draw(*args, **kw):
            self.drawn.append((name, str(args[0]) if args else "", kw.get("icon")))
            return self
        return draw

    def columns(self, spec, **kw):
        return [self] * (spec if isinstance(spec, int) else len(spec))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def screen(monkeypatch):
    import components.views as views

    fake = _Screen()
    monkeypatch.setattr(views, "st", fake)
    return fake


def _pdf_text(record, a, model_info) -> str:
    from watchwait.export.pdf import case_pdf

    data = case_pdf(record, a, meeting_date=MEETING, model_info=model_info, generated_at=GENERATED)
    return re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages))


# ----------------------------------------------------------------------------- top reasons


@pytest.mark.parametrize("pid", PATIENTS)
def test_the_screen_and_the_pdf_show_the_same_top_reasons(pid, sample_records, assessments, model_info, screen):
    from components import views

    a = assessments[pid]
    reasons = present.top_reasons(a)
    # the one rule, said independently: the tested, recorded inputs, largest effect first, at most five
    eligible = [c for c in a.contributions if not c.not_tested and c.value != "not recorded"]
    assert [r.feature for r in reasons.shown] == [c.feature for c in eligible[:present.N_REASONS]]
    assert len(reasons.shown) == min(present.N_REASONS, len(eligible)) > 0
    sizes = [abs(r.points) for r in reasons.shown]
    assert sizes == sorted(sizes, reverse=True)
    assert all(abs(c.shap_pp) <= sizes[-1] + 1e-9 for c in eligible[present.N_REASONS:])

    views.top_reasons(a)
    lines = screen.drawn[1][1].split("\n")
    assert screen.drawn[0][1].startswith(f"**Top {len(reasons.shown)} reasons**")
    on_screen = [re.match(r"- :material/arrow_(upward|downward): \*\*([+-]\d+\.\d)\*\* ", line) for line in lines]
    assert [(m.group(1) == "upward", m.group(2)) for m in on_screen] == [(r.raises, r.points_text) for r in reasons.shown]
    assert [line[m.end():].startswith(r.label) for line, m, r in zip(lines, on_screen, reasons.shown)] == [True] * len(lines)

    text = _pdf_text(sample_records[pid], a, model_info)
    block = text.split("What moved the probability most")[1].split("complete response:")[0]
    assert re.findall(r"(?<![\d.])[+-]\d+\.\d(?= )", block) == [r.points_text for r in reasons.shown]
    for r in reasons.shown:
        assert f"{r.points_text} {r.label[:20]}" in block


def test_not_tested_and_not_used_modalities_are_named_in_words_never_as_reasons(assessments):
    from watchwait.schema import MODALITIES

    a = assessments["DEMO-02"]  # no ctDNA at all: a modality not tested
    reasons = present.top_reasons(a)
    assert reasons.not_tested and set(reasons.not_tested) <= set(MODALITIES.values())
    blank = {c.feature for c in a.contributions if c.not_tested}
    assert blank and not blank & {r.feature for r in reasons.shown}
    b = dataclasses.replace(a, not_used={"radiomics": "unlike the training data: (reason)"})
    assert present.top_reasons(b).not_used == (MODALITIES["radiomics"],)
    assert MODALITIES["radiomics"] not in present.top_reasons(b).not_tested


def test_short_values_keep_three_significant_digits():
    assert present.short_value("0.409071 and -119.273") == "0.409 and -119"
    assert present.short_value("T3, 4.5 cm") == "T3, 4.5 cm"


# ----------------------------------------------------------------------------- key facts


def _fact(facts, key):
    return dict(facts).get(key, "")


@pytest.mark.parametrize("spelling", [True, "true", "TRUE", "yes", " Yes ", "1", 1])
def test_facts_say_yes_for_every_yes_the_validator_reads(spelling):
    assert check_cell(BY_NAME["emvi"], spelling)[0] is True
    rec = {"patient_id": "X", "mmr_status": "pMMR", "ct_stage": "T3", "cm_stage": "M0", **{b: spelling for b in BOOLEANS}}
    facts = present.key_facts(rec)
    assert _fact(facts, "Tumour") == "pMMR, T3 M0 at baseline, MRF+, EMVI+, lateral nodes+"
    assert _fact(facts, "Treatment") == "regorafenib"
    restaging = _fact(facts, "Restaging")
    assert restaging.startswith("new distant metastasis, ") and "DWI restriction" in restaging
    assert "no DWI" not in restaging and restaging.endswith("EMVI still visible")
    assert _fact(facts, "Person") == "sphincter involved"


@pytest.mark.parametrize("spelling", [False, "false", "no", "NO", "0", 0])
def test_facts_say_no_for_every_no_the_validator_reads(spelling):
    assert check_cell(BY_NAME["emvi"], spelling)[0] is False
    rec = {"patient_id": "X", "mmr_status": "pMMR", "ct_stage": "T3", "cm_stage": "M0", **{b: spelling for b in BOOLEANS}}
    facts = present.key_facts(rec)
    assert _fact(facts, "Tumour") == "pMMR, T3 M0, MRF-, EMVI-"  # a negative lateral-node finding is not said
    assert _fact(facts, "Treatment") == "not recorded"
    restaging = _fact(facts, "Restaging")
    assert "no DWI restriction" in restaging and "metastasis" not in restaging and "EMVI" not in restaging
    assert "Person" not in dict(facts)


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_facts_say_not_recorded_never_yes_or_no(blank):
    rec = {"patient_id": "", "mmr_status": blank, **{b: blank for b in BOOLEANS}}
    facts = present.key_facts(rec)
    assert facts[0] == ("Patient", "no pseudonym")
    assert _fact(facts, "Tumour") == "MMR not recorded"
    assert _fact(facts, "Restaging") == ("endoscopy not recorded, DRE not recorded, mrTRG not recorded, DWI not recorded, "
                                          "nodes not recorded")
    assert _fact(facts, "ctDNA") == "not tested"
    assert [k for k, _ in facts] == ["Patient", "Tumour", "Treatment", "Restaging", "ctDNA"]  # no Person: nothing said


def test_the_banner_says_the_same_of_a_record_as_typed_and_as_validated(sample_records):
    """The form holds text ("true", "61"); the engine holds typed values (True, 61.0): one banner for both."""
    def as_typed_in_the_form(v):
        if isinstance(v, bool):
            return {True: "Yes", False: "no"}[v]
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() else repr(v)
        return "" if v is None else str(v)

    for pid, rec in sample_records.items():
        typed = validate_record(rec)
        raw = {k: as_typed_in_the_form(v) for k, v in typed.items()}
        assert present.key_facts(raw) == present.key_facts(typed), pid


def test_the_screen_banner_is_presents(sample_records, monkeypatch):
    from components import layout

    drawn = []
    monkeypatch.setattr(layout, "st", type("St", (), {"html": staticmethod(drawn.append)}))
    monkeypatch.setattr("components.identity.sources_line", lambda: "")
    layout.facts_banner(sample_records["DEMO-01"])
    assert all(f"<b>{k}:</b>" in drawn[0] for k, _ in present.key_facts(sample_records["DEMO-01"]))
    assert "short-course radiotherapy (5 x 5 Gy)" in drawn[0]


# ----------------------------------------------------------------------------- notices

# (field, value that fires, value that does not, rule, list it is in, level)
TOGGLES = (
    ("ymr_emvi", True, False, "FLAG-ymr-EMVI", "flag", "warning"),
    ("lateral_nodes", True, False, "FLAG-lateral-nodes", "flag", "info"),
    ("sphincter_involved", True, False, "CTX-sphincter", "context", "info"),
    ("distance_from_anal_verge_cm", None, 5.0, "CONFIRM-DISTANCE", "confirm", "warning"),
)


@pytest.mark.parametrize("field, fires, quiet, rule, group, level", TOGGLES, ids=[t[3] for t in TOGGLES])
def test_a_notice_is_shown_iff_its_rule_fires(field, fires, quiet, rule, group, level, sample_records, shipped, model_info,
                                              screen):
    import watchwait
    from components import views

    for value in (fires, quiet):
        rec = {**sample_records["DEMO-01"], field: value}
        a = watchwait.assess(rec, model=shipped)
        said = present.notices(a)
        mine = [n for n in (*said.scope, *said.cautions, *said.context) if n.rule_id == rule]
        assert len(mine) == (value is fires), (rule, value)
        screen.drawn.clear()
        views.notices(a, with_reminders=False)
        boxes = [(kind, text) for kind, text, icon in screen.drawn if icon]
        assert len(boxes) == len(said.scope) + len(said.cautions) + len(said.context)
        shown = [(kind, text) for kind, text in boxes if f"rule {rule}" in text]
        if value is fires:
            n = mine[0]
            assert (n.group, n.level) == (group, level)
            assert shown == [(level, views.notice_text(n, compact=False))] and f"**{n.head}**" in shown[0][1]
            if group != "context":  # the PDF prints every caution beside the suggestion (context as the budget allows)
                assert n.says[:50] in _pdf_text(rec, a, model_info)
        else:
            assert shown == []


def test_a_notice_keeps_a_reason_of_its_own():
    from watchwait.engine import Notice

    n = present.notice(Notice(rule_id="FLAG-x", severity="caution", title="T", rationale="Repeat it. Then more.",
                              message="Repeat it. Then more.", source="clinical brief", thresholds=["a > 1"]))
    assert (n.group, n.level, n.head, n.why, n.says) == ("flag", "warning", "Repeat it.", "Then more.", "Repeat it. Then more.")
    assert present.notice(n) is n
    info = present.notice(Notice("FLAG-y", "info", "T", "Message.", "Why.", "s"))
    assert (info.level, info.head, info.why) == ("info", "Message.", "Why.")
    scope = present.notice(Notice("SCOPE-x", "scope", "Outside the scope", "m", "{template}", "s"))
    assert (scope.group, scope.level, scope.head, scope.why) == ("scope", "error", "Outside the scope", "")


def test_pdf_and_fhir_say_the_scope_notices_of_a_patient_outside_the_scope(sample_records, assessments, model_info):
    from watchwait.export import fhir

    a = assessments["DEMO-12"]
    scope = present.notices(a).scope
    assert scope and a.probability is None
    ra = json.loads(fhir.to_json(fhir.risk_assessment(a, model_info=model_info, occurrence=MEETING)))
    assert ra["prediction"][0]["rationale"] == "No probability: " + "; ".join(n.title for n in scope) + "."
    text = _pdf_text(sample_records["DEMO-12"], a, model_info)
    for n in scope:
        assert f"{n.title} " in text and f"Source: {n.source}" in text


@pytest.mark.parametrize("pid", PATIENTS)
def test_disputed_is_said_on_the_screen_in_the_pdf_and_in_fhir_alike(pid, sample_records, assessments, model_info, screen):
    from components import views
    from watchwait.export import fhir

    a = assessments[pid]
    views.probability(a)
    assert any(kind == "error" and text.startswith("Disputed:") for kind, text, _ in screen.drawn) == present.disputed(a)
    ra = json.loads(fhir.to_json(fhir.risk_assessment(a, model_info=model_info, occurrence=MEETING)))
    assert any(n["text"] == fhir.DISPUTED_NOTE for n in ra["note"]) == present.disputed(a)
    assert ("Disputed: the model says" in _pdf_text(sample_records[pid], a, model_info)) == present.disputed(a)


# ----------------------------------------------------------------------------- the suggestion and the options


@pytest.mark.parametrize("pid", PATIENTS)
def test_the_suggestion_on_screen_and_in_the_pdf(pid, sample_records, assessments, model_info, screen):
    from components import views

    a = assessments[pid]
    s = present.suggestion(a)
    if s.conditions:
        assert s.conditional and s.lead + " " + "; ".join(s.conditions) == a.suggestion.headline
    assert {n.rule_id for n in s.conditioning} <= {n.rule_id for n in s.cautions}
    assert all(n.conditions_suggestion for n in s.conditioning)
    views.suggestion(a)
    said = [text for _, text, _ in screen.drawn]
    assert said[1] == f"#### Suggested{', with conditions' if s.conditional else ''}: {s.lead}"
    if s.conditions:
        assert said[2] == "\n".join(f"- **{c}**" for c in s.conditions)
    assert f"Source: {s.source} · rule {s.rule_id}" in said
    text = _pdf_text(sample_records[pid], a, model_info).split("Suggested next step")[1].split("Key inputs")[0]
    assert text.startswith(" " + s.headline[:40])
    if s.cautions:
        assert f"Cautions ({len(s.cautions)}), which qualify this suggestion:" in text
    assert f"Rule {s.rule_id}. Source: {s.source}" in text


@pytest.mark.parametrize("pid", PATIENTS)
def test_every_option_figure_names_where_it_comes_from(pid, assessments, screen, monkeypatch):
    from components import views

    a = assessments[pid]
    monkeypatch.setattr(views, "chart", lambda fig, key: screen.drawn.append(("chart", key, None)))
    opts = present.options(a)
    assert [o.pathway for o in opts] == [o.pathway for o in a.suggestion.options]
    assert [o.suggested for o in opts] == [o.suggested for o in a.suggestion.options] and any(o.suggested for o in opts)
    for o, raw in zip(opts, a.suggestion.options):
        assert len(o.mine) + len(o.cohort) == len(raw.figures)
        assert o.badge == ("Suggested" + (", with conditions" if a.suggestion.conditional else "") if o.suggested else "")
        for f in o.cohort:
            assert f.population and f.note.startswith(f"Measured in: {f.population}. Source: {f.source}")
        for f in o.mine:
            if f.kind == "model":
                n = present.out_of_100(a.probability)
                lo, hi = present.out_of_100(a.interval[0]), present.out_of_100(a.interval[1])
                assert f.band == ((lo, hi) if f.n_out_of_100 == n else (100 - hi, 100 - lo))
                # counted as the model's probability is written: "97 to more than 99", never "97 to 100"
                band = present.count_range(*a.interval, complement=f.n_out_of_100 != n)
                assert f"interval {band}" in f.note and "100." not in f.note
    views.options(a)
    captions = [text for kind, text, _ in screen.drawn if kind == "caption"]
    for o in opts:
        for f in (*o.mine, *o.cohort):
            assert f.note in captions


def test_present_is_plain_data_without_streamlit():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(present.__file__).read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.split(".")[0] in ("streamlit", "components", "pages")}
    import inspect

    public = [f for name, f in inspect.getmembers(present, inspect.isfunction)
              if f.__module__ == present.__name__ and not name.startswith("_")]
    assert {"key_facts", "top_reasons", "notices", "notice", "suggestion", "options", "disputed"} <= {f.__name__ for f in public}
    for f in public:  # each says which screen element, PDF part and FHIR part it feeds
        assert "Screen:" in f.__doc__ and "PDF" in f.__doc__ and "FHIR" in f.__doc__, f.__name__
