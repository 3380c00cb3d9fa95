"""Published trial arms next to the suggestion: rates with Wilson intervals, and which arms match a patient.

The table is ``data/evidence_trials.csv`` (a byte-for-byte copy of ../shared/clinical/evidence_trials.csv:
every arm of the review's Tables 1-2 and of protocol 001). Its ``immunotherapy`` column names drugs;
the data dictionary names drug classes. :data:`DRUG_CLASS` maps one onto the other:

| drug in the table | data-dictionary ``immunotherapy`` | why |
|---|---|---|
| nivolumab, pembrolizumab, toripalimab, sintilimab, tislelizumab, camrelizumab, "PD-1" | ``anti_pd1`` | anti-PD-1 antibodies |
| durvalumab, avelumab, atezolizumab, envafolimab | ``anti_pdl1`` | anti-PD-L1 antibodies (envafolimab: subcutaneous single-domain anti-PD-L1) |
| iparomlimab-tuvonralimab (QL1706), ipilimumab + nivolumab | ``pd1_ctla4`` | PD-1/CTLA-4 bispecific or combination (data dictionary) |
| none | ``none`` | |

An arm *matches a patient's regimen* (``match == "same regimen"``) when radiotherapy, sequence and
immunotherapy class are equal, the systemic chemotherapy is compatible and regorafenib is given in both
or neither. Chemotherapy is compatible when equal, or when the arm lists only capecitabine (or nothing)
and the patient had no systemic chemotherapy or capecitabine: in the long-course arms capecitabine is
the radiosensitiser, which the data dictionary does not count as systemic chemotherapy. An arm is
*similar* when radiotherapy and immunotherapy class are equal. A blank patient field matches nothing.

The confidence interval of an arm's rate is the Wilson score interval (95%) with the reported rate as
the proportion and ``n_arm`` patients; arms without ``n_arm`` get none.

Each rate is of the arm's own ``endpoint`` (pCR, cCR, CR, cCR+ncCR, pCR/cCR), as reported; nothing here
relabels it. ``preservation_pct`` is *not* uniformly organ preservation: ``preservation_definition`` (text)
says what it measures (anal/sphincter preservation, or the review's Table 1 "organ preservation rate",
whose definitions vary). :func:`load_trials` refuses a table with a preservation figure and no definition.

Pure: no streamlit; plain pandas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import pandas as pd

DRUG_CLASS: dict[str, str] = {
    "none": "none",
    "nivolumab": "anti_pd1",
    "pembrolizumab": "anti_pd1",
    "toripalimab": "anti_pd1",
    "sintilimab": "anti_pd1",
    "tislelizumab": "anti_pd1",
    "camrelizumab": "anti_pd1",
    "pd-1": "anti_pd1",
    "durvalumab": "anti_pdl1",
    "avelumab": "anti_pdl1",
    "atezolizumab": "anti_pdl1",
    "envafolimab": "anti_pdl1",
    "iparomlimab-tuvonralimab": "pd1_ctla4",
    "iparomlimab-tuvonralimab (pd-1/ctla-4)": "pd1_ctla4",
    "ql1706": "pd1_ctla4",
    "ipilimumab + nivolumab": "pd1_ctla4",
}

CLASS_LABELS = {"none": "no immunotherapy", "anti_pd1": "anti-PD-1", "anti_pdl1": "anti-PD-L1", "pd1_ctla4": "PD-1/CTLA-4"}
MATCH_SAME = "same regimen"
MATCH_SIMILAR = "similar"
Z95 = 1.959963984540054


def drug_class(drug: object) -> str:
    """Data-dictionary immunotherapy class of a drug named in the evidence table (blank = none).

    Raises ``KeyError`` for a drug missing from :data:`DRUG_CLASS`, so that a new arm cannot be
    silently left unmatched.
    """
    if drug is None or (isinstance(drug, float) and math.isnan(drug)) or str(drug).strip() == "":
        return "none"
    key = str(drug).strip().lower()
    if key not in DRUG_CLASS:
        raise KeyError(f"immunotherapy drug {drug!r} is not in watchwait.evidence.DRUG_CLASS; add its class there.")
    return DRUG_CLASS[key]


def wilson_interval(rate_pct: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (in percent) for a proportion ``rate_pct``/100 observed in ``n`` patients."""
    if not n or n <= 0 or rate_pct is None or math.isnan(rate_pct) or math.isnan(n):
        raise ValueError(f"n must be a positive number of patients and rate_pct a percentage; got n={n!r}, rate_pct={rate_pct!r} instead.")
    p = rate_pct / 100.0
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


