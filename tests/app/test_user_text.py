"""User text is never Markdown (issue 10, item 6): components.safe.md, and every screen with hostile values in it.

What the browser makes of the Markdown is checked in Chromium (tests/e2e/test_patient_safety_e2e.py); here: the
helper's contract, and that no screen puts a user's text into Markdown unescaped."""

from __future__ import annotations

import string

import pytest

from apptest_helpers import goto, load_sample, new_app, walk
from components.safe import WORD_JOINER, html, md, unescape

HOSTILE = [
    "![x](http://127.0.0.1:9/beacon.png)",
    "[link](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "http://127.0.0.1:9/bare www.example.org someone@example.org HTTPS://X",
    ":material/warning: :red[red] $x^2$ **bold** `code` # heading",
    "line one\n# heading\n- item\n| a | b |",
    "&lt;b&gt; &#x3C;img&#x3E; \\![x](y)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_md_escapes_every_markdown_character_and_reads_the_same(text):
    out = md(text)
    assert unescape(out) == " ".join(text.split("\n"))  # the same text on screen (line breaks folded)
    assert "\n" not in out
    i = 0
    while i < len(out):  # every ASCII punctuation character is escaped, every backslash starts an escape
        c = out[i]
        if c == "\\":
            assert out[i + 1] in string.punctuation
            i += 2
            continue
        assert c not in string.punctuation, (c, out)
        i += 1
    bare = out.replace("\\", "")
    for link in ("http:", "https:", "HTTPS:", "www.", "@example"):
        assert link not in bare  # a word joiner breaks every bare URL and e-mail address
    assert WORD_JOINER in out or not any(k in text.lower() for k in ("http", "www", "@"))


def test_html_escapes_tags_and_quotes():
    assert html('<img src="x">&\'') == "&lt;img src=&quot;x&quot;&gt;&amp;&#39;"


MARKDOWN_BODIES = {"Markdown", "Caption", "Error", "Warning", "Info", "Success", "Title", "Header", "Subheader",
                   "Divider", "Text", "Toast", "Exception"}


def _markdown_sources(at) -> list[str]:
    """Every string the screen hands to Streamlit's Markdown renderer: the body of text elements and alerts,
    and every widget's or metric's label (a text input's *value* is not Markdown, and st.html is escaped HTML)."""
    out = []
    for el in walk(at.main):
        label = getattr(el, "label", None)
        if isinstance(label, str):
            out.append(label)
        elif type(el).__name__ in MARKDOWN_BODIES and isinstance(getattr(el, "value", None), str):
            out.append(el.value)
    return out


SCREENS = ["patient", "assessment", "what_if", "trajectories", "evidence", "options", "imaging", "about_model"]


def test_a_hostile_pseudonym_is_escaped_on_every_screen():
    bad = HOSTILE[0]
    at = new_app()
    load_sample(at, "DEMO-01")
    at.text_input(key="field:patient:patient_id").input(bad).run()
    shown_somewhere = False
    for screen in SCREENS:
        goto(at, screen)
        assert not at.exception
        for src in _markdown_sources(at):
            assert "![x](" not in src and "](http" not in src, (screen, src)  # never unescaped
            shown_somewhere |= bad in unescape(src)
    assert shown_somewhere  # and it is shown, as text


def test_a_hostile_cohort_file_and_cell_are_escaped():
    at = new_app()
    next(w for w in at.file_uploader if str(w.key).startswith("cohort_upload:")).upload("![c](http:x).csv", b"patient_id,mmr_status\nX1,![y](http://h/b.png)\n",
                                                 "text/csv")
    at.run()
    assert not at.exception
    sources = _markdown_sources(at)
    assert not [s for s in sources if "![c](" in s or "![y](" in s]
    assert any("![c](http:x).csv was not imported" in unescape(s) for s in sources)
    assert any("![y](http://h/b.png)" in unescape(s) for s in sources)


def test_a_hostile_what_if_entry_is_escaped():
    at = new_app()
    load_sample(at, "DEMO-01")
    goto(at, "what_if")
    at.multiselect(key="scenario:2:fields").select("cea_post_ng_ml").run()
    at.text_input(key="scenario:2:value:cea_post_ng_ml").input("![z](http://h/z.png)").run()
    assert not at.exception
    sources = _markdown_sources(at)
    assert not [s for s in sources if "![z](" in s]
    assert any("![z](http://h/z.png)" in unescape(s) for s in sources if "Invalid scenario" in s)
