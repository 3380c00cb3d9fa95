"""The MDT's shared screen in Chromium (issue 9): in Presentation mode at 1920x1080 the first screen holds the
facts, the probability with its interval, the top five reasons and the suggestion; no visible text of the
main area is smaller than 24 px (chart text included); grey text keeps 4.5:1 on white."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import watchwait
from st_helpers import go, load_sample, open_app, settle, shot

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1920, 1080

# Every visible text node of the main area, with its computed size and colour (SVG chart text included).
_TEXT_SIZES = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const out = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (el.closest('details:not([open])') || el.closest('[data-testid="stExpander"] details:not([open])')) continue;
    if (el.closest('[data-testid="stTooltipIcon"], [data-testid="stTooltipHoverTarget"], .modebar, script, style')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || cs.display === 'none' || cs.opacity === '0') continue;
    out.push({text: text.slice(0, 60), size: parseFloat(cs.fontSize), colour: cs.color || cs.fill,
              fill: el.getAttribute('fill') || '', top: r.top});
  }
  return out;
}"""


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def samples():
    from e2e_server import ROOT
    from watchwait.validation import frame_to_records, read_cohort

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


def _presentation(page: Page, server: str, pid: str) -> None:
    open_app(page, server)
    load_sample(page, pid)
    go(page, "Assessment")
    page.get_by_text("Presentation mode").first.click()
    settle(page)
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    page.wait_for_timeout(800)  # charts drawn


def test_presentation_assessment_fits_one_screen_with_the_top_five_reasons(wide: Page, server, shots, samples):
    a = watchwait.assess(samples["DEMO-02"])
    _presentation(wide, server, "DEMO-02")
    main = wide.get_by_test_id("stMain")
    reasons = [c for c in a.contributions if not c.not_tested and c.value != "not recorded"][:5]
    must_show = [wide.get_by_test_id("ww-facts"), wide.get_by_test_id("stMetricValue"),
                 main.get_by_text("90% interval:").first, wide.locator(".st-key-ww-suggestion h4").first,
                 main.get_by_text("Top 5 reasons").first]
    must_show += [main.get_by_text(f"{c.shap_pp:+.1f}", exact=True).first for c in reasons]
    for f in a.suggestion.flags:
        must_show.append(wide.get_by_test_id("stAlert").filter(has_text=f.rule_id))
    for loc in must_show:
        box = loc.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, box
    shot(wide, shots / "30_presentation_DEMO-02_one_screen.png", full=False)


@pytest.mark.parametrize("screen", ["Assessment", "Options", "Trajectories"])
def test_presentation_text_is_at_least_24_px_and_dark_enough(wide: Page, server, shots, screen):
    _presentation(wide, server, "DEMO-01")
    if screen != "Assessment":
        wide.get_by_role("link", name=screen).first.click()
        settle(wide)
        wide.wait_for_timeout(800)
    texts = wide.evaluate(_TEXT_SIZES)
    assert len(texts) > 20
    small = [t for t in texts if t["size"] < 24 and t["top"] < 3 * HEIGHT]
    # the only smaller text allowed: the model version in code font and Streamlit's own chrome (none expected)
    assert small == [], small[:10]
    faint = [t for t in texts if t["colour"] in ("rgb(153, 153, 153)", "rgb(170, 170, 170)") or t["fill"] in ("#999999",)]
    assert faint == [], faint[:10]
    shot(wide, shots / f"31_presentation_DEMO-01_{screen}.png", full=False)
