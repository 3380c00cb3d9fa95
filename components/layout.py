"""Page chrome: header with the presentation-mode toggle, the patient's key facts, and the CSS of both modes."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from components import state

# Presentation mode (MDT shared screen, 1920x1080): large type, black on white, no sidebar.
_PRESENTATION_CSS = """
<style>
html { font-size: 24px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarCollapseButton"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 3.4rem; padding-bottom: 0.5rem; max-width: 100%; }
body, p, li, label, span, div { color: #000000; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #000000 !important; opacity: 1 !important; font-size: 1rem !important; }
.st-key-ww-suggestion { border: 3px solid #000000 !important; gap: 0.7rem !important; }
.st-key-ww-suggestion h4 { padding: 0 0 0.35rem 0 !important; }
.st-key-ww-suggestion ul { margin: 0 0 0.5rem 0 !important; }
h1 { font-size: 1.3rem !important; padding: 0 !important; }
h2, h3, h4 { font-size: 1.15rem !important; line-height: 1.3 !important; padding: 0.1rem 0 !important; }
[data-testid="stHeading"]:has(h2, h3) [data-testid="stMarkdownContainer"] { margin-bottom: 0 !important; }
[data-testid="stMetricValue"] { font-size: 3.4rem !important; font-weight: 800; line-height: 1.05; }
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 3.4rem !important; line-height: 1.05; }
[data-testid="stMetricLabel"] p { font-size: 1rem !important; font-weight: 700; }
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * { white-space: normal !important; text-overflow: clip !important; }
[data-testid="stAlert"] { border: 2px solid #000000; }
[data-testid="stAlertContainer"] { padding: 0.3rem 0.6rem !important; }
[data-testid="stAlertContainer"] p { font-size: 1rem; line-height: 1.22; }
.ww-facts { font-size: 1rem; line-height: 1.25; border: 2px solid #000; padding: 0.35rem 0.7rem; border-radius: 0.4rem; }
.ww-facts b { font-weight: 800; }
.ww-sources { font-size: 1rem; margin-top: 0.15rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li, [data-testid="stWidgetLabel"] p { font-size: 1rem !important; }
[data-testid="stVerticalBlock"] { gap: 0.45rem; }
[data-testid="stElementContainer"]:has(.ww-unload-guard) { display: none; }
[class*="st-key-ww-opt-cohort-"] { background: #f2f2f2; border-style: dashed !important; }
[data-testid="stMain"] code { font-size: 1rem !important; }
.ww-local-mode { font-size: 1rem !important; }
[data-testid="stMultiSelectTagsContainer"] span { font-size: 1rem !important; }
.st-key-ww-notices [data-testid="stAlertContainer"] [data-testid="stMarkdownContainer"] p {
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2; overflow: hidden; }
/* the decision form at the room's type size (its text was 21 px), its boxes tall enough for six names */
[data-testid="stTextArea"] textarea, [data-testid="stTextInput"] input, [data-testid="stRadio"] label p,
[data-testid="stRadio"] label div { font-size: 1rem !important; }
[data-testid="stTextArea"] textarea { min-height: 7.6rem !important; line-height: 1.2 !important; }
/* a button that cannot be pressed looks it (it looked like the others from the back of the room) */
button:disabled { opacity: 0.4 !important; border-style: dashed !important; cursor: not-allowed !important; }
</style>
"""

_NORMAL_CSS = """
<style>
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 2.6rem; }
[data-testid="stMetricValue"] { font-size: 3rem; font-weight: 700; }
.ww-facts { line-height: 1.5; border: 1px solid #999999; padding: 0.3rem 0.6rem; border-radius: 0.4rem; }
.ww-sources { font-size: 0.85rem; color: #31333f; margin-top: 0.1rem; }
[data-testid="stElementContainer"]:has(.ww-unload-guard) { display: none; }
[class*="st-key-ww-opt-cohort-"] { background: #f2f2f2; border-style: dashed !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"] code { color: #595959 !important; opacity: 1 !important; }
</style>
"""

# Both modes: a keyboard user always sees where the focus is (Streamlit leaves some controls without one); the
# local-mode banner (who_line) is one plain line, dark on pale amber (contrast 11:1), in both modes' type.
_FOCUS_CSS = """
<style>
:focus-visible { outline: 3px solid #0072B2 !important; outline-offset: 2px; }
.ww-local-mode { background: #fff4d6; color: #3d2e00; border-left: 4px solid #b38600; padding: 0.15rem 0.6rem; font-size: 0.85rem; line-height: 1.35; }
</style>
"""


# The styles travel in an ordinary (hidden) element of the main area. A style-only st.html goes to Streamlit's
# event container instead, and Chromium was seen to lose it there after a page load: the whole page then ran
# without these rules (no focus outline, no presentation type) until the next rerun; the keyboard browser test
# caught it in CI (tests/e2e/test_accessibility_e2e.py).
_HOLDER = '<span class="ww-css" hidden></span><style>[data-testid="stElementContainer"]:has(.ww-css) { display: none; }</style>'


def use_app_navigation() -> None:
    """app.py's st.navigation is the app's only navigation. Streamlit (1.67) decides per server process, until a
    script first calls st.navigation, that a folder named pages/ next to the main script means its old multipage
    mode; in that mode a first request for /meeting (a bookmark after a restart) runs pages/meeting.py alone,
    without app.py, and the screen fails. components/serve.py calls this at start; :func:`header` calls it and
    reruns when a screen finds itself run without app.py (``streamlit run app.py``)."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def apply_css() -> None:
    st.html(_HOLDER + (_PRESENTATION_CSS if state.presentation() else _NORMAL_CSS) + _FOCUS_CSS)


def _toggle_changed() -> None:
    state.set_presentation(st.session_state[state.PRESENTATION_WIDGET])


def header(title: str) -> None:
    """Title, the presentation-mode toggle at the top right, and the notice of what app.py's start-up dropped
    (images and radiomics of another patient than the open one: components.identity.on_every_screen)."""
    from components import identity

    if state.PATIENT_SOURCE not in st.session_state:  # this screen runs without app.py (use_app_navigation)
        use_app_navigation()
        st.rerun()  # now through app.py, which opens the same screen
    from components import auth

    sign_out_here = state.presentation() and auth.configured()  # the shared screen has no sidebar
    widths = [4, 1.6, 1.2] if sign_out_here else [4, 1.6] if state.presentation() else [5, 1.3]
    left, right, *more = st.columns(widths, vertical_alignment="center")
    left.title(title)
    st.session_state[state.PRESENTATION_WIDGET] = state.presentation()
    right.toggle("Presentation mode", key=state.PRESENTATION_WIDGET, on_change=_toggle_changed,
                 help="MDT shared screen: large type, high contrast, no sidebar.")
    who_line(more[0] if more else right)
    identity.show_notice()
    identity.unload_guard()




LOCAL_MODE_TEXT = ("Local mode: nobody is signed in. Changes to the case store and decisions carry the name typed in "
                   "\u201cYour name\u201d, which nobody checks. For use by more than one person, the hospital "
                   "configures sign-in (README, \u201cSign-in and roles\u201d).")
# The shared screen's version: one line in its large type.
LOCAL_MODE_SHORT = ("Local mode: nobody is signed in; changes carry the typed name in \u201cYour name\u201d, which "
                    "nobody checks.")


def who_line(where) -> None:
    """Under the title, on every screen: in local mode the banner saying there is no sign-in
    (:data:`LOCAL_MODE_TEXT`); signed in, on the shared screen (no sidebar there), a one-click "Sign out" beside the
    toggle (``where``: the header's last column), who is signed in in its help, so the header stays one line."""
    from components import auth

    if not auth.configured():
        text = LOCAL_MODE_SHORT if state.presentation() else LOCAL_MODE_TEXT
        st.html(f'<div class="ww-local-mode" role="note" data-testid="ww-local-mode">{_esc(text)}</div>')
        return
    if not state.presentation():
        return  # the sidebar has them (components.casestore.actor_sidebar)
    from components.casestore import signed_in_line

    if where.button("Sign out", key="auth_sign_out_presenting", icon=":material/logout:",
                    help=signed_in_line() or None):
        auth.sign_out("signed_out")


def facts_banner(record: Mapping[str, object]) -> None:
    """The key facts (:func:`watchwait.present.key_facts`), then where the record's values came from
    (components.identity.sources_line)."""
    from components import identity
    from watchwait.present import key_facts  # here: it reads yes/no with the validator (pandas), not on a cold start

    items = key_facts(record)
    html = " &nbsp;·&nbsp; ".join(f"<b>{k}:</b> {_esc(v)}" for k, v in items)
    sources = f'<div class="ww-sources" data-testid="ww-sources">{_esc(identity.sources_line())}</div>'
    st.html(f'<div class="ww-facts" data-testid="ww-facts">{html}{sources}</div>')


def _esc(text: str) -> str:
    from components.safe import html

    return html(text)


def sidebar() -> None:
    """Sidebar (normal mode only): what the tool is, in one line."""
    if state.presentation():
        return
    with st.sidebar:
        st.caption("Decision support for an MDT after neoadjuvant therapy for pMMR/MSS rectal cancer. "
                   "It informs; the MDT decides. Model trained on synthetic data.")
