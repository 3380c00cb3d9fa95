"""AppTest helpers (imported by the tests and tests/app/conftest.py): a fresh app, a sample patient loaded through the Patient screen's own widgets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _run_app_py_every_time_as_the_server_does() -> None:
    """The dashboard's server (components/serve.py) sets ``PagesManager.uses_pages_directory = False`` at start, so
    app.py (start-up, navigation) runs on every rerun. AppTest resets the flag to None before each run, and a new
    PagesManager then finds pages/ and picks Streamlit's old multipage mode: from the second run on, the screen's
    script ran alone, without app.py, and app.py's start-up went untested. Mirror the server."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__
    if getattr(init, "as_the_server", False):
        return

    def as_the_server(self, *args, **kwargs):
        PagesManager.uses_pages_directory = False
        init(self, *args, **kwargs)

    as_the_server.as_the_server = True
    PagesManager.__init__ = as_the_server


_run_app_py_every_time_as_the_server_does()

# first run loads the model and imports shap (a few seconds on a busy machine)
TIMEOUT = 90


def new_app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def load_sample(at, patient_id: str):
    if not any(getattr(w, "key", None) == "sample_choice" for w in at.selectbox):
        goto(at, "patient")
    at.selectbox(key="sample_choice").select(patient_id)
    at.button(key="load_sample").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def goto(at, page: str):
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def walk(node):
    """Every element of the rendered tree, in screen order."""
    children = getattr(node, "children", None)
    if children:
        for child in children.values():
            yield from walk(child)
    else:
        yield node


def texts(at) -> str:
    """All text on screen (markdown, captions, alerts, metrics), joined, as it reads (user text is
    backslash-escaped in the Markdown source: components.safe.md)."""
    from components.safe import unescape

    out = []
    for el in walk(at.main):
        v = getattr(el, "value", None)
        if isinstance(v, str):
            out.append(v)
        label = getattr(el, "label", None)
        if isinstance(label, str):
            out.append(label)
    return unescape("\n".join(out))


def errors(at) -> list[str]:
    """The error boxes' texts, as they read."""
    from components.safe import unescape

    return [unescape(e.value) for e in at.error]


def plotly_specs(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def assert_suggestion_shown(screen: str, s) -> None:
    """The suggestion as a screen must word it (clinical brief, rule 6): an unconditional one as
    "Suggested: <headline>"; a conditional one as "Suggested, with conditions: <pathway> only after: ...",
    every condition on screen, and never the bare pathway label after "Suggested: "."""
    if s.conditional:
        lead = s.headline.split(":", 1)[0]  # e.g. "Watch-and-wait only after"
        assert f"Suggested, with conditions: {lead}" in screen, lead
        for c in s.conditions:
            assert c in screen, c
        assert f"Suggested: {s.label}" not in screen
    else:
        assert s.headline == s.label and f"Suggested: {s.headline}" in screen


def upload_imaging(at, visit, series_files, roi_name, roi_bytes):
    """Choose a series (``[(name, bytes, mime), ...]``) and a tumour ROI for one visit on the Imaging screen, and use
    them (the uploaders' first keys: a visit's first upload in the session)."""
    at.file_uploader(key=f"imaging:{visit}:series_upload").set_value(series_files)
    at.file_uploader(key=f"imaging:{visit}:roi_upload").upload(roi_name, roi_bytes)
    at.run()
    at.button(key=f"imaging:{visit}:use_upload").click().run()
    assert not at.exception, [e.value for e in at.exception]
