"""How a model's probability is written, everywhere it is written (screens, case PDF, FHIR text, command line).

A model trained on a cohort of a few thousand patients cannot know that a patient's chance is 100% or 0%: a
probability of 0.9996 printed as "100%" reads as a certainty the model does not have. So a model probability
above 0.995 is written "> 99%" and one below 0.005 "< 1%"; everything else is the rounded whole percentage
(half rounds up: 0.005 -> "1%", 0.125 -> "13%"). An interval says each end the same way ("97% to > 99%"),
and the "out of 100" counts likewise ("more than 99 out of 100", "fewer than 1 out of 100").

Only for the model's outputs (this patient's probability, its interval, the model's baseline, the figures
derived from them). Published rates (a trial's 25.2% regrowth) are measured figures and keep their own
wording. Plain functions, no Streamlit: :mod:`watchwait.present` re-exports them and ``components.fmt`` calls
them, so the screens, :mod:`watchwait.export.pdf`, :mod:`watchwait.export.fhir` and :mod:`watchwait.cli`
write one probability the same way.
"""

from __future__ import annotations

import math

#: Above this a model probability is written "> 99%"; below UNLIKELY, "< 1%" (the ends themselves are 99% and 1%).
CERTAIN = 0.995
UNLIKELY = 0.005


def whole_percent(p: float) -> int:
    """``p`` as a whole percentage from 1 to 99, half rounding up (0.005 -> 1, 0.994 -> 99, 0.995 -> 99).

    Python's ``round`` rounds half to even and ``f"{x:.0f}"`` inherits the binary error of ``100 * p``; this is
    the one rounding every text here uses, clamped so that it never says 0 or 100."""
    n = math.floor(100 * float(p) + 0.5 + 1e-9)
    return min(max(n, 1), 99)


def _side(p: float) -> int:
    """-1 below 0.005, +1 above 0.995, else 0."""
    p = float(p)
    if p > CERTAIN:
        return 1
    if p < UNLIKELY:
        return -1
    return 0


def percent(p: float) -> str:
    """A model probability as a clinician reads it: 0.9996 -> "> 99%", 0.0004 -> "< 1%", 0.374 -> "37%"."""
    side = _side(p)
    if side > 0:
        return "> 99%"
    if side < 0:
        return "< 1%"
    return f"{whole_percent(p)}%"


def interval(lo: float, hi: float) -> str:
    """A model probability's interval: (0.97, 0.9996) -> "97% to > 99%"; both ends above 0.995 -> "> 99% (both
    ends)" (likewise below 0.005), never "> 99% to > 99%"."""
    a, b = percent(lo), percent(hi)
    if a == b and _side(lo) != 0:
        return f"{a} (both ends)"
    return f"{a} to {b}"


def count(p: float, complement: bool = False) -> str:
    """How many of 100 patients, for a model probability: 0.374 -> "37", 0.9996 -> "more than 99", 0.0004 ->
    "fewer than 1". Read with "out of 100" or "in 100". ``complement``: the others of the same 100 (0.374 ->
    "63", so that the two counts add up to 100; 0.9996 -> "fewer than 1")."""
    side = _side(p) * (-1 if complement else 1)
    if side > 0:
        return "more than 99"
    if side < 0:
        return "fewer than 1"
    n = whole_percent(p)
    return str(100 - n if complement else n)


def about(p: float, complement: bool = False) -> str:
    """:func:`count` with "about" where the count is a rounded figure: "about 37", "more than 99", "fewer than 1"."""
    return count(p, complement) if _side(p) else "about " + count(p, complement)


def in_100(p: float, complement: bool = False) -> str:
    """"about 37 in 100", "more than 99 in 100", "fewer than 1 in 100"."""
    return f"{about(p, complement)} in 100"


def count_range(lo: float, hi: float, complement: bool = False) -> str:
    """An interval as counts of 100: (0.97, 0.9996) -> "97 to more than 99"; ``complement``: the others' range
    (the same interval -> "fewer than 1 to 3")."""
    if complement:
        a, b, edge = count(hi, True), count(lo, True), _side(hi)
    else:
        a, b, edge = count(lo), count(hi), _side(lo)
    if a == b and edge != 0:
        return f"{a} (both ends)"
    return f"{a} to {b}"


def icons(p: float) -> int:
    """How many of the 100 icons of an icon array are filled for ``p``: the whole count, 0 to 100 (a picture of
    100 patients has no room for "more than 99"; its legend says the words of :func:`count`)."""
    side = _side(p)
    return whole_percent(p) if side == 0 else (100 if side > 0 else 0)
