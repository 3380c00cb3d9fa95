"""One references registry (issue 9): screens cite the project's documents as clinicians know them (trial,
journal, year), built only from the shared sources; file names, hashes, sections and tags stay in a
technical-details expander."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import watchwait
from apptest_helpers import goto, load_sample, texts
from watchwait import references

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = re.compile(r"\.md\b|\.txt\b|\.csv\b|[0-9a-f]{16}|\b00[012]\b|\btag [VCS]\b|graded S|calibration", re.IGNORECASE)


def _all_sources() -> list[str]:
    out = []
    for name in ("rules_v2.json", "outcomes_v2.json"):
        out += re.findall(r'"source":\s*"([^"]*)"', (ROOT / "watchwait" / "data" / name).read_text(encoding="utf-8"))
    with (ROOT / "watchwait" / "data" / "evidence_trials.csv").open(encoding="utf-8") as fh:
        out += [r["source"] for r in csv.DictReader(fh)]
    return out


def test_every_source_is_shown_without_internal_names():
    sources = _all_sources()
    assert len(sources) > 40
    for s in sources:
        shown = references.plain(s)
        assert not INTERNAL.search(shown), (s, shown)
        assert shown, s
    assert references.plain("review 000, section 5") == "Farooq, Front Oncol 2025, section 5"
    assert references.plain("Williams, Ann Surg 2025, OPRA (calibration.md section 4)") == "Williams, Ann Surg 2025, OPRA"


def test_technical_details_keep_what_the_screen_leaves_out():
    rows = references.technical(["NKI (nki.nl), calibration.md section 5", "000 Table 1", "000 Table 1"])
    assert len(rows) == 2  # one row per distinct source
    assert rows[0]["as recorded in the tool's data"].endswith("calibration.md section 5")
    assert rows[1]["documents"] == "../shared/seeds/000_a364a69b8d3350b5.txt"


def test_citations_are_taken_from_the_shared_files():
    """Nothing invented: the review's authors, journal, year and article number are in its shared copy; the
    protocol and the study, whose shared copies give no journal or year, are cited without one."""
    shared = ROOT / "watchwait"  # documents are named relative to the repository root
    for r in references.REFERENCES:
        path = (shared / r.document).resolve() if r.document.startswith("../../") else (ROOT / r.document).resolve()
        if not path.exists():
            pytest.skip(f"shared documents not beside the checkout ({path})")
    review = (ROOT / references.BY_KEY["review 000"].document).read_text(encoding="utf-8")
    for part in ("Farooq B, Li X, Xiao S and Liu X (2025)", "Front. Oncol. 15:1719642"):
        assert part in review
    protocol = (ROOT / references.BY_KEY["protocol 001"].document).read_text(encoding="utf-8")
    assert "QL1706" in protocol and "Regorafenib" in protocol and "Phase II" in protocol
    assert not re.search(r"(19|20)\d\d", references.BY_KEY["protocol 001"].citation)
    assert not re.search(r"(19|20)\d\d", references.BY_KEY["study 002"].citation)
    study = (ROOT / references.BY_KEY["study 002"].document).read_text(encoding="utf-8")
    assert "real-world data platform" in study


def test_screens_cite_without_file_names_and_keep_details_one_click_away(app, sample_records):
    # a patient whose notices cite the tool's summary of published figures (calibration.md)
    pid = next(p for p, r in sample_records.items()
               if (a := watchwait.assess(r)).in_scope and any("calibration.md" in src for src in
                                                             [f.source for f in a.suggestion.flags] + [a.suggestion.source]))
    load_sample(app, pid)
    for screen in ("assessment", "options"):
        goto(app, screen)
        screen_text = _outside_details(app)
        assert "calibration.md" not in screen_text and "review 000" not in screen_text and "protocol 001" not in screen_text
        details = [e for e in app.expander if e.label.startswith("Sources: technical details")]
        assert details, screen
        table = [d.value for d in app.dataframe if "as recorded in the tool's data" in d.value.columns]
        assert table and table[0]["as recorded in the tool's data"].str.contains("calibration.md").any()
    goto(app, "evidence")
    shown = next(d.value for d in app.dataframe if "Source" in d.value.columns)
    assert not shown["Source"].str.contains(r"^000 |^001", regex=True).any()
    assert "evidence_trials.csv" not in _outside_details(app) and "evidence_trials.csv" in texts(app)


def _outside_details(app) -> str:
    """Every text on screen except inside the technical-details expander."""
    out = []

    def walk(node):
        if getattr(node, "type", None) == "expander" and str(getattr(node, "label", "")).startswith("Sources: technical"):
            return
        children = getattr(node, "children", None)
        if children:
            for c in children.values():
                walk(c)
        elif isinstance(getattr(node, "value", None), str):
            out.append(node.value)
    walk(app.main)
    return "\n".join(out)
