"""Small Playwright helpers for a Streamlit page."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

T = 45_000  # ms; the first assessment loads the model


_STATE = "() => document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"

# Installed in every page before Streamlit's own scripts (tests/e2e/conftest.py adds it to every browser context):
# it reads the top-level fields of the protobuf messages on the app's websocket, as Streamlit frames them (one
# message a frame). The browser's BackMsg with rerun_script (field 11) asks for a script run; the server's
# ForwardMsg new_session (field 4) starts one and script_finished (field 6) ends it, with 2 (FINISHED_EARLY_FOR_RERUN)
# when st.rerun / st.switch_page follows at once. window.__wwRuns.asked counts the runs asked for; a run that
# starts notes how many had been asked by then (its `asked`); a run that ends other than early-for-rerun records that
# number in `answered`. So `answered === asked` holds once a run that started after the last request has ended and
# nothing follows it.
WATCH_RUNS = r"""(() => {
  if (window.__wwRuns) return;
  const w = window.__wwRuns = {asked: 0, answered: 0, runAsked: -1, settled: 0, unread: 0};
  const bytes = d => d instanceof ArrayBuffer ? new Uint8Array(d)
                   : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
  // top-level fields of a protobuf message: {field number: varint value, or true for any other wire type}
  const fields = b => {
    const out = {}; let i = 0;
    const varint = () => { let v = 0, m = 1, c; do { c = b[i++]; v += (c & 127) * m; m *= 128; } while (c & 128 && i < b.length); return v; };
    while (i < b.length) {
      const key = varint(), field = Math.floor(key / 8), type = key % 8;
      if (type === 0) out[field] = varint();
      else if (type === 2) { const n = varint(); i += n; out[field] = true; }
      else if (type === 1) { i += 8; out[field] = true; }
      else if (type === 5) { i += 4; out[field] = true; }
      else break;
    }
    return out;
  };
  const Native = window.WebSocket;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    const b = bytes(data);
    if (b && fields(b)[11] !== undefined) w.asked += 1;
    return send.call(this, data);
  };
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', ev => {
      const b = bytes(ev.data);
      if (!b) { w.unread += 1; return; }  // not an ArrayBuffer: settle() falls back to waiting 600 ms
      const f = fields(b);
      if (f[4] !== undefined) w.runAsked = w.asked;
      if (f[6] !== undefined && f[6] !== 2 && w.runAsked >= 0) w.answered = Math.max(w.answered, w.runAsked);
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})()"""

def settle(page: Page) -> None:
    """Wait until the script run an action triggered has finished (Streamlit's ``data-test-script-state``) and
    the app's styles are on the page.

    In a page that watches its websocket (WATCH_RUNS): when the action asked for a run, wait until a run that started
    after the last request has ended with nothing following it (st.rerun included); an action that has not asked
    for one yet (a file still uploading, a click that runs nothing) is given 600 ms to ask."""
    watched = page.evaluate("() => !!window.__wwRuns && window.__wwRuns.unread === 0")
    if watched:
        try:  # a run asked for since the last settle, and answered: no need to wait for one to start
            page.wait_for_function("() => window.__wwRuns.asked > window.__wwRuns.settled", timeout=600)
        except PlaywrightTimeoutError:
            pass
        page.wait_for_function("() => window.__wwRuns.answered >= window.__wwRuns.asked", timeout=T)
    else:
        # The rerun may take a moment to start; it may also have finished already. These 600 ms also catch a run
        # that follows the one just finished (st.rerun, ?patient= synced).
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
    if watched:
        page.evaluate("() => { window.__wwRuns.settled = window.__wwRuns.asked; }")


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
    """Pick ``option`` in the selectbox ``label``. If the option list is not open 10 s after the click, click
    again (once more at most): a fresh-clone run under load once clicked the Patient screen's picker and no list
    opened within 30 s (the click landed while the screen was drawn again)."""
    box = page.get_by_role("combobox", name=label, exact=True)
    choice = page.get_by_role("option", name=option, exact=True)
    for attempt in range(3):
        box.click()
        try:
            choice.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    choice.click()
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
