"""Rules of record v2 in a real Chromium at 1920x1080 (an MDT's shared screen): conditional headlines,
local excision kept from a near-cCR with nodes, early near-cCR, an unfit patient, blank scope fields
asked before any number, and presentation mode keeping each notice's reason and source."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import watchwait
from watchwait.references import plain
from st_helpers import T, go, load_sample, open_app, settle, shot, shown_headline

pytestmark = pytest.mark.e2e

from conftest import HEIGHT  # the shared screen; the `wide` page fixture lives there


@pytest.fixture(scope="module")
def samples():
    from e2e_server import ROOT
    from watchwait.validation import frame_to_records, read_cohort

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}



def _open(page: Page, server: str, pid: str, screen: str) -> None:
    open_app(page, server)
    load_sample(page, pid)
    go(page, screen)


def _main(page: Page):
    return page.get_by_test_id("stMain")


def test_demo13_ccr_with_ctdna_conditional_headline_at_the_desk_then_in_presentation_mode(wide: Page, server, shots, samples):
    """At the desk, then, on the same page, in Presentation mode (was two tests, test_demo13_ccr_with_ctdna_conditional_
    headline and test_presentation_mode_demo13_notices_keep_reason_and_source, each opening DEMO-13's Assessment on a
    page of its own; every check of both is made here, the second from _presentation_demo13)."""
    a = watchwait.assess(samples["DEMO-13"])
    assert a.category == "cCR" and a.suggestion.conditional
    _open(wide, server, "DEMO-13", "Assessment")
    suggestion = wide.locator(".st-key-ww-suggestion")
    expect(suggestion.get_by_role("heading", name="Suggested, with conditions: Watch-and-wait only after:")).to_be_visible(timeout=T)
    expect(suggestion.get_by_role("listitem").filter(has_text="systemic restaging (CT chest and abdomen)")).to_be_visible()
    assert shown_headline(suggestion) == f"Suggested, with conditions: {a.suggestion.headline}"
    expect(_main(wide)).not_to_contain_text("Suggested: Watch-and-wait with surveillance")
    systemic = wide.get_by_test_id("stAlert").filter(has_text="restage systemically (CT chest and abdomen)")
    expect(systemic).to_be_visible()
    expect(systemic).to_contain_text("FLAG-ctDNA-systemic")
    for f in a.suggestion.flags:
        expect(wide.get_by_test_id("stAlert").filter(has_text=f.rule_id)).to_have_count(1)
    shot(wide, shots / "20_assessment_DEMO-13_ccr_ctdna.png")
    _presentation_demo13(wide, shots, a)


def test_options_and_headlines_of_demo04_14_06_15_on_one_page(wide: Page, server, shots, samples):
    """Four patients opened one after the other on one page, each on its screen (were four tests, each opening
    the app on a page of its own: test_demo04_near_ccr_with_nodes_options, test_demo14_early_near_ccr_reassessment,
    test_demo06_unfit_incomplete, test_demo15_blank_cm_confirm_notices_before_the_number; every check of each is
    made by its helper below)."""
    open_app(wide, server)
    for i, (pid, screen, check) in enumerate((("DEMO-04", "Options", _demo04_near_ccr_with_nodes_options),
                                              ("DEMO-14", "Assessment", _demo14_early_near_ccr_reassessment),
                                              ("DEMO-06", "Assessment", _demo06_unfit_incomplete),
                                              ("DEMO-15", "Assessment", _demo15_blank_cm_confirm_notices_before_the_number))):
        if i:
            go(wide, "Patient")
        load_sample(wide, pid)
        go(wide, screen)
        expect(wide.get_by_test_id("ww-facts").first).to_contain_text(f"Patient: {pid}", timeout=T)
        check(wide, shots, samples)


def _demo04_near_ccr_with_nodes_options(wide: Page, shots, samples) -> None:
    """DEMO-04 on its Options screen (was test_demo04_near_ccr_with_nodes_options, a page of its own)."""
    a = watchwait.assess(samples["DEMO-04"])
    assert a.category == "near-cCR" and a.suggestion.pathway == "reassess_or_tme"
    le = wide.locator(".st-key-ww-option-local_excision")
    expect(le).to_be_visible(timeout=T)
    expect(le).not_to_contain_text("Suggested")
    expect(le).to_contain_text("restaging nodes N0")  # the criterion this patient does not meet
    for key in ("reassess", "tme"):
        expect(wide.locator(f".st-key-ww-option-{key}")).to_contain_text("Suggested")
    expect(wide.locator(".st-key-ww-option-watch_and_wait")).not_to_contain_text("Suggested")
    assert shown_headline(wide.locator(".st-key-ww-suggestion")) == f"Suggested, with conditions: {a.suggestion.headline}"
    expect(wide.locator(".st-key-ww-suggestion")).to_contain_text("not local excision")
    # the four cards side by side, none overlapping the next
    boxes = [wide.locator(f".st-key-ww-option-{k}").bounding_box() for k in ("watch_and_wait", "local_excision", "reassess", "tme")]
    for left, right in zip(boxes, boxes[1:]):
        assert left["x"] + left["width"] <= right["x"] + 1, (left, right)
    shot(wide, shots / "21_options_DEMO-04_near_ccr_nodes.png")


def _demo14_early_near_ccr_reassessment(wide: Page, shots, samples) -> None:
    """DEMO-14 on its Assessment screen (was test_demo14_early_near_ccr_reassessment, a page of its own)."""
    a = watchwait.assess(samples["DEMO-14"])
    assert a.category == "near-cCR" and a.suggestion.pathway == "reassess" and not a.suggestion.conditional
    suggestion = wide.locator(".st-key-ww-suggestion")
    expect(suggestion.get_by_role("heading", name=f"Suggested: {a.suggestion.headline}")).to_be_visible(timeout=T)
    assert shown_headline(suggestion) == "Suggested: Re-assessment in 6-12 weeks"
    expect(suggestion).to_contain_text(a.suggestion.rule_id)
    for t in a.suggestion.thresholds:  # each threshold says whether it is published or a choice (rule 11)
        expect(suggestion).to_contain_text(t)
    expect(suggestion).to_contain_text("8 weeks")
    shot(wide, shots / "22_assessment_DEMO-14_early_near_ccr.png")


def _demo06_unfit_incomplete(wide: Page, shots, samples) -> None:
    """DEMO-06 on its Assessment screen (was test_demo06_unfit_incomplete, a page of its own)."""
    a = watchwait.assess(samples["DEMO-06"])
    assert a.category == "incomplete" and a.suggestion.pathway == "tme" and a.suggestion.conditional
    unfit = wide.get_by_test_id("stAlert").filter(has_text="Judged unfit for major surgery")
    expect(unfit).to_be_visible(timeout=T)
    expect(unfit).to_contain_text("FLAG-unfit-surgery")
    suggestion = wide.locator(".st-key-ww-suggestion")
    expect(suggestion.get_by_role("heading", name="Suggested, with conditions: TME only after:")).to_be_visible()
    assert shown_headline(suggestion) == f"Suggested, with conditions: {a.suggestion.headline}"
    expect(_main(wide)).not_to_contain_text("Suggested: Total mesorectal excision")
    shot(wide, shots / "23_assessment_DEMO-06_unfit.png")


def _demo15_blank_cm_confirm_notices_before_the_number(wide: Page, shots, samples) -> None:
    """DEMO-15 on its Assessment screen (was test_demo15_blank_cm_confirm_notices_before_the_number, a page of its own)."""
    a = watchwait.assess(samples["DEMO-15"])
    assert [n.rule_id for n in a.suggestion.confirm] == ["CONFIRM-cM", "CONFIRM-NEW-M1"]
    metric = wide.get_by_test_id("stMetricValue")
    expect(metric).to_have_text(f"{100 * a.probability:.0f}%", timeout=T)
    top = metric.bounding_box()["y"]
    for n in a.suggestion.confirm:
        notice = wide.get_by_test_id("stAlert").filter(has_text=n.title)
        expect(notice).to_be_visible()
        expect(notice).to_contain_text(n.rule_id)
        box = notice.bounding_box()
        assert box["y"] + box["height"] <= top, (n.rule_id, box, top)
    assert shown_headline(wide.locator(".st-key-ww-suggestion")) == f"Suggested, with conditions: {a.suggestion.headline}"
    shot(wide, shots / "24_assessment_DEMO-15_confirm_blank_cm.png")


def _presentation_demo13(wide: Page, shots, a) -> None:
    """DEMO-13's Assessment, open at the desk, switched to Presentation mode: every notice keeps its reason and source."""
    wide.get_by_text("Presentation mode").click()
    settle(wide)
    expect(wide.get_by_test_id("stSidebar")).to_be_hidden()
    alerts = wide.get_by_test_id("stAlert")
    ids = {n.rule_id for n in a.suggestion.flags}
    # the three the case is about (a wide interval may add a fourth, depending on the model); every one is checked below
    assert {"FLAG-ctDNA-systemic", "FLAG-cCR-ctDNA", "FLAG-cCR-low-p"} <= ids and a.suggestion.context
    for n in a.suggestion.flags:
        alert = alerts.filter(has_text=n.rule_id)
        expect(alert).to_have_count(1, timeout=T)
        expect(alert).to_contain_text(n.message.split(". ")[0])
        expect(alert).to_contain_text("Why: ")
        expect(alert).to_contain_text(f"Source: {plain(n.source)}")  # cited as clinicians know it (issue 9)
        expect(alert).not_to_contain_text("{")  # no unfilled template
        for t in n.thresholds:  # a design-choice threshold says so on the shared screen too (rule 11)
            expect(alert).to_contain_text(t)
    # each flag's own reason, cut to one line
    expect(alerts.filter(has_text="FLAG-ctDNA-systemic")).to_contain_text(
        "Why: Detectable ctDNA after treatment signals distant as well as local disease.")
    expect(alerts.filter(has_text="FLAG-cCR-ctDNA")).to_contain_text(
        "Why: Post-treatment ctDNA is almost never detectable in true complete responders")
    expect(alerts.filter(has_text="FLAG-cCR-low-p")).to_contain_text("Why: The clinical assessment and the fused model disagree")
    expect(alerts.filter(has_text="FLAG-cCR-low-p")).to_contain_text("design choice of this tool")
    # context (shown, never used) is one line each on the shared screen, with its reason and source; with more than
    # four notices it joins the grid of notices (cut to two lines, in full in the fold) instead
    in_grid = len(a.suggestion.confirm) + len(a.suggestion.flags) + len(a.suggestion.context) > 4
    for n in a.suggestion.context:
        if in_grid:
            alert = alerts.filter(has_text=f"rule {n.rule_id}")
            expect(alert).to_have_count(1, timeout=T)
            expect(alert).to_contain_text(f"Source: {plain(n.source)}")
            continue
        line = _main(wide).get_by_test_id("stMarkdownContainer").filter(has_text=f"rule {n.rule_id}")
        expect(line).to_have_count(1, timeout=T)
        expect(line).to_contain_text(f"source: {plain(n.source)}")
    expect(_main(wide).get_by_test_id("stMarkdownContainer").filter(has_text="CTX-preference").first).to_contain_text(
        "The patient's informed preference: undecided")
    suggestion = wide.locator(".st-key-ww-suggestion")
    assert shown_headline(suggestion) == f"Suggested, with conditions: {a.suggestion.headline}"
    expect(_main(wide)).not_to_contain_text("Suggested: Watch-and-wait with surveillance")
    # on the shared screen, the notices, the number and the conditional headline all show without scrolling
    metric = wide.get_by_test_id("stMetricValue")
    heading = suggestion.locator("h4").first
    conditions = suggestion.get_by_role("listitem")
    for loc in (*[alerts.filter(has_text=f.rule_id) for f in a.suggestion.flags], metric, heading, conditions.last):
        box = loc.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box
    last_notice = max(alerts.filter(has_text=f.rule_id).bounding_box()["y"] for f in a.suggestion.flags)
    assert last_notice < metric.bounding_box()["y"]
    shot(wide, shots / "25_presentation_DEMO-13_notices.png", full=False)


