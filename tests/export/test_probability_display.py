"""A near-certain and a near-zero patient, with the shipped model: no case PDF, FHIR text, option figure or command-line
line prints a model output as a certainty ("100%", "0%", "100 out of 100"); they say "> 99%" and "< 1%" (issue 21).

The near-certain patient is DEMO-01 (a sample cCR) made a little clearer still: smaller primary (cT2, 3.0 cm), CEA
0.5 ng/mL at assessment and a 2 mm scar; the shipped model reads 0.9988 (interval from 0.97 to 1.0), with no
outside-the-data flag. DEMO-05 (incomplete response) reads 0.0002, its interval from 0.0."""

from __future__ import annotations

import io
import json
import re

import pypdf
import pytest

from tests.export.conftest import GENERATED, MEETING
from watchwait import present

CERTAINTY = re.compile(r"(?<![\d.])(100(\.0+)?|0(\.0+)?) ?%")  # "100%", "100.0%", "0%", "0.0%"; not "10%" or "0.5%"
COUNT_CERTAINTY = re.compile(r"(?<![\d.])(100|0) (out of|in) 100")
CLEARER = {"ct_stage": "T2", "tumour_length_cm": 3.0, "cea_post_ng_ml": 0.5, "residual_lesion_mm": 2.0}


@pytest.fixture(scope="module")
def near(sample_records, shipped):
    from watchwait.engine import assess

    certain = {**sample_records["DEMO-01"], **CLEARER}
    out = {"certain": (certain, assess(certain, model=shipped)),
           "zero": (sample_records["DEMO-05"], assess(sample_records["DEMO-05"], model=shipped))}
    a = out["certain"][1]
    assert a.probability > 0.998 and a.interval[1] == 1.0 and not a.outside_data  # what the test is about
    assert out["zero"][1].probability < 0.001 and out["zero"][1].interval[0] == 0.0
    return out


def _pdf_text(record, a, model_info) -> str:
    from watchwait.export.pdf import case_pdf

    data = case_pdf(record, a, model_info=model_info, meeting_date=MEETING, generated_at=GENERATED)
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages))


def test_the_case_pdf_never_prints_a_certainty(near, model_info):
    text = _pdf_text(*near["certain"], model_info)
    assert not CERTAINTY.search(text) and not COUNT_CERTAINTY.search(text), CERTAINTY.search(text)
    assert "> 99% 90% interval: 97% to > 99%" in text
    assert "Out of 100 patients like this one, more than 99 have no tumour left (interval 97 to more than 99); " \
           "fewer than 1 have residual tumour." in text
    assert "complete response: more than 99" in text and "residual tumour: fewer than 1" in text  # the icons' legend
    text = _pdf_text(*near["zero"], model_info)
    assert not CERTAINTY.search(text) and not COUNT_CERTAINTY.search(text), CERTAINTY.search(text)
    assert "< 1% 90% interval: < 1% to 3%" in text
    assert "fewer than 1 have no tumour left (interval fewer than 1 to 3); more than 99 have residual tumour" in text


def test_the_fhir_text_never_says_a_certainty(near, model_info):
    from watchwait.export.fhir import risk_assessment, to_json

    for key, says in (("certain", "90% interval 97% to > 99%: where"), ("zero", "90% interval < 1% to 3%: where")):
        raw = json.loads(to_json(risk_assessment(near[key][1], model_info=model_info, occurrence=MEETING)))
        words = [raw["prediction"][0]["rationale"], raw["method"]["text"], raw["code"]["text"]]
        words += [n["text"] for n in raw.get("note", [])]
        assert raw["prediction"][0]["rationale"].startswith(says)
        assert not any(CERTAINTY.search(w) for w in words), words


def test_the_option_figures_count_as_the_probability_is_written(near):
    opts = present.options(near["certain"][1])
    model = {f.id: f for o in opts for f in o.mine if f.kind == "model"}
    assert model["ww_no_tumour"].count == "more than 99 out of 100"
    assert model["ww_residual"].count == "fewer than 1 out of 100"
    assert "interval 97 to more than 99" in model["ww_no_tumour"].note
    assert "interval fewer than 1 to 3" in model["ww_residual"].note
    for o in present.options(near["zero"][1]):
        for f in o.mine:
            if f.kind == "model":
                assert not COUNT_CERTAINTY.search(f.count) and f.count in ("fewer than 1 out of 100", "more than 99 out of 100")


def test_the_command_line_prints_the_same_words(near):
    from watchwait.cli import format_assessment

    out = format_assessment(near["certain"][1])
    assert "P(complete response) = > 99%  (90% interval 97% to > 99%)" in out
    assert not CERTAINTY.search(out)
    out = format_assessment(near["zero"][1])
    assert "P(complete response) = < 1%  (90% interval < 1% to 3%)" in out


def test_a_disputed_number_is_written_the_same_way():
    """The disputed notice's own sentence (watchwait.agreement) with a near-certain number."""
    from watchwait import agreement

    text = agreement.explanation(0.9996, (0.97, 1.0), "a visible scar", "about 81 in 100 ...", [], None, False)
    assert text.startswith("The model reads > 99% (interval 97% to > 99%), but the clinical picture")
