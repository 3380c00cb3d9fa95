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


def issue_text(issue) -> str:
    """A validator's message as the screen says it: the field named as the form labels it (never the column
    name), codes in words, "a blank cell" as "left blank". The message's own hint on how to enter it is kept."""
    from watchwait.labels import code_text
    from watchwait.schema import BY_NAME

    msg = str(issue.message)
    f = BY_NAME.get(str(getattr(issue, "column", "")))
    if f is None:
        return msg
    if msg.startswith(f.name + " "):
        msg = f.label + msg[len(f.name):]
    if f.kind == "category":
        msg = msg.replace(f.allowed(), "one of " + ", ".join(code_text(f.name, c) for c in f.categories))
    elif f.kind == "boolean":
        msg = msg.replace(f.allowed(), "yes or no")
    return msg.replace("got a blank cell", "it was left blank")
