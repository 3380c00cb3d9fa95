"""One references registry: the citation text clinicians know for every document the rules, the outcome figures
and the evidence table cite, built from the shared sources only (``../shared/seeds``,
``../shared/clinical/calibration.md``, ``evidence_trials.csv``). Where a source's journal or year is not in the
shared files, the citation says only what is there; nothing is invented. Pure: no streamlit.

The data files keep their precise provenance ("review 000", "calibration.md section 6, graded S"): screens show
:func:`plain` and keep :func:`technical` (file names, hashes, sections, evidence grades) for a technical-details
expander.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    key: str  # how the project's files name it
    citation: str  # what the screen says
    document: str  # the shared file it is read from (technical details only)
    what: str


#: Every document the project's sources name, with the citation text clinicians know.
REFERENCES: tuple[Reference, ...] = (
    Reference("review 000", "Farooq B, Li X, Xiao S, Liu X. Front Oncol 2025;15:1719642 (review)",
              "../shared/seeds/000_a364a69b8d3350b5.txt",
              "Review: neoadjuvant therapy for pMMR/MSS locally advanced rectal cancer in the immunotherapy era"),
    Reference("protocol 001", "QL1706 + regorafenib + CAPOX phase II trial protocol (short-course RT, pMMR/MSS LARC)",
              "../shared/seeds/001_c42c20e8de43abc7.txt",
              "Randomised phase II protocol: short-course RT + iparomlimab and tuvonralimab (QL1706) + regorafenib + "
              "CAPOX, induction vs consolidation (no journal or year in the shared copy)"),
    Reference("study 002", "real-world data platform study (multi-omics prediction for watch-and-wait)",
              "../shared/seeds/002_52d3121680c8e2af.txt",
              "Real-world data platform study protocol: eligibility and the multimodal predictor (no journal or year "
              "in the shared copy)"),
    Reference("calibration.md", "this tool's summary of published figures",
              "../shared/clinical/calibration.md",
              "Published figures gathered for the simulator and the rules; tags V (read in the source), C (arithmetic "
              "on read figures), S (secondary or weak source)"),
    Reference("clinical brief", "this tool's clinical brief", "../shared/clinical/brief.md",
              "The clinical rules this tool implements (rules 1-11)"),
    Reference("data dictionary", "this tool's data dictionary", "../shared/spec/data-dictionary.md",
              "The record's fields, their domains and meanings"),
    Reference("evidence table", "trial arms from Farooq, Front Oncol 2025 (Tables 1-2) and the QL1706 protocol",
              "../shared/clinical/evidence_trials.csv", "Trial arms as the review's tables report them"),
)
BY_KEY = {r.key: r for r in REFERENCES}

_REVIEW = "Farooq, Front Oncol 2025"
_PROTOCOL = "QL1706 phase II protocol"
_STUDY = "real-world data platform study"

# (pattern, replacement), applied in order. Only names of the project's documents are rewritten; a citation
# already in the form clinicians know ("Zhou J, Clin Cancer Res 2021") is left as it is.
_PLAIN: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p, re.IGNORECASE), r) for p, r in (
    # a summary graded S (secondary source) says so in words; the grade and the section go to the details
    (r"\s*as summarised in calibration\.md sections? [0-9 ,and]+\(a secondary source, graded S there;\s*([^)]*)\)",
     r" (secondary summary; \1)"),
    (r"\s*\((?:\.\./)?(?:shared/)?(?:clinical/)?calibration\.md\)", ""),
    (r"(?:\.\./)?(?:shared/)?(?:clinical/)?calibration\.md(?! section)", "this tool's summary of published figures"),
    (r"(?:\.\./)?(?:shared/)?(?:clinical/)?brief\.md", "clinical brief"),
    (r"\s*\((?:see )?calibration\.md sections? [0-9 ,and]+\)", ""),
    (r"[,;]?\s*calibration\.md sections? [0-9 ,and]+(?:,\s*tag [VCS])?", ""),
    (r"\s*\((?:[^()]*\b)?evidence_trials\.csv\)", ""),
    (r"\b000_[0-9a-f]{16}\.txt\b", _REVIEW),
    (r"\b001_[0-9a-f]{16}\.txt\b", _PROTOCOL),
    (r"\b002_[0-9a-f]{16}\.txt\b", _STUDY),
    (r"\breview 000\b", _REVIEW),
    (r"\bprotocol 001\b", _PROTOCOL),
    (r"\breal-world data study 002\b", _STUDY),
    (r"\bstudy 002\b", _STUDY),
    (r"^000 (Tables? [0-9-]+)", _REVIEW + r", \1"),
    (r"^001 background$", _PROTOCOL + ", background"),
    (r"^001$", _PROTOCOL),
))


def plain(text: object) -> str:
    """A source (or any text naming one) as the screen says it: the project's documents by the citation
    clinicians know, without file names, hashes, section numbers of the tool's own summary or evidence tags."""
    out = str(text)
    for pattern, repl in _PLAIN:
        out = pattern.sub(repl, out)
    out = re.sub(r"\s+([,;.)])", r"\1", out)
    out = re.sub(r"\(\s*\)", "", out)
    out = re.sub(r"\s{2,}", " ", out).strip(" ;,")
    if str(text)[:1].isupper():
        out = out[:1].upper() + out[1:]
    return out


_MENTIONS = (
    ("review 000", re.compile(r"\breview 000\b|\b000_[0-9a-f]{16}|^000 Table", re.IGNORECASE)),
    ("protocol 001", re.compile(r"\bprotocol 001\b|\b001_[0-9a-f]{16}|^001\b", re.IGNORECASE)),
    ("study 002", re.compile(r"\bstudy 002\b|\b002_[0-9a-f]{16}", re.IGNORECASE)),
    ("calibration.md", re.compile(r"calibration\.md", re.IGNORECASE)),
    ("clinical brief", re.compile(r"\bclinical brief\b|brief\.md", re.IGNORECASE)),
    ("data dictionary", re.compile(r"\bdata dictionary\b", re.IGNORECASE)),
    ("evidence table", re.compile(r"evidence_trials\.csv", re.IGNORECASE)),
)


def documents(text: object) -> list[Reference]:
    """The project's documents a source names (for the technical details)."""
    s = str(text)
    return [BY_KEY[k] for k, pattern in _MENTIONS if pattern.search(s)]


def technical(sources: Iterable[object]) -> list[dict[str, str]]:
    """One row per distinct source as the data files write it, with the files it points to: what a
    technical-details expander shows (file names, hashes, sections and tags live only there)."""
    rows, seen = [], set()
    for s in sources:
        s = " ".join(str(s).split())
        if not s or s in seen:
            continue
        seen.add(s)
        rows.append({"as shown": plain(s), "as recorded in the tool's data": s,
                     "documents": "; ".join(r.document for r in documents(s)) or "(cited as shown)"})
    return rows