@lru_cache(maxsize=1)
def _raw_trials() -> pd.DataFrame:
    with resources.files("watchwait").joinpath("data/evidence_trials.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def load_trials() -> pd.DataFrame:
    """The evidence table, typed, with ``immunotherapy_class``, ``ci_low``/``ci_high`` (percent, NaN where
    n is unknown or no rate is reported), ``regorafenib`` and a readable ``arm_label``.

    ``preservation_pct`` is a float (NaN where not reported); ``preservation_definition`` stays text (blank
    where no figure is reported). Raises ``ValueError`` if an arm has a preservation figure but no definition.
    """
    raw = _raw_trials().copy()
    df = raw.copy()
    for col in ("n_arm", "rate_pct", "preservation_pct", "n_total", "year"):
        df[col] = pd.to_numeric(raw[col].where(raw[col].str.strip() != "", None), errors="coerce").astype("float64")
    df["preservation_definition"] = raw["preservation_definition"].fillna("").astype(str).str.strip()
    check_preservation_defined(df)
    df["immunotherapy_class"] = [drug_class(d) for d in raw["immunotherapy"]]
    df["regorafenib"] = raw["other_agent"].str.lower().str.contains("regorafenib")
    lows, highs = [], []
    for rate, n in zip(df["rate_pct"], df["n_arm"]):
        if math.isnan(rate) or math.isnan(n):
            lows.append(math.nan)
            highs.append(math.nan)
        else:
            lo, hi = wilson_interval(rate, n)
            lows.append(lo)
            highs.append(hi)
    df["ci_low"] = lows
    df["ci_high"] = highs
    df["arm_label"] = [_arm_label(r) for r in df.to_dict(orient="records")]
    return df


def check_preservation_defined(arms: pd.DataFrame) -> None:
    """Raise ``ValueError`` if any arm has a ``preservation_pct`` without a ``preservation_definition``: the
    figure means anal/sphincter preservation in some trials and organ preservation in others."""
    undefined = arms["preservation_pct"].notna() & (arms["preservation_definition"].fillna("").astype(str).str.strip() == "")
    if undefined.any():
        bad = "; ".join(f"{r['study']} ({r['arm']})" for r in arms[undefined].to_dict(orient="records"))
        raise ValueError(f"preservation_pct without a preservation_definition for: {bad}. "
                         "Say what the figure measures (anal/sphincter or organ preservation) in evidence_trials.csv.")


def _arm_label(row: Mapping[str, object]) -> str:
    drug = str(row["immunotherapy"]).strip() or "none"
    parts = [str(row["rt"])] + ([str(row["sequence"])] if row["sequence"] not in ("", "none") else [])
    systemic = [x for x in (None if drug == "none" else drug.split(" (")[0], str(row["chemotherapy"]).strip(), str(row["other_agent"]).strip()) if x]
    parts.append(" + ".join(systemic) if systemic else "no systemic therapy")
    return f"{row['study']}: " + ", ".join(parts)


def _chemo_compatible(arm_chemo: str, patient_chemo: object) -> bool:
    if patient_chemo is None:
        return False
    arm = (arm_chemo or "").strip()
    if arm in ("", "capecitabine"):
        return patient_chemo in ("none", "capecitabine")
    return arm == patient_chemo


def match_level(arm: Mapping[str, object], record: Mapping[str, object]) -> str:
    """``"same regimen"``, ``"similar"`` or ``""`` (see the module docstring)."""
    rt, seq, imm = record.get("rt_schedule"), record.get("sequence"), record.get("immunotherapy")
    if rt is None or imm is None or arm["rt"] != rt or arm["immunotherapy_class"] != imm:
        return ""
    rego = record.get("regorafenib")
    same = (seq is not None and arm["sequence"] == seq and _chemo_compatible(str(arm["chemotherapy"]), record.get("chemotherapy"))
            and rego is not None and bool(arm["regorafenib"]) == bool(rego))
    return MATCH_SAME if same else MATCH_SIMILAR


def trials_for(record: Mapping[str, object] | None) -> pd.DataFrame:
    """The evidence table with a ``match`` column for this patient's regimen (all ``""`` without a record)."""
    df = load_trials()
    if record is None:
        df["match"] = ""
    else:
        df["match"] = [match_level(r, record) for r in df.to_dict(orient="records")]
    return df


def regimen_text(record: Mapping[str, object]) -> str:
    """The patient's neoadjuvant regimen in words (blank fields said as 'not recorded')."""
    def say(name: str) -> str:
        v = record.get(name)
        return "not recorded" if v is None else str(v)
    imm = record.get("immunotherapy")
    imm_text = "immunotherapy not recorded" if imm is None else CLASS_LABELS.get(str(imm), str(imm))
    rego = record.get("regorafenib")
    rego_text = "" if rego is None else (" + regorafenib" if rego else "")
    return (f"RT {say('rt_schedule')}, sequence {say('sequence')}, {imm_text}, "
            f"chemotherapy {say('chemotherapy')}{rego_text}")


def surveillance_schedule() -> dict:
    """The surveillance schedule watch-and-wait starts (``data/outcomes_v2.json``, with its source), as
    :func:`watchwait.assess` attaches it to a watch-and-wait suggestion; here for every patient."""
    from watchwait.suggest import surveillance_for

    return surveillance_for("watch_and_wait")
