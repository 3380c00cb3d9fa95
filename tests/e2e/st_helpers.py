"""Small Playwright helpers for a Streamlit page."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

T = 45_000  # ms; the first assessment loads the model


_STATE = "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"


def settle(page: Page) -> None:
    """Wait until the script run an action triggered has finished (Streamlit's ``data-test-script-state``) and
    the app's styles are on the page."""
    # The rerun may take a moment to start; it may also have finished already. These 600 ms stay: they also catch
    # a run that follows the one just finished (st.rerun, ?patient= synced). Tried: skipping them when a run was
    # seen after the last user input; test_unsaved_edits... then found the URL not yet naming DEMO-05.
    try:
        page.wait_for_function(f"() => ({_STATE})() === 'running'", timeout=600)
    except PlaywrightTimeoutError:
        pass
    page.wait_for_function(f"() => !['running', 'initial', null, undefined].includes(({_STATE})())", timeout=T)
    # On a first load, Streamlit draws st.html a moment after the run has ended (its renderer loads lazily):
    # until the app's styles are in (components.layout.apply_css) the page has no focus outline and no
    # presentation type. Seen in CI: Tab pressed in that gap met ten sidebar links without an outline.
    expect(page.locator(".ww-css")).to_be_attached(timeout=T)
    painted(page)


def painted(page: Page) -> None:
    """Wait until the browser has painted what the last run drew (two animation frames: the one React commits
    in, then the one after it). Replaces a fixed 100 ms pause."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")


# Every chart of the main area that is in view has been drawn by Plotly, no element is still loading, and then the
# main area's size and every chart's, table's and image's box stay the same for six frames in a row (Plotly and
# Streamlit re-lay charts out a moment after a rerun or a change of window size). At most 10 s of frames.
_DRAWN = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || main.querySelector('[data-testid="stSkeleton"]')) return false;
  return [...main.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => !c.closest('details:not([open])') && c.getBoundingClientRect().height > 0)
    .every(c => c.querySelector('.main-svg'));
}"""
_STILL = """() => new Promise(resolve => {
  const sig = () => { const m = document.querySelector('[data-testid="stMain"]'); if (!m) return '';
    return [m.scrollHeight, m.scrollWidth, ...[...m.querySelectorAll(
      '[data-testid="stPlotlyChart"] .main-svg, [data-testid="stDataFrame"], img, table')].map(e => {
        const r = e.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height); })].join(','); };
  let last = sig(), same = 0, frames = 0;
  const tick = () => { const now = sig(); same = now === last ? same + 1 : 0; last = now; frames++;
    if (same >= 6 || frames > 600) resolve(same >= 6); else requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
})"""


def drawn(page: Page) -> None:
    """Wait until the screen's charts are drawn and its layout has stopped moving (replaces fixed "charts drawn"
    pauses of 500 to 800 ms)."""
    page.wait_for_function(_DRAWN, timeout=T)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.evaluate(_STILL)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
    settle(page)


def select(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def type_into(page: Page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")
    settle(page)


def go(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=T)
    settle(page)


def load_sample(page: Page, patient_id: str, discard: bool = True) -> None:
    """Open a sample patient from the Patient screen; with unsaved edits the screen asks first, and ``discard``
    answers "Discard changes and continue"."""
    select(page, "Sample patient (synthetic)", patient_id)
    expect(page.get_by_role("listbox")).to_have_count(0)  # the option list has closed
    page.get_by_role("button", name="Load", exact=True).click()
    settle(page)
    confirm = page.get_by_role("button", name="Discard changes and continue")
    if discard and confirm.count():
        confirm.click()
        settle(page)
    expect(page.get_by_label("Patient pseudonym (required)", exact=True)).to_have_value(patient_id, timeout=T)
    settle(page)


def shot(page: Page, path, full: bool = True) -> None:
    """Screenshot of the whole app (Streamlit scrolls inside its main block, so grow the viewport to fit)."""
    if full:
        vp = page.viewport_size
        height = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : document.body.scrollHeight; }")
        page.set_viewport_size({"width": vp["width"], "height": max(vp["height"], min(int(height) + 40, 6000))})
        drawn(page)
        page.screenshot(path=str(path))
        page.set_viewport_size(vp)
        drawn(page)
    else:
        page.screenshot(path=str(path))


def shown_headline(suggestion) -> str:
    """The suggestion box's headline as one line: its heading, then its conditions (one list item each)
    joined as ``watchwait`` joins them ("; "), to compare with ``Suggestion.headline``."""
    expect(suggestion.locator("h4").first).to_be_visible(timeout=T)
    head = " ".join(suggestion.locator("h4").first.inner_text().split())
    items = [" ".join(t.split()) for t in suggestion.locator("li").all_inner_texts()]
    return head + (" " + "; ".join(items) if items else "")
