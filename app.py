"""watchwait dashboard: router only (page config, state, navigation). Run: streamlit run app.py"""

import time
from pathlib import Path

import streamlit as st

from components import auth, casestore, identity, layout, links, patient, state

t0 = time.perf_counter()
FAVICON = str(Path(__file__).resolve().parent / "components" / "favicon.png")
# The favicon is served by this server (a material icon or an emoji would be fetched from an outside font host).
st.set_page_config(page_title="watchwait: rectal cancer MDT support", page_icon=FAVICON, layout="wide")
# Every file in pages/ is listed here (tests/app/test_navigation.py fails if one is missing).
PAGES = [
    st.Page("pages/patient.py", title="Patient", icon=":material/person:", default=True),
    st.Page("pages/assessment.py", title="Assessment", icon=":material/monitoring:"),
    st.Page("pages/what_if.py", title="What if", icon=":material/compare_arrows:"),
    st.Page("pages/trajectories.py", title="Trajectories", icon=":material/timeline:"),
    st.Page("pages/evidence.py", title="Evidence", icon=":material/menu_book:"),
    st.Page("pages/options.py", title="Options", icon=":material/call_split:"),
    st.Page("pages/imaging.py", title="Imaging", icon=":material/radiology:"),
    st.Page("pages/meeting.py", title="Meeting", icon=":material/groups:"),
    st.Page("pages/cases.py", title="Cases", icon=":material/folder_shared:"),
    st.Page("pages/about_model.py", title="About the model", icon=":material/info:"),
]

state.init()
auth.gate(PAGES)  # [auth] set: nothing without a live sign-in (expired, idle: ends here); local mode: loopback only
links.restore_from_url()  # a reload reopens the meeting and case the URL names (?meeting=&case=)
identity.restore_from_url()  # ... or the sample patient it names

page = st.navigation(PAGES, position="top" if state.presentation() else "sidebar")
identity.on_every_screen()  # before any screen draws: nothing of another patient, the URL names the open one
layout.apply_css()
layout.sidebar()
casestore.actor_sidebar()  # the who of every write: the signed-in person (and "Sign out"), or "Your name"
auth.keep_watch()  # signed in: the timer (in the sidebar) that signs out an expired or idle screen, shared screen too
patient.timed_run(page, t0)