def test_the_number_and_the_picture_disagree_on_screen(wide: Page, server, shots, samples):
    """Issue 17: DEMO-01 edited to every restaging reading at its worst. Where the model still reads far above
    the published rate for an incomplete response, the screen says so beside the number, names the drivers,
    keeps the headline conditional and marks the model's figures in the options as disputed."""
    from st_helpers import select, type_into
    from watchwait import agreement

    rec = dict(samples["DEMO-01"], endoscopy="incomplete", dre="mass", mr_trg=5, dwi_restriction=True)
    a = watchwait.assess(rec)
    disputed = agreement.is_disputed(a.suggestion)
    _open(wide, server, "DEMO-01", "Patient")
    for label, option in (("Endoscopy", "incomplete response (residual tumour)"), ("Digital rectal examination", "palpable mass"),
                          ("Residual diffusion restriction", "yes")):
        wide.get_by_role("combobox", name=label, exact=True).scroll_into_view_if_needed()  # far below the fold
        select(wide, label, option)
    wide.get_by_label("MRI tumour regression grade (mrTRG) (1-5)", exact=True).scroll_into_view_if_needed()
    type_into(wide, "MRI tumour regression grade (mrTRG) (1-5)", "5")
    go(wide, "Assessment")
    main = _main(wide)
    expect(main).to_contain_text(f"{a.probability:.0%}".replace("%", ""), timeout=T)
    banner = wide.get_by_test_id("stAlert").filter(has_text="Disputed: the model's number and the clinical picture disagree")
    if not disputed:  # a model that agrees with the picture shows no dispute anywhere
        expect(banner).to_have_count(0)
        expect(main).not_to_contain_text("Disputed")
        return
    expect(banner).to_have_count(1)
    n = next(f for f in a.suggestion.flags if f.rule_id == agreement.RULE_ID)
    assert "What drives the number" in n.message or "many small contributions" in n.message
    shot(wide, shots / "22_assessment_DEMO-01_worst_readings_disputed.png")
    expect(main).to_contain_text(n.message[:120])
    expect(main).to_contain_text("Disputed (the number and the clinical picture disagree): the model says that out of 100")
    expect(main).not_to_contain_text("**")  # no markup left over
    suggestion = wide.locator(".st-key-ww-suggestion")
    assert shown_headline(suggestion) == f"Suggested, with conditions: {a.suggestion.headline}"
    shot(wide, shots / "22_assessment_DEMO-01_worst_readings_disputed.png")
    go(wide, "Options")
    for key in ("watch_and_wait", "local_excision", "tme"):
        expect(wide.locator(f".st-key-ww-opt-mine-{key}")).to_contain_text("Disputed: the model's", timeout=T)
    expect(wide.locator(".st-key-ww-opt-mine-watch_and_wait")).not_to_contain_text(f"**{round(100 * a.probability)} out of 100**")
    shot(wide, shots / "23_options_DEMO-01_worst_readings_disputed.png")
