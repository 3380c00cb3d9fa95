"""Page chrome: header with the presentation-mode toggle, the patient's key facts, and the CSS of both modes."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from components import state
from watchwait.labels import code_text

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
[data-testid="stMultiSelectTagsContainer"] span { font-size: 1rem !important; }
.st-key-ww-notices [data-testid="stAlertContainer"] [data-testid="stMarkdownContainer"] p {
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; line-clamp: 2; overflow: hidden; }
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

# Both modes: a keyboard user always sees where the focus is (Streamlit leaves some controls without one).
_FOCUS_CSS = """
<style>
:focus-visible { outline: 3px solid #0072B2 !important; outline-offset: 2px; }
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
    """Title, and the presentation-mode toggle at the top right of every screen. First, on every screen: images
    and radiomics of another patient than the open one are dropped, the URL names the open sample patient, and a
    notice says what was dropped (components.identity)."""
    from components import identity

    if state.PATIENT_SOURCE not in st.session_state:  # this screen runs without app.py (use_app_navigation)
        use_app_navigation()
        st.rerun()  # now through app.py, which opens the same screen
    identity.on_every_screen()
    left, right = st.columns([4, 1.6] if state.presentation() else [5, 1.3], vertical_alignment="center")
    left.title(title)
    st.session_state[state.PRESENTATION_WIDGET] = state.presentation()
    right.toggle("Presentation mode", key=state.PRESENTATION_WIDGET, on_change=_toggle_changed,
                 help="MDT shared screen: large type, high contrast, no sidebar.")
    identity.show_notice()
    identity.unload_guard()




def _num(v: object) -> object:
    """Whole floats without '.0' (5.0 -> 5); everything else unchanged."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _yn(v: object, yes: str, no: str) -> str | None:
    return None if v is None else (yes if str(v).lower() in ("true", "1", "yes") else no)


def key_facts(record: Mapping[str, object]) -> list[tuple[str, str]]:
    """The patient's key facts, in the order an MDT reads them (blank values left out)."""
    r = {k: (None if v in (None, "") else _num(v)) for k, v in record.items()}
    facts: list[tuple[str, str]] = []
    who = " ".join(str(x) for x in (f"{r['age_years']} y" if r.get("age_years") is not None else None,
                                     code_text("sex", r["sex"]) if r.get("sex") else None) if x)
    if r.get("ecog") is not None:
        who += f", ECOG {r['ecog']}"
    facts.append(("Patient", f"{r.get('patient_id') or 'no pseudonym'}" + (f" ({who})" if who else "")))
    stage = " ".join(str(r[k]) for k in ("ct_stage", "cn_stage", "cm_stage") if r.get(k))
    if _yn(r.get("new_distant_metastasis"), "y", "n") == "y":
        stage += " at baseline"
    extras = [x for x in (_yn(r.get("mrf_involved"), "MRF+", "MRF-"), _yn(r.get("emvi"), "EMVI+", "EMVI-"),
                          _yn(r.get("lateral_nodes"), "lateral nodes+", None)) if x]
    dist = f"{r['distance_from_anal_verge_cm']} cm from anal verge" if r.get("distance_from_anal_verge_cm") is not None else ""
    facts.append(("Tumour", ", ".join(x for x in [r.get("mmr_status") or "MMR not recorded", stage, *extras, dist] if x)))
    treat = []
    if r.get("rt_schedule"):
        treat.append(code_text("rt_schedule", r["rt_schedule"]))
    if r.get("sequence") and r["sequence"] != "none":
        treat.append(code_text("sequence", r["sequence"]))
    sys = [x for x in (code_text("chemotherapy", r.get("chemotherapy")) if r.get("chemotherapy") not in (None, "none") else None,
                       code_text("immunotherapy", r.get("immunotherapy"))
                       if r.get("immunotherapy") not in (None, "none") else None,
                       "regorafenib" if _yn(r.get("regorafenib"), "y", "n") == "y" else None) if x]
    if sys:
        treat.append(" + ".join(str(s) for s in sys) + (f" x{r['systemic_cycles']}" if r.get("systemic_cycles") is not None else ""))
    facts.append(("Treatment", ", ".join(str(t) for t in treat) or "not recorded"))
    rest = [f"endoscopy: {code_text('endoscopy', r['endoscopy'])}" if r.get("endoscopy") else "endoscopy not recorded",
            f"DRE: {code_text('dre', r['dre'])}" if r.get("dre") else "DRE not recorded",
            f"mrTRG {r['mr_trg']}" if r.get("mr_trg") is not None else "mrTRG not recorded",
            {"true": "DWI restriction", "false": "no DWI restriction"}.get(str(r.get("dwi_restriction")).lower(), "DWI not recorded"),
            f"nodes y{r['ymr_n_stage']}" if r.get("ymr_n_stage") else "nodes not recorded"]
    if r.get("residual_lesion_mm") is not None:
        rest.append(f"residual {r['residual_lesion_mm']} mm")
    if r.get("restaging_biopsy") in ("negative", "positive"):
        rest.append(f"biopsy {code_text('restaging_biopsy', r['restaging_biopsy'])}")
    if _yn(r.get("new_distant_metastasis"), "y", "n") == "y":
        rest.insert(0, "new distant metastasis")
    if _yn(r.get("ymr_emvi"), "y", "n") == "y":
        rest.append("EMVI still visible")
    if r.get("weeks_rt_to_assessment") is not None:
        rest.append(f"{r['weeks_rt_to_assessment']} weeks after RT")
    facts.append(("Restaging", ", ".join(rest)))
    ct = [r.get(c) for c in ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")]
    def say(v):
        return "not tested" if v is None else ("0" if float(v) == 0 else f"{float(v):g}")
    if all(v is None for v in ct):
        facts.append(("ctDNA", "not tested"))
    else:
        facts.append(("ctDNA C1/C2/C3", " / ".join(say(v) for v in ct) + " MTM/mL (0 = not detected)"))
    person = [x for x in (
        {"yes": "fit for major surgery", "no": "unfit for major surgery", "uncertain": "fitness for surgery uncertain"}.get(str(r.get("fit_for_major_surgery"))),
        _yn(r.get("sphincter_involved"), "sphincter involved", None),
        {"organ_preservation": "prefers organ preservation", "surgery": "prefers surgery", "undecided": "preference undecided",
         "not_discussed": "preference not yet discussed"}.get(str(r.get("patient_preference")))) if x]
    if person:
        facts.append(("Person", ", ".join(person)))
    return facts


def facts_banner(record: Mapping[str, object]) -> None:
    """The key facts, then where the record's values came from (components.identity.sources_line)."""
    from components import identity

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
