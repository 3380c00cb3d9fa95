"""A test-only Streamlit app for tests/oidc: st.login() for an anonymous browser, else who is signed in (st.user,
the identity token's claims) and a "Sign out" button (st.logout()). Not part of the dashboard."""

import json
import time

import streamlit as st

if not st.user.is_logged_in:
    st.login()  # sends the browser to the provider; nothing below is shown
    st.stop()

user = st.user.to_dict()
st.title("Signed in")
st.text(f"name: {st.user.name}")
st.text(f"sub: {st.user.sub}")
st.text(f"groups: {json.dumps(user.get('groups'))}")
exp = user.get("exp")
# Streamlit never checks the identity token's expiry: the app has to (this line is what the tests read).
st.text(f"expired: {'unknown' if exp is None else 'yes' if time.time() >= exp else 'no'}")
st.text(f"user: {json.dumps(user, sort_keys=True, default=str)}")
st.session_state["runs"] = st.session_state.get("runs", 0) + 1
st.text(f"runs of this session: {st.session_state['runs']}")
st.button("Run again")  # a rerun of this session, nothing else
if st.button("Sign out"):
    st.logout()
