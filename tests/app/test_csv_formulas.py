"""Every CSV a screen offers escapes formulas (issue 21 item 6), Streamlit's table toolbar included.

Streamlit 1.67 builds the toolbar's "Download as CSV" in the browser from the cells it was given (useDataExporter:
each value as it is, quoted only for commas, quotes and line breaks), and copying cells does the same. So every frame
handed to st.dataframe goes through components.tables.safe_frame: a text cell that starts like a formula
(= + - @ TAB CR, OWASP) gets a leading ', the spreadsheet's own "text, not a formula" mark."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from components import tables
from watchwait.validation import FORMULA_START

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '=HYPERLINK("http://x","y")'

#: Files allowed an st.dataframe call not wrapped in safe_frame: none.
PENDING: set[str] = set()


def toolbar_cells(frame: pd.DataFrame, index: bool = False) -> list[list[str]]:
    """The text of every cell Streamlit's toolbar writes for ``frame``: the header, then each value as text."""
    data = frame.reset_index() if index else frame
    rows = [[str(c) for c in data.columns]]
    for row in data.itertuples(index=False):
        rows.append(["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in row])
    return rows


def toolbar_csv(frame: pd.DataFrame, index: bool = False) -> bytes:
    """The bytes Streamlit's toolbar writes for ``frame`` (its V_/H_ functions): a BOM, then the cells, a field quoted
    (quotes doubled) only when it holds a comma, a quote or a line feed."""
    def field(t: str) -> str:
        return '"' + t.replace('"', '""') + '"' if any(ch in t for ch in ',"\n') else t

    return ("\ufeff" + "".join(",".join(field(c) for c in r) + "\n" for r in toolbar_cells(frame, index))).encode("utf-8")


def live_formulas(frame: pd.DataFrame, index: bool = False) -> list[str]:
    """Cells a spreadsheet would run: starting with = + - @ TAB CR and not a plain number."""
    return [c for r in toolbar_cells(frame, index) for c in r
            if c.startswith(FORMULA_START) and not tables._NUMBER.fullmatch(c) and c not in "-+"]


def test_a_formula_typed_anywhere_reaches_no_csv_cell_unescaped():
    frame = pd.DataFrame({"Decision": ["Watch-and-wait", HOSTILE], "Rationale": ["+cmd|' /C calc'!A0", "@SUM(A1)"],
                          "Who": ["-2+3", "\tTAB"], "Points": ["+12.3", "-5.4"], "n": [1, -2]},
                         index=pd.Index(["a", "=1+1"], name="=B1"))
    frame[HOSTILE] = ["x", "\rCR"]
    assert len(live_formulas(frame, index=True)) == 9  # what the toolbar wrote before ("=HYPERLINK(...)" as it is)
    assert b',"=HYPERLINK(""http://x"",""y"")"' in toolbar_csv(frame, index=True)
    safe = tables.safe_frame(frame)
    assert live_formulas(safe, index=True) == []
    data = toolbar_csv(safe, index=True)
    assert b',"\'=HYPERLINK(""http://x"",""y"")"' in data and b"=HYPERLINK" not in data.replace(b"'=HYPERLINK", b"")
    assert not any(line[:1] in (b"=", b"+", b"-", b"@", b"\t") for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"))
    assert list(safe["Decision"]) == ["Watch-and-wait", "'" + HOSTILE]
    assert list(safe["Points"]) == ["+12.3", "-5.4"] and list(safe["n"]) == [1, -2]  # numbers read as numbers
    assert list(safe.columns)[-1] == "'" + HOSTILE and list(safe.index) == ["a", "'=1+1"] and safe.index.name == "'=B1"
    assert list(frame["Decision"]) == ["Watch-and-wait", HOSTILE]  # the caller's frame is left as it was


def test_rows_as_st_dataframe_takes_them_are_escaped_too():
    rows = [{"Meeting": "2026-12-03", "Decision": HOSTILE, "By": "Dr A"}]
    safe = tables.safe_frame(rows)
    assert safe.to_dict("records") == [{"Meeting": "2026-12-03", "Decision": "'" + HOSTILE, "By": "Dr A"}]


@pytest.mark.parametrize("text, risky", [
    ("=1+1", True), ("+1+1", True), ("-1+1", True), ("@x", True), ("\tx", True), ("\rx", True),
    ("-", False), ("+", False), ("+12.3", False), ("-5", False), ("-12%", False), ("4.5e-3", False), ("-.5", False),
    ("- see letter", True), ("Watch-and-wait", False), (" =1+1", False), ("'=1+1", False), (12, False), (None, False),
])
def test_what_counts_as_a_formula(text, risky):
    assert tables.formula_risk(text) is risky


def test_text_that_is_not_a_formula_is_shown_as_it_was():
    frame = pd.DataFrame({"a": ["cCR", "near-cCR", "+0.8", "-", "ypT0N0"], "b": [1.5, None, 3.0, 4.0, 5.0]})
    safe = tables.safe_frame(frame)
    pd.testing.assert_frame_equal(safe, frame)


def _dataframe_calls(path: Path) -> list[tuple[int, bool]]:
    """(line, wrapped) for every st.dataframe / st.data_editor call in ``path``: wrapped when its data is a
    safe_frame(...) call."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dataframe", "data_editor"):
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("st", "cols", "c")):
                continue
            data = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "data"), None)
            wrapped = (isinstance(data, ast.Call) and getattr(data.func, "attr", getattr(data.func, "id", "")) == "safe_frame")
            out.append((node.lineno, wrapped))
    return out


def test_every_table_a_screen_shows_goes_through_safe_frame():
    files = sorted(ROOT.glob("components/*.py")) + sorted(ROOT.glob("pages/*.py")) + [ROOT / "app.py"]
    found, bare = 0, []
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        for line, wrapped in _dataframe_calls(f):
            found += 1
            if not wrapped and rel not in PENDING:
                bare.append(f"{rel}:{line}")
    assert found >= 15  # the walk finds the calls (views, pages, the validation report)
    assert bare == [], "st.dataframe without tables.safe_frame: " + ", ".join(bare)


def test_no_screen_offers_a_csv_download_of_its_own_unescaped():
    """The project's own download buttons offer PDF and JSON; a CSV one would have to write through
    watchwait.csvfiles.escape_formulas. Checked by reading every download_button's mime type."""
    for f in sorted(ROOT.glob("components/*.py")) + sorted(ROOT.glob("pages/*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "download_button":
                mime = next((k.value for k in node.keywords if k.arg == "mime"), None)
                text = ast.unparse(mime) if mime is not None else ""
                assert "csv" not in text.lower(), f"{f.name}:{node.lineno} offers a CSV: escape it (escape_formulas)"


def test_a_decision_typed_as_a_formula_reaches_the_cases_tables_escaped(tmp_path, monkeypatch):
    """The issue's case: the Cases screen's decision and audit tables (with their toolbar's "Download as CSV") of a
    decision whose rationale, dissent and recorder read =HYPERLINK(...). Every frame handed to st.dataframe holds it
    escaped, and the toolbar's bytes for it hold no live formula."""
    import datetime as dt

    from apptest_helpers import goto, new_app
    from components import state
    from watchwait.store import Store

    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("WATCHWAIT_DATABASE_URL", url)
    db = Store(url)
    try:
        m = db.create_meeting(dt.date(2026, 12, 1), "Formulas", actor="seed")
        sample = (ROOT / "sample_data" / "sample_patients.csv").read_text(encoding="utf-8").splitlines()
        assert db.import_cases(m.id, ("\n".join(sample[:2]) + "\n").encode(), actor="seed", screen="test").ok
        db.record_decision(m.id, "DEMO-01", pathway="tme", follows_suggestion=False, reason_not_followed=HOSTILE,
                           rationale=HOSTILE, present=[HOSTILE], dissent="@SUM(1+1)", actor=HOSTILE, screen="test",
                           expected_version=None)
    finally:
        db.close()
    at = new_app()
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-01").run()
    at.button(key=state.cases_key("open_button")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    frames = [d.value for d in at.dataframe]
    decisions = next(f for f in frames if "Rationale" in f.columns)
    assert decisions["Rationale"].tolist() == ["'" + HOSTILE] and decisions["Dissent"].tolist() == ["'@SUM(1+1)"]
    assert any("'" + HOSTILE in str(v) for f in frames for v in f.to_numpy().ravel())  # it reached the tables
    for f in frames:
        assert live_formulas(f) == [], list(f.columns)
        # no field of the file starts with a formula (a field starts a line or follows a comma, maybe quoted)
        fields = re.findall(rb'(?:^|,)"?([=+@\t\r]|-(?![\d.]))', toolbar_csv(f).removeprefix(b"\xef\xbb\xbf"), re.M)
        assert fields == [], list(f.columns)
    assert b',"\'=HYPERLINK(""http://x"",""y"")",' in toolbar_csv(decisions)
