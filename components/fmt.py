"""How numbers are written on screen (one place, so that tests and screens agree)."""

from __future__ import annotations


def pct(p: float | None) -> str:
    """0.9251 -> '93%' (None -> 'not available')."""
    return "not available" if p is None else f"{100 * p:.0f}%"


def interval(iv: tuple[float, float] | None) -> str:
    """(0.88, 0.954) -> '88% to 95%'."""
    return "not available" if iv is None else f"{100 * iv[0]:.0f}% to {100 * iv[1]:.0f}%"


def out_of_100(p: float) -> int:
    return int(round(100 * p))


def pp(x: float) -> str:
    """Probability points with sign: 10.72 -> '+10.7'."""
    return f"{x:+.1f}"


def level(q: float) -> str:
    return f"{100 * q:.0f}%"
