"""How numbers are written on screen (one place, so that tests and screens agree)."""

from __future__ import annotations

from watchwait import probtext


def pct(p: float | None) -> str:
    """A model probability: 0.9251 -> '93%', 0.9996 -> '> 99%', 0.0004 -> '< 1%' (None -> 'not available').
    The one rule of :func:`watchwait.present.percent`, so the screens, the PDF and the FHIR text agree."""
    return "not available" if p is None else probtext.percent(p)


def interval(iv: tuple[float, float] | None) -> str:
    """A model probability's interval: (0.88, 0.954) -> '88% to 95%', (0.97, 0.9996) -> '97% to > 99%'."""
    return "not available" if iv is None else probtext.interval(*iv)


def out_of_100(p: float) -> int:
    """Filled icons of 100 for a model probability (0 to 100; the words beside it say "more than 99")."""
    return probtext.icons(p)


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
