"""The one-page case PDF, read back with pypdf: exactly one page for every sample patient on A4 and Letter
(with and without a long decision), the pseudonym, the numbers, the cautions beside the suggestion, the
decision, the synthetic statement, and user text printed as text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import pypdf
import pytest

from tests.export.conftest import GENERATED, MEETING
from watchwait import present
from watchwait.export import DecisionSummary, ExportError, ModelInfo
from watchwait.export.pdf import CONTINUED, FONT_DIR, FONT_FILES, case_pdf

LONG = "The MDT weighed the low probability against the patient's wish to avoid a stoma. " * 60
DECISION = DecisionSummary(
    pathway="watch_and_wait", follows_suggestion=False, reason_not_followed="Patient's informed preference after discussion",
    rationale=LONG, present=("Dr A. Surgeon", "Dr B. Radiologist", "Dr C. Oncologist", "CNS D. Nurse"),
    dissent="Dr B. Radiologist would offer TME now. " * 20, recorded_by="Dr A. Surgeon",
    recorded_at=dt.datetime(2026, 12, 3, 14, 5, tzinfo=dt.timezone.utc))


def _pdf(record, assessment, model_info, **kw) -> bytes:
    kw.setdefault("meeting_date", MEETING)
    kw.setdefault("generated_at", GENERATED)
    return case_pdf(record, assessment, model_info=model_info, **kw)


def _read(data: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    return len(reader.pages), re.sub(r"\s+", " ", text)


def test_the_unicode_font_is_installed():
    """DejaVu (Debian fonts-dejavu-extra) is what makes non-Latin-1 text print; without it the page falls back to
    Latin-1 with '?' for other characters."""
    assert all((FONT_DIR / f).is_file() for f in FONT_FILES.values())


@pytest.mark.parametrize("paper", ["A4", "Letter"])
@pytest.mark.parametrize("with_decision", [False, True], ids=["no-decision", "long-decision"])
def test_every_sample_patient_is_exactly_one_page(sample_records, assessments, model_info, paper, with_decision):
    for pid, record in sample_records.items():
        a = assessments[pid]
        pages, text = _read(_pdf(record, a, model_info, paper=paper, decision=DECISION if with_decision else None))
        assert pages == 1, (pid, paper)
        assert f"Patient {pid}" in text
        assert "Meeting 3 December 2026" in text
        assert "Generated 2026-12-03 15:00 UTC" in text
        assert "Synthetic training data: the model behind this number was trained on a simulated cohort" in text
        assert "Trained on synthetic data: not validated on real patients." in text
        assert f"Model {model_info.version} (model file sha256 {model_info.sha256[:16]}" in text
        if a.probability is not None:
            lo, hi = a.interval
            # a model probability as the screens write it: "> 99%", never "100%" (DEMO-01 reads 0.9967)
            assert f"{present.percent(a.probability)} 90% interval: {present.interval_text(lo, hi)}" in text
            assert f"{present.about(a.probability)} have no tumour left" in text
            assert "100%" not in text and " 0%" not in text
        else:
            assert "No probability: this patient is outside the tool's scope." in text
        if with_decision:
            assert "Decision: Watch-and-wait with surveillance" in text
            assert "Rationale: The MDT weighed the low probability" in text
            assert "[continued in the record]" in text
            assert "Present: Dr A. Surgeon, Dr B. Radiologist, Dr C. Oncologist, CNS D. Nurse" in text
            assert "Recorded by Dr A. Surgeon, 2026-12-03 14:05 UTC." in text
        else:
            assert "Not recorded in watchwait when this page was generated." in text


def test_a_short_decision_is_printed_whole(sample_records, assessments, model_info):
    d = DecisionSummary(pathway="tme", follows_suggestion=True, rationale="Residual tumour on biopsy; fit for surgery.",
                        present=("Dr A",), dissent="", recorded_by="Dr A", recorded_at=None)
    _, text = _read(_pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=d))
    assert "Decision: Total mesorectal excision (TME) Follows the suggested next step." in text
    assert "Rationale: Residual tumour on biopsy; fit for surgery." in text
    assert "Dissent" not in text
    assert "Recorded by Dr A, time not recorded." in text
    assert "[continued in the record]" not in text


def test_the_top_reasons_in_clinical_names(sample_records, assessments, model_info):
    a = assessments["DEMO-13"]
    _, text = _read(_pdf(sample_records["DEMO-13"], a, model_info))
    shown = [c for c in a.contributions if not c.not_tested and c.value != "not recorded"][:5]
    assert len(shown) == 5
    for c in shown:
        assert f"{c.shap_pp:+.1f} {c.label}" in text
    assert "_" not in text.split("What moved the probability most")[1].split("complete response:")[0]  # no column names


def test_the_icon_array_legend_counts(sample_records, assessments, model_info):
    # the shipped model's figures, as whole patients of 100, for the first sample patient with both kinds in the array
    pid = next(p for p, x in assessments.items() if x.probability is not None and 0 < round(100 * x.probability) < 100)
    a = assessments[pid]
    _, text = _read(_pdf(sample_records[pid], a, model_info))
    n, lo, hi = round(100 * a.probability), round(100 * a.interval[0]), round(100 * a.interval[1])
    assert 0 < n < 100 and lo <= n <= hi
    assert f"complete response: {n} residual tumour: {100 - n} interval: {lo} to {hi}" in text


def test_cautions_stand_beside_the_suggestion(sample_records, assessments, model_info):
    a = assessments["DEMO-13"]
    _, text = _read(_pdf(sample_records["DEMO-13"], a, model_info))
    suggestion = text.split("Suggested next step")[1].split("Key inputs")[0]
    assert suggestion.startswith(" Watch-and-wait only after: systemic restaging")
    assert len(a.suggestion.flags) >= 2  # the count comes from the model (four with the 2026-11-29 model, three now)
    assert f"Cautions ({len(a.suggestion.flags)}), which qualify this suggestion:" in suggestion
    for flag in a.suggestion.flags:
        assert flag.message[:60] in suggestion
    assert "Rule PATH-cCR. Source: QL1706 phase II protocol" in suggestion


def test_an_unconditional_headline_with_a_caution_points_to_it(sample_records, assessments, model_info):
    """DEMO-14 (re-assessment first) with the one caution that does not qualify a headline, a wide interval (the
    rules that raise it: tests/clinical/vignettes.csv V52-V53). Whether the shipped model's interval for DEMO-14 is
    wide depends on the model, so the caution is added here as the engine words it."""
    from dataclasses import replace

    from watchwait.engine import Notice
    from watchwait.rules import load_rules

    rule = next(r for r in load_rules().flags if r.id == "FLAG-wide-interval")
    assert not rule.condition  # a caution beside the headline, not a condition of it
    wide = Notice(rule_id=rule.id, severity="caution", title="Wide interval", rationale=rule.rationale, source=rule.source,
                  message="The interval spans 45 percentage points and a modality is missing: read the number with care.")
    a = assessments["DEMO-14"]
    a = replace(a, suggestion=replace(a.suggestion, flags=[wide]))
    assert not a.suggestion.conditional and a.suggestion.flags
    _, text = _read(_pdf(sample_records["DEMO-14"], a, model_info))
    assert "Re-assessment in 6-12 weeks (read with the cautions below) Cautions (1), which qualify this suggestion:" in text


def test_confirm_notices_are_cautions(sample_records, assessments, model_info):
    _, text = _read(_pdf(sample_records["DEMO-15"], assessments["DEMO-15"], model_info))
    assert "Cautions (2), which qualify this suggestion:" in text
    assert "cM stage not recorded: confirm no distant metastasis (M0). Source:" in text


def test_out_of_scope_has_no_number(sample_records, assessments, model_info):
    a = assessments["DEMO-11"]
    _, text = _read(_pdf(sample_records["DEMO-11"], a, model_info))
    assert "No probability: this patient is outside the tool's scope. dMMR/MSI-H: outside this tool's scope" in text
    assert "interval" not in text.split("Suggested next step")[0].split("Probability of complete response")[1]
    assert "Outside this tool's scope: MDT decision on standard grounds" in text


def test_key_inputs_in_clinical_words_and_units(sample_records, assessments, model_info):
    _, text = _read(_pdf(sample_records["DEMO-01"], assessments["DEMO-01"], model_info))
    for phrase in ("Age 61 years", "Sex male", "Height from anal verge 5 cm", "Endoscopy complete response",
                   "CEA before treatment 1.86 ng/mL", "ctDNA C1 (baseline) 0 (tested, not detected)", "mrTRG 1",
                   "Patient's preference organ preservation"):
        assert phrase in text
    for code in ("pd1_ctla4", "organ_preservation", "age_years", "SCRT"):
        assert code not in text


def test_user_text_is_printed_as_text(sample_records, assessments, model_info):
    """No markup is interpreted (Markdown, HTML, fpdf2's page-count alias), control characters do not break the
    page, non-Latin-1 text prints (Chinese too, in the fallback font)."""
    d = DecisionSummary(pathway="my own **words** <b>x</b>", follows_suggestion=False,
                        reason_not_followed="{nb} pages; --strike-- __under__",
                        rationale="Müller–Łódź Ωμέγα Привет\tcafé\x00\x07 end 中文",
                        present=("Dr Zoë Ørsted", "Dr Ίκαρος"), dissent="=HYPERLINK(\"http://x\")", recorded_by="Dr Ñ")
    pages, text = _read(_pdf(sample_records["DEMO-01"], assessments["DEMO-01"], model_info, decision=d))
    assert pages == 1
    assert "Decision: my own **words** <b>x</b>" in text
    assert "Why: {nb} pages; --strike-- __under__" in text
    assert "Rationale: Müller–Łódź Ωμέγα Привет café end 中文" in text  # in the CJK fallback font
    assert "Present: Dr Zoë Ørsted, Dr Ίκαρος" in text
    assert 'Dissent: =HYPERLINK("http://x")' in text


def test_a_site_model_says_so_instead_of_the_synthetic_statement(sample_records, assessments, model_info):
    site = dataclasses.replace(model_info, synthetic=False)
    _, text = _read(_pdf(sample_records["DEMO-01"], assessments["DEMO-01"], site))
    assert "ynthetic" not in text
    assert "Trained on this site's cohort (see the model card for its held-out figures)." in text


def test_the_continued_note_is_what_the_module_says():
    assert CONTINUED.strip() == "… [continued in the record]"


def test_inputs_that_do_not_fit_together_are_refused(sample_records, assessments, model_info):
    r, a = sample_records["DEMO-01"], assessments["DEMO-01"]
    other = ModelInfo(version="fused-other", sha256="0" * 64, synthetic=True)
    with pytest.raises(ExportError, match=rf"^the assessment was made by model {model_info.version}, but the model details "
                                          r"given are those of fused-other; pass the details of the model that made it\.$"):
        _pdf(r, a, other)
    with pytest.raises(ExportError, match=r"^paper must be 'A4' or 'Letter'; got 'A5' instead\.$"):
        _pdf(r, a, model_info, paper="A5")
    with pytest.raises(ExportError, match=r"^the record is patient 'DEMO-02' but the assessment is patient 'DEMO-01'; "):
        _pdf(sample_records["DEMO-02"], a, model_info)
    with pytest.raises(ExportError, match=r"^the meeting date must be a date \(such as 2026-12-03\); got '2026-12-03' instead\.$"):
        _pdf(r, a, model_info, meeting_date="2026-12-03")
    with pytest.raises(ExportError, match=r"^decision must be a DecisionSummary or None; got dict instead\.$"):
        _pdf(r, a, model_info, decision={"pathway": "tme"})


def test_the_same_inputs_give_the_same_file(sample_records, assessments, model_info):
    r, a = sample_records["DEMO-03"], assessments["DEMO-03"]
    assert _pdf(r, a, model_info, paper="Letter") == _pdf(r, a, model_info, paper="Letter")


def test_chinese_japanese_and_korean_print_in_the_fallback_font_only_when_the_page_needs_it(
        sample_records, assessments, model_info, monkeypatch):
    """Names and rationale in Chinese, Japanese or Korean print (Debian fonts-droid-fallback and, for Hangul,
    fonts-nanum, embedded as subsets); a page without them carries neither font; without the font files such
    characters become '?' and the page still prints."""
    import watchwait.export.pdf as pdf_module

    assert pdf_module.CJK_FONT.is_file(), "install Debian fonts-droid-fallback (make test does)"
    d = dataclasses.replace(DECISION, rationale="患者希望保留直肠。経過観察（けいかかんさつ）。", present=("王医生", "Dr Smith"))
    data = _pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=d)
    pages, text = _read(data)
    assert pages == 1
    assert "患者希望保留直肠。経過観察（けいかかんさつ）。" in text and "Present: 王医生, Dr Smith" in text
    assert b"DroidSansFallback" in data
    plain = _pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=DECISION)
    assert b"DroidSansFallback" not in plain
    assert b"Nanum" not in data and b"Nanum" not in plain  # no Hangul on either page
    # Korean (Debian fonts-nanum; Droid Sans Fallback has no Hangul), beside Chinese on one page
    assert pdf_module.HANGUL_FONT.is_file(), "install Debian fonts-nanum (make test does)"
    k = dataclasses.replace(DECISION, rationale="환자는 직장 보존을 원합니다. 患者希望保留直肠。", present=("김 의사", "王医生"))
    data = _pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=k)
    pages, text = _read(data)
    assert pages == 1 and b"NanumGothic" in data and b"DroidSansFallback" in data
    assert "환자는 직장 보존을 원합니다. 患者希望保留直肠。" in text and "Present: 김 의사, 王医生" in text
    monkeypatch.setattr(pdf_module, "CJK_FONT", pdf_module.CJK_FONT.with_name("absent.ttf"))
    monkeypatch.setattr(pdf_module, "HANGUL_FONT", pdf_module.HANGUL_FONT.with_name("absent.ttf"))
    pages, text = _read(_pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=d))
    assert pages == 1 and "Present: ???, Dr Smith" in text
    pages, text = _read(_pdf(sample_records["DEMO-05"], assessments["DEMO-05"], model_info, decision=k))
    assert pages == 1 and "Present: ? ??, ???" in text


def test_without_the_unicode_font_the_page_falls_back_to_latin_1(sample_records, assessments, model_info, tmp_path,
                                                                  monkeypatch):
    """A machine without fonts-dejavu-extra still gets its one page (Helvetica): Latin-1 prints, the rest as '?'."""
    import watchwait.export.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "FONT_DIR", tmp_path)
    d = dataclasses.replace(DECISION, rationale="Müller Ωμέγα " + LONG, present=("Dr Zoë",))
    pages, text = _read(_pdf(sample_records["DEMO-13"], assessments["DEMO-13"], model_info, decision=d, paper="Letter"))
    assert pages == 1
    assert "Rationale: Müller ????? The MDT weighed" in text
    assert "... [continued in the record]" in text
    assert "Present: Dr Zoë" in text


def test_a_disputed_number_is_printed_as_disputed(sample_records, assessments, model_info):
    from watchwait import agreement

    seen = 0
    for pid, record in sample_records.items():
        a = assessments[pid]
        if a.probability is None:
            continue
        _, text = _read(_pdf(record, a, model_info))
        disputed = agreement.is_disputed(a.suggestion)
        seen += disputed
        assert ("Disputed: the model says that out of 100 patients like this one" in text) == disputed, pid
        assert ("Out of 100 patients like this one, " in text) == (not disputed), pid
    assert seen  # at least one sample patient's number disagrees with its picture
