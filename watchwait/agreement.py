"""Does the number agree with the clinical picture? (clinical brief, rule 3, third case)

A clinician reads whole patients. The one-input direction checks hold for the model, yet a whole patient can read
91% with every restaging reading at its worst. Whatever the reason, when the model's probability and the clinical
picture point opposite ways the screen says so, names the inputs that drive the number, says whether they carry
evidence, keeps the headline conditional and marks the model's "out of 100" figures as disputed.

*The picture* is what the published data say about patients with this patient's restaging findings, one reference
per finding that has a published conditional rate (:data:`PICTURES`):

- a positive restaging biopsy: residual tumour (clinical brief, response categories);
- ctDNA detectable at response assessment: almost never in true complete responders (Zhou 2021: none of 29 ypCR);
- a cCR: P(true response | cCR) about 0.81 (OPRA);
- a near-cCR or an incomplete response: P(true response | not cCR) about 0.34 after immunotherapy (TORCH 25/73
  "pseudo-residual") and 0.10 without it (OPRA, as quoted by review 000 section 5); immunotherapy not recorded:
  the higher figure (the notice then fires only where both would).

The most specific finding is the picture: a positive biopsy before ctDNA at assessment before the category (a cCR
with ctDNA detectable at assessment is read by its ctDNA, which rule 3's first case already flags).

*Disagreement*: the probability is at least ``disagree_gap`` (a design choice, rules_v2.json) away from the picture's
published rate; for a positive biopsy (proven residual tumour), at or above the rate of true responders among all
patients short of a cCR (0.34 after immunotherapy, 0.10 without: a design choice, since no source gives P(CR) after a
positive biopsy).

*Drivers* (:func:`drivers`): the modalities other than the restaging readings (they are the picture) whose contributions push the number away from the picture by at least
:data:`DRIVER_MIN_POINTS`, each with what it is worth on its own: the branch's held-out AUC alone from the model card
(among held-out patients with that branch's data where the card has it). A branch below :data:`NEAR_CHANCE_AUC`
on its own is named as near chance: it cannot drive a patient tens of points without being said to carry little
evidence.

Pure: NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from watchwait.derive import equals, present
from watchwait.probtext import interval as interval_text, percent

#: Contributions smaller than this (probability points) are not named as drivers (design choice of this tool).
DRIVER_MIN_POINTS = 5.0
#: A branch whose held-out AUC alone is below this is "near chance" (design choice of this tool: 0.5 is chance,
#: the weakest published single signal in calibration.md, cCR criteria for pCR, is 0.55-0.64).
NEAR_CHANCE_AUC = 0.60
DESIGN_CHOICES = (f"drivers named from {DRIVER_MIN_POINTS:g} probability points; a branch is near chance below a "
                  f"held-out AUC of {NEAR_CHANCE_AUC:.2f} on its own (design choices of this tool, not published "
                  "cut-offs)")


#: What the MDT does before a cCR whose number is low: the same words as FLAG-cCR-low-p's condition, so that the
#: headline says it once (tests/unit/test_agreement.py checks they stay the same).
CCR_CONDITION = "a repeat local assessment (biopsy, MRI, endoscopy) confirms the complete response"
GENERIC_CONDITION = "the MDT has weighed why the model's number ({p}) and the clinical picture disagree"
#: A response short of a cCR read high with ctDNA cleared: what FLAG-pseudo-residual asks for, in its words (said once).
PSEUDO_RESIDUAL_CONDITION = "re-assessment in 6-12 weeks has been considered (possible pseudo-residual disease)"


@dataclass(frozen=True)
class Picture:
    key: str
    words: str  # the finding, as the notice names it
    rate: float  # published P(true complete response | this finding)
    rate_text: str  # the rate in words, with its population
    source: str
    condition: str = GENERIC_CONDITION  # what the headline asks for first ("{p}": the probability in %)


PICTURES = {
    "biopsy_positive": Picture(
        "biopsy_positive", "a positive restaging biopsy", 0.0,
        "a positive restaging biopsy means residual tumour", "Clinical brief, response categories"),
    "ctdna_detected": Picture(
        "ctdna_detected", "ctDNA detectable at response assessment", 0.0,
        "none of 29 patients with a pathological complete response had detectable ctDNA before surgery",
        "Zhou, Clin Cancer Res 2021 (calibration.md section 2)"),
    "ccr": Picture(
        "ccr", "a clinical complete response", 0.81,
        "about 81 in 100 patients with a cCR are true responders (OPRA)",
        "OPRA, ASCO GI abstract 28 (calibration.md section 4)", CCR_CONDITION),
    "not_ccr_ici": Picture(
        "not_ccr_ici", "a response short of a cCR after immunotherapy", 0.34,
        "about 34 in 100 patients without a cCR after immunotherapy were complete responders "
        "(TORCH, 25 of 73: pseudo-residual disease)",
        "Review 000, section 5 (TORCH 34.2% vs OPRA 10%); calibration.md section 4"),
    "not_ccr_no_ici": Picture(
        "not_ccr_no_ici", "a response short of a cCR without immunotherapy", 0.10,
        "about 10 in 100 patients without a cCR after treatment without immunotherapy were complete responders (OPRA)",
        "Review 000, section 5 (OPRA 10%); calibration.md section 4"),
    "not_ccr_ici_unknown": Picture(
        "not_ccr_ici_unknown", "a response short of a cCR (immunotherapy not recorded)", 0.34,
        "between 10 and 34 in 100 patients without a cCR were complete responders (OPRA without immunotherapy, "
        "TORCH with it); the higher figure is used",
        "Review 000, section 5 (TORCH 34.2% vs OPRA 10%); calibration.md section 4"),
}


def pictures(ctx: Mapping[str, np.ndarray], n: int) -> list[list[Picture]]:
    """Per row: every finding of the patient that has a published rate, most specific first (module docstring)."""
    cat = np.asarray(ctx["category"], dtype=object)
    biopsy = np.asarray(ctx.get("biopsy_positive", np.zeros(n)), dtype=float) == 1
    c3 = np.asarray(ctx.get("ctdna_post_treatment_mtm_ml", np.full(n, np.nan)), dtype=float)
    with np.errstate(invalid="ignore"):
        detected = c3 > 0
    imm = np.asarray(ctx.get("immunotherapy", np.full(n, None, dtype=object)), dtype=object)
    ici_known = present(imm)
    no_ici = equals(imm, "none")
    out: list[list[Picture]] = []
    for i in range(n):
        row = []
        if biopsy[i]:
            row.append(PICTURES["biopsy_positive"])
        if detected[i]:
            row.append(PICTURES["ctdna_detected"])
        if cat[i] == "cCR":
            row.append(PICTURES["ccr"])
        elif cat[i] in ("near-cCR", "incomplete"):
            row.append(PICTURES["not_ccr_no_ici" if no_ici[i] else "not_ccr_ici" if ici_known[i] else "not_ccr_ici_unknown"])
        out.append(row)
    return out


def context(ctx: Mapping[str, np.ndarray], gap: float, n: int, p_high: float = np.inf) -> dict[str, np.ndarray]:
    """The rule context of the disagreement, per row: ``number_picture_disagree`` (1/0; NaN without a probability),
    ``picture_words``, ``picture_rate`` (the published rate), ``picture_rate_text``,
    ``picture_condition`` (what the headline asks for first: for a cCR the repeat assessment FLAG-cCR-low-p asks
    for, said once; otherwise that the MDT has weighed the disagreement) and ``number_direction`` ("higher"/"lower": where the
    number lies from the picture's rate)."""
    p = np.asarray(ctx["p"], dtype=float)
    flag = np.where(np.isnan(p), np.nan, 0.0)
    words = np.full(n, "", dtype=object)
    rate_text = np.full(n, "", dtype=object)
    direction = np.full(n, "", dtype=object)
    rate = np.full(n, np.nan)
    condition = np.full(n, "", dtype=object)
    cleared = np.asarray(ctx.get("ctdna_cleared", np.full(n, np.nan)), dtype=float) == 1
    for i, row in enumerate(pictures(ctx, n)):
        if np.isnan(p[i]) or not row:
            continue
        pic = row[0]  # the most specific finding
        if pic.key == "biopsy_positive" and len(row) > 1:
            # proven residual tumour: a number above the rate of true responders among all patients short of a cCR
            # (the category's own picture, next in the row) contradicts it, whatever the gap
            disagree = p[i] >= row[-1].rate
        else:
            disagree = abs(p[i] - pic.rate) >= gap - 1e-12
        if disagree:
            flag[i] = 1.0
            words[i], rate_text[i], rate[i] = pic.words, pic.rate_text, pic.rate
            condition[i] = pic.condition.format(p=percent(p[i]))  # never "100%" for a model output
            if pic.key.startswith("not_ccr") and p[i] >= p_high and cleared[i]:  # FLAG-pseudo-residual fires
                condition[i] = PSEUDO_RESIDUAL_CONDITION  # rule 3's second case already names the likely reason
            direction[i] = "higher" if p[i] > pic.rate else "lower"
    return {"number_picture_disagree": flag, "picture_words": words, "picture_rate_text": rate_text,
            "picture_rate": rate, "number_direction": direction,
            "picture_condition": condition}


RULE_ID = "FLAG-number-vs-picture"
DISPUTED = ("Disputed: the model's number and the clinical picture disagree (the caution that begins \"The model "
            "reads\" names what drives the number)")
DISPUTED_SHORT = "Disputed: the number and the clinical picture disagree (caution above)."


def is_disputed(suggestion) -> bool:
    """The model's figures for this patient are disputed: ``FLAG-number-vs-picture`` fired (brief rule 3)."""
    return any(n.rule_id == RULE_ID for n in getattr(suggestion, "flags", []) or [])


@dataclass(frozen=True)
class Driver:
    modality: str
    label: str  # the modality in words
    points: float  # its contribution, probability points (signed)
    auc_alone: float | None  # the branch's held-out AUC on its own
    auc_population: str  # who that AUC was measured in
    near_chance: bool
    features: tuple[str, ...]  # its largest contributions, in words

    def text(self) -> str:
        head = f"{self.label} {self.points:+.0f} points"
        if self.features:
            head += f" ({', '.join(self.features)})"
        if self.auc_alone is None:
            return head + ": the model card gives no figure for this branch on its own"
        said = f"on its own this branch's held-out AUC is {self.auc_alone:.2f}{self.auc_population}"
        if self.near_chance:
            return head + f": {said}, near chance, so this push carries little evidence"
        return head + f": {said}"


def branch_auc(card: Mapping, modality: str) -> tuple[float | None, str]:
    """The branch's held-out AUC alone from the model card, and who it was measured in (among held-out patients with
    the branch's data when the card has that figure)."""
    m = (card.get("metrics_held_out") or {}).get(f"{modality}_only") or {}
    if m.get("auc_with_data") is not None:
        n = m.get("n_with_data")
        return float(m["auc_with_data"]), (f", among {n:,} held-out patients with these data" if n else
                                           ", among held-out patients with these data")
    if m.get("auc") is not None:
        return float(m["auc"]), ""
    return None, ""


def drivers(p: float, rate: float, modality_contributions: Mapping[str, Mapping], contributions, card: Mapping,
            labels: Mapping[str, str]) -> tuple[list[Driver], float | None]:
    """The modalities pushing ``p`` away from the picture's ``rate`` (largest first), and what the restaging readings
    themselves contribute (probability points; None when the model has no restaging branch)."""
    sign = 1.0 if p > rate else -1.0
    out = []
    for m, d in modality_contributions.items():
        pts = float(d.get("shap_pp", 0.0))
        if m == "restaging" or d.get("missing") or sign * pts < DRIVER_MIN_POINTS:
            continue
        auc, who = branch_auc(card, m)
        feats = [c for c in contributions if c.modality == m and sign * c.shap_pp >= 1.0][:2]
        out.append(Driver(modality=m, label=labels.get(m, m), points=pts, auc_alone=auc, auc_population=who,
                          near_chance=auc is not None and auc < NEAR_CHANCE_AUC,
                          features=tuple(f"{c.label} {c.shap_pp:+.0f}" for c in feats)))
    out.sort(key=lambda d: -abs(d.points))
    restaging = modality_contributions.get("restaging")
    return out, (None if restaging is None else float(restaging.get("shap_pp", 0.0)))


def explanation(p: float, interval: tuple[float, float], words: str, rate_text: str, found: list[Driver],
                restaging_points: float | None, non_shedder: bool) -> str:
    """The notice's message: the number, the picture with its published rate, the drivers with their evidence."""
    lo, hi = interval
    parts = [f"The model reads {percent(p)} (interval {interval_text(lo, hi)}), but the clinical picture, {words}, points "
             f"the other way: {rate_text}."]
    if found:
        parts.append("What drives the number: " + "; ".join(d.text() for d in found) + ".")
    else:
        parts.append(f"No single group of inputs moves it {DRIVER_MIN_POINTS:g} points or more: the number comes from "
                     "many small contributions.")
    if restaging_points is not None:
        parts.append(f"The restaging readings themselves move it {restaging_points:+.1f} points.")
    if non_shedder and any(d.modality == "blood" for d in found):
        parts.append("ctDNA was never detected, not even before treatment (a non-shedder): its later 'not detected' "
                     "is not a clearance and says nothing about response.")
    parts.append("The model's 'out of 100' figures for this patient are disputed until the MDT has weighed this.")
    return " ".join(parts)
