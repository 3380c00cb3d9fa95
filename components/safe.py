"""User text on screen: one helper, :func:`md`, for every place a value that came from a user (a pseudonym,
a cohort cell, a file or zip member name, an ROI name, a URL parameter, a message that quotes any of them)
is put into text Streamlit renders as Markdown (``st.markdown``, ``st.error``/``warning``/``info``/``success``,
``st.caption``, widget labels and help).

Streamlit's Markdown renders images (``![x](http://host/beacon.png)`` makes the browser fetch the URL),
links, bare URLs (GFM autolinks), raw HTML tags, ``:material/...:`` icons, ``:red[...]`` colours, emoji
shortcodes and ``$...$`` LaTeX. :func:`md` backslash-escapes every ASCII punctuation character (CommonMark
allows an escape before any of them, and an escaped character is always literal text), so none of these
can start, and folds line breaks into spaces so that user text cannot open a new block (a heading, a list,
a table). Bare URLs and e-mail addresses are found again *after* escapes are resolved (remark-gfm links the
text nodes), so an invisible WORD JOINER (U+2060) goes after ``http``/``https``/``ftp``/``mailto``/``xmpp``
before a colon, after ``www`` before a dot, and after ``@``: the text reads the same, and is never a link.

Text that is not Markdown (``st.html`` with :func:`html`, ``st.dataframe`` cells, ``st.text``, selectbox
options) needs no Markdown escaping.
"""

from __future__ import annotations

import re
import string

_PUNCT = re.compile("([" + re.escape(string.punctuation) + "])")
_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)|(www)(?=\.)|(@)")


def md(text: object) -> str:
    """``text`` as literal Markdown: every ASCII punctuation character escaped, line breaks folded, bare URLs
    and e-mail addresses broken by an invisible word joiner."""
    text = _BREAKS.sub(" ", str(text))
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, text)
    return _PUNCT.sub(r"\\\1", text)


def html(text: object) -> str:
    """``text`` as literal HTML text or attribute value (for ``st.html``)."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def unescape(text: str) -> str:
    """What :func:`md` text reads as on screen (for tests and plain-text exports)."""
    return _ESCAPED.sub(r"\1", text).replace(WORD_JOINER, "")
