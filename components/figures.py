"""Plotly figures, built from plain values (no streamlit here), one function per chart.

Layering as in explainerdashboard: watchwait returns the numbers; :mod:`components.tables` turns them
into the tables shown under each chart; this module draws them; pages render.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from components import palette as pal
from components.fmt import out_of_100
from watchwait import probtext

# ctDNA assay detection limit marked on the trajectory plot: the level below which the synthetic
# cohort reports 0 (watchwait.sim.model, log_lod = log(0.02 MTM/mL), an assumption; the data
# dictionary defines only "0 = tested, not detected"). Set it to your assay's limit.
CTDNA_DETECTION_LIMIT = 0.02
# where a "not detected" (0) value is drawn on the log axis: below the limit, with its own marker
CTDNA_FLOOR = 0.005
TIMEPOINTS = ("C1: before treatment", "C2: after RT", "C3: at assessment")


# Presentation mode: chart text >= 24 px, readable from 3 m on a 1920x1080 shared screen (issue 9); views.chart
# passes theme=None so that Streamlit's theme does not replace these fonts.
LARGE_FONT = 24


def _figure(data: list[dict], large: bool, height: int, showlegend: bool = True, **layout) -> go.Figure:
    """One figure from plain dicts, validated once (about 10x faster than go.Figure + update_* calls,
    which matters for a rerun budget of 150 ms)."""
    base = dict(
        height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=showlegend,
        font=dict(size=LARGE_FONT if large else 14, color=pal.BLACK), paper_bgcolor="white", plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0))
    base.update(layout)
    for axis in ("xaxis", "yaxis"):  # without Streamlit's theme nothing makes room for tick labels and titles
        if isinstance(base.get(axis), dict) and base[axis].get("visible", True):
            base[axis] = {"automargin": True, **base[axis]}
    return go.Figure({"data": data, "layout": base})


# ----------------------------------------------------------------------------- icon array

def icon_array(p: float, interval: tuple[float, float], large: bool = False) -> go.Figure:
    """100 patients like this one: filled = complete response; ringed = the range of the interval."""
    n = out_of_100(p)
    lo, hi = out_of_100(interval[0]), out_of_100(interval[1])
    groups: dict[str, list[int]] = {"cr": [], "no": []}
    for i in range(100):
        groups["cr" if i < n else "no"].append(i)
    band = [i for i in range(100) if lo <= i < hi]

    def xy(idx: Sequence[int]):
        return [i % 10 for i in idx], [9 - i // 10 for i in idx]

    size = 21 if large else 20
    data = []
    x, y = xy(groups["cr"])
    data.append(dict(type="scatter", x=x, y=y, mode="markers", name=f"complete response: {probtext.count(p)}", hoverinfo="skip",
                     marker=dict(symbol="circle", size=size, color=pal.COMPLETE, line=dict(width=0))))
    x, y = xy(groups["no"])
    data.append(dict(type="scatter", x=x, y=y, mode="markers", name=f"residual tumour: {probtext.count(p, complement=True)}",
                     hoverinfo="skip",
                     marker=dict(symbol="circle-open", size=size, color=pal.NOT_COMPLETE, line=dict(width=3))))
    x, y = xy(band)
    data.append(dict(type="scatter", x=x, y=y, mode="markers", name=f"interval: {probtext.count_range(*interval)}",
                     hoverinfo="skip",
                     marker=dict(symbol="square-open", size=size + 8, color=pal.INTERVAL, line=dict(width=2.5))))
    return _figure(data, large, 320 if large else 330,
                   xaxis=dict(visible=False, range=[-0.6, 9.6], fixedrange=True),
                   yaxis=dict(visible=False, range=[-0.6, 9.6], fixedrange=True, scaleanchor="x"))


def option_icons(n: int, band: tuple[int, int] | None = None, large: bool = False) -> go.Figure:
    """One figure of an option as 100 patients: ``n`` filled, the rest open, the interval ringed."""
    filled = list(range(n))
    rest = list(range(n, 100))

    def xy(idx: Sequence[int]):
        return [i % 10 for i in idx], [9 - i // 10 for i in idx]

    size = 17 if large else 13
    data = []
    x, y = xy(filled)
    data.append(dict(type="scatter", x=x, y=y, mode="markers", name=f"{n}", hoverinfo="skip",
                     marker=dict(symbol="circle", size=size, color=pal.COMPLETE, line=dict(width=0))))
    x, y = xy(rest)
    data.append(dict(type="scatter", x=x, y=y, mode="markers", name=f"{100 - n}", hoverinfo="skip",
                     marker=dict(symbol="circle-open", size=size, color=pal.NOT_COMPLETE, line=dict(width=2))))
    if band is not None:
        x, y = xy([i for i in range(100) if band[0] <= i < band[1]])
        data.append(dict(type="scatter", x=x, y=y, mode="markers", name="interval", hoverinfo="skip",
                         marker=dict(symbol="square-open", size=size + 6, color=pal.INTERVAL, line=dict(width=2))))
    return _figure(data, large, 250 if large else 190, showlegend=False, margin=dict(l=4, r=4, t=4, b=4),
                   xaxis=dict(visible=False, range=[-0.6, 9.6], fixedrange=True),
                   yaxis=dict(visible=False, range=[-0.6, 9.6], fixedrange=True, scaleanchor="x"))


# ----------------------------------------------------------------------------- SHAP

#: Where the waterfall's probability axis has a labelled grid line (the odds scale spreads the ends out).
WATERFALL_TICKS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def waterfall(rows: pd.DataFrame, p: float, large: bool = False,
              start_label: str = "Average patient (model baseline)", hover: Sequence[str] | None = None) -> go.Figure:
    """Horizontal waterfall from the model's baseline to this patient, on the model's own scale.

    ``rows``: columns ``bar`` (label with the patient's value), ``shap_pp`` and ``shap_logit``, largest |shap_pp| first
    (see :func:`components.tables.waterfall_rows`); ``p`` is this patient's probability. The starting point is the
    model's average patient with any not-tested modality folded in: ``p``'s log-odds less the bars'.

    The model adds its contributions in log-odds; a running total in probability points (the contributions rescaled
    to add up to p - p_base) can pass below 0% or above 100% part-way, which no probability does. So the bars are
    laid on the log-odds scale, where they add up exactly, and the axis is labelled in probability: every point of
    it, the running total included, is a probability between 0% and 100%, and the ends are spread out (99% and
    99.9% apart). A bar's length is its contribution (proportional to its points, the same factor for every bar);
    its number is its points, as in the tables. The first and last bars are drawn from the axis's left edge.
    """
    steps = [float(v) for v in rows["shap_logit"]]
    end = _logit(p)
    start = end - sum(steps)  # the model's baseline (with what was not tested) on its own scale: exact
    path = [start]
    for v in steps:
        path.append(path[-1] + v)
    path.append(end)
    room = 1.6 if large else 1.1  # for the numbers printed beyond the longest bar
    edge = min(min(path), _logit(0.01)) - 0.4
    right = max(max(path), _logit(0.99)) + room
    labels = [start_label] + list(rows["bar"]) + ["This patient"]
    # the axis's zero is its left edge: the first bar and the total are drawn from there
    x = [start - edge] + steps + [end - edge]
    measure = ["absolute"] + ["relative"] * len(rows) + ["total"]
    text = [probtext.percent(_expit(start))] + [f"{v:+.1f}" for v in rows["shap_pp"]] + [probtext.percent(p)]
    # a lowering bar that ends near the left edge would print its value over the edge: inside it instead
    where = ["outside"] + ["inside" if v < 0 and stop - edge < 1.0 and -v >= 0.35 else "outside"
                           for v, stop in zip(steps, path[1:-1])] + ["outside"]
    trace = dict(
        type="waterfall", orientation="h", y=labels, x=x, measure=measure, text=text, textposition=where,
        insidetextfont=dict(color=pal.BLACK), insidetextanchor="middle", constraintext="none",
        increasing=dict(marker=dict(color=pal.RAISES)), decreasing=dict(marker=dict(color=pal.LOWERS)),
        totals=dict(marker=dict(color=pal.GREY)), connector=dict(line=dict(color=pal.LIGHT_GREY, width=1)),
        cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>")
    if hover is not None:  # the technical name, one hover away
        trace["customdata"] = [""] + list(hover) + [""]
        trace["hovertemplate"] = "%{y}: %{text}<br>%{customdata}<extra></extra>"
    ticks = [t for t in WATERFALL_TICKS if 0 <= _logit(t) - edge <= right - edge]
    per_row = (40 if large else 26) + max(str(b).count("<br>") for b in labels) * (14 if large else 8)
    return _figure([trace], large, 90 + per_row * len(labels), showlegend=False,
                   yaxis=dict(autorange="reversed", automargin=True),
                   xaxis=dict(title=dict(text="probability of complete response, on the odds scale: blue raises it, "
                                              "vermillion lowers it"),
                              range=[0, right - edge], tickvals=[_logit(t) - edge for t in ticks],
                              ticktext=[f"{100 * t:g}%" for t in ticks], gridcolor=pal.LIGHT_GREY, zeroline=False))


def modality_bars(rows: pd.DataFrame, large: bool = False) -> go.Figure:
    """Per-modality sum of contributions (probability points); a modality whose inputs are all blank is hatched
    and says so (its blanks still move the model: that is what 'not available' contributes)."""
    colours = [pal.RAISES if v >= 0 else pal.LOWERS for v in rows["shap_pp"]]
    patterns = ["/" if m else "" for m in rows["missing"]]
    text = [f"{v:+.1f} (all inputs blank)" if m else f"{v:+.1f}" for v, m in zip(rows["shap_pp"], rows["missing"])]
    trace = dict(type="bar", orientation="h", y=list(rows["modality"]), x=list(rows["shap_pp"]),
                 marker=dict(color=colours, pattern=dict(shape=patterns, fgcolor="white", solidity=0.35)),
                 text=text, textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{text}<extra></extra>")
    span = max(5.0, float(rows["shap_pp"].abs().max() or 0) * (1.9 if rows["missing"].any() else 1.35))
    return _figure([trace], large, 90 + (34 if large else 28) * len(rows), showlegend=False,
                   yaxis=dict(autorange="reversed", automargin=True),
                   xaxis=dict(title=dict(text="probability points"), range=[-span, span], zeroline=True,
                              zerolinecolor=pal.BLACK, gridcolor=pal.LIGHT_GREY))


# ----------------------------------------------------------------------------- trajectories

def _hline(y: float, dash: str) -> dict:
    return dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(color=pal.BLACK, dash=dash, width=2))


def ctdna_trajectory(values: Sequence[float | None], large: bool = False) -> go.Figure:
    """ctDNA (MTM/mL) at C1-C3 on a log axis; 0 (not detected) drawn at a floor below the detection limit,
    with its own marker and axis label; a blank (not tested) timepoint is not drawn and says so."""
    xs = list(TIMEPOINTS)
    known = [(x, v) for x, v in zip(xs, values) if v is not None]
    det = [(x, v) for x, v in known if v > 0]
    nd = [(x, v) for x, v in known if v == 0]
    data = []
    if known:
        data.append(dict(type="scatter", x=[x for x, _ in known], y=[max(v, CTDNA_FLOOR) for _, v in known], mode="lines",
                         line=dict(color=pal.BLUE, width=3), showlegend=False, hoverinfo="skip"))
    data.append(dict(type="scatter", x=[x for x, _ in det], y=[v for _, v in det], mode="markers+text", name="detected (MTM/mL)",
                     text=[f"{v:g}" for _, v in det], textposition="middle right",
                     marker=dict(symbol="circle", size=16 if large else 12, color=pal.BLUE)))
    data.append(dict(type="scatter", x=[x for x, _ in nd], y=[CTDNA_FLOOR] * len(nd), mode="markers",
                     name="0 = tested, not detected (drawn below the limit)",
                     marker=dict(symbol="triangle-down-open", size=18 if large else 14, color=pal.VERMILLION, line=dict(width=3))))
    top = max([v for _, v in det] + [1.0])
    # a timepoint not tested says so under its own axis label (an annotation in the plot ran across the line)
    ticks = [x + ("<br><b>not tested</b>" if v is None else "") for x, v in zip(xs, values)]
    decades = [10.0 ** k for k in range(-1, int(math.ceil(math.log10(top))) + 1)]
    return _figure(
        data, large, 440 if large else 340, shapes=[_hline(CTDNA_DETECTION_LIMIT, "dash")],
        annotations=[dict(x=1, xref="paper", xanchor="right", y=math.log10(CTDNA_DETECTION_LIMIT), yanchor="bottom",
                          showarrow=False, text="detection limit (assumed)")],
        yaxis=dict(type="log", title=dict(text="ctDNA (MTM/mL, log scale)"), gridcolor=pal.LIGHT_GREY,
                   range=[math.log10(CTDNA_FLOOR) - 0.3, math.log10(top) + 0.4],
                   tickvals=[CTDNA_FLOOR, CTDNA_DETECTION_LIMIT] + decades,
                   ticktext=["not detected", f"{CTDNA_DETECTION_LIMIT:g}"] + [f"{d:g}" for d in decades]),
        xaxis=dict(type="category", categoryorder="array", categoryarray=xs, range=[-0.3, 2.3], tickvals=xs, ticktext=ticks))


def cea_trajectory(baseline: float | None, post: float | None, large: bool = False) -> go.Figure:
    """CEA (ng/mL) at C1 and C3 (the data dictionary has no CEA after RT, C2); 5 ng/mL marked."""
    xs = list(TIMEPOINTS)
    vals = [baseline, None, post]
    known = [(x, v) for x, v in zip(xs, vals) if v is not None]
    data = [dict(type="scatter", x=[x for x, _ in known], y=[v for _, v in known], mode="lines+markers+text", name="CEA",
                 text=[f"{v:g}" for _, v in known], textposition="top center",
                 line=dict(color=pal.GREEN, width=3), marker=dict(symbol="square", size=14 if large else 11))]
    # a timepoint without a value says so under its own axis label, never across the line
    ticks = [x + ("" if v is not None else "<br><b>not measured</b>" if x == xs[1] else "<br><b>not available</b>")
             for x, v in zip(xs, vals)]
    annotations = [dict(x=1, xref="paper", xanchor="right", y=5.0, yanchor="bottom", showarrow=False,
                            text="5 ng/mL (common upper reference limit)")]
    top = max([v for _, v in known] + [6.0])
    return _figure(data, large, 440 if large else 300, showlegend=False, shapes=[_hline(5.0, "dot")], annotations=annotations,
                   yaxis=dict(title=dict(text="CEA (ng/mL)"), range=[0, top * 1.3], gridcolor=pal.LIGHT_GREY),
                   xaxis=dict(type="category", categoryorder="array", categoryarray=xs, range=[-0.3, 2.3], tickvals=xs,
                              ticktext=ticks))


# ----------------------------------------------------------------------------- evidence

def forest(arms: pd.DataFrame, large: bool = False) -> go.Figure:
    """Reported rate of each trial arm (%), Wilson 95% CI where n is known; matching arms highlighted.

    ``arms`` needs ``arm_label``, ``endpoint``, ``rate_pct``, ``ci_low``, ``ci_high``, ``n_arm``, ``match``.
    """
    df = arms[arms["rate_pct"].notna()].reset_index(drop=True)
    labels = [f"{r.arm_label} [{r.endpoint}]" for r in df.itertuples()]
    styles = {
        "same regimen": ("same regimen as this patient", pal.MATCH_SAME, "diamond", 18),
        "similar": ("similar (same RT and immunotherapy class)", pal.MATCH_SIMILAR, "square", 14),
        "": ("other arms", pal.OTHER, "circle", 11),
    }
    data = []
    for level, (name, colour, symbol, size) in styles.items():
        sub = df[df["match"] == level]
        for with_ci in (True, False):
            part = sub[sub["ci_low"].notna() == with_ci]
            if part.empty:
                continue
            trace = dict(
                type="scatter", x=list(part["rate_pct"]), y=[labels[i] for i in part.index], mode="markers", showlegend=True,
                name=name + ("" if with_ci else ", n not reported (no CI)"),
                marker=dict(symbol=symbol if with_ci else symbol + "-open", size=size + (6 if large else 0), color=colour,
                            line=dict(width=2, color=colour)),
                hovertemplate="%{y}<br>rate %{x:.1f}%<extra></extra>")
            if with_ci:
                trace["error_x"] = dict(type="data", array=list(part["ci_high"] - part["rate_pct"]),
                                        arrayminus=list(part["rate_pct"] - part["ci_low"]), color=colour,
                                        thickness=3 if level else 2, width=6)
            data.append(trace)
    return _figure(data, large, (260 + 38 * len(labels)) if large else (150 + 22 * len(labels)),  # a row per label: plotly hides labels that would overlap
                   yaxis=dict(autorange="reversed", automargin=True, categoryorder="array", categoryarray=labels),
                   xaxis=dict(title=dict(text="reported rate (%) with Wilson 95% CI (open: n not reported)"),
                              range=[0, 100], gridcolor=pal.LIGHT_GREY, dtick=10))


# ----------------------------------------------------------------------------- model card

def calibration(curve: Sequence[dict], large: bool = False) -> go.Figure:
    """Held-out calibration: mean predicted vs observed per bin (marker area ~ n), with the diagonal."""
    xs = [b["mean_predicted"] * 100 for b in curve]
    ys = [b["observed"] * 100 for b in curve]
    ns = [b["n"] for b in curve]
    biggest = max(ns) if ns else 1
    data = [dict(type="scatter", x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
                 line=dict(color=pal.GREY, dash="dash")),
            dict(type="scatter", x=xs, y=ys, mode="markers+lines", name="fused model (held-out bins)",
                 marker=dict(size=[8 + 22 * math.sqrt(n / biggest) for n in ns], color=pal.BLUE),
                 line=dict(color=pal.BLUE), text=[f"n = {n}" for n in ns],
                 hovertemplate="predicted %{x:.0f}%, observed %{y:.0f}%, %{text}<extra></extra>")]
    return _figure(data, large, 420,
                   xaxis=dict(title=dict(text="mean predicted probability (%)"), range=[0, 100], gridcolor=pal.LIGHT_GREY),
                   yaxis=dict(title=dict(text="observed complete response (%)"), range=[0, 100], gridcolor=pal.LIGHT_GREY,
                              scaleanchor="x"))


def scenario_points(rows: pd.DataFrame, large: bool = False) -> go.Figure:
    """What-if: probability and interval of each scenario (rows: name, p, lo, hi in %)."""
    df = rows[rows["p"].notna()]
    trace = dict(type="scatter", x=list(df["p"]), y=list(df["name"]), mode="markers+text",
                 text=[probtext.percent(v / 100) for v in df["p"]], textposition="top center",  # "> 99%", never "100%"
                 error_x=dict(type="data", array=list(df["hi"] - df["p"]), arrayminus=list(df["p"] - df["lo"]), color=pal.BLUE,
                              thickness=3, width=8),
                 marker=dict(size=16, color=pal.BLUE, symbol="diamond"), cliponaxis=False,
                 hovertemplate="%{y}: %{text}<extra></extra>")
    return _figure([trace], large, (170 + 90 * len(df)) if large else (110 + 60 * len(df)), showlegend=False,
                   margin=dict(l=10, r=30, t=40, b=10),
                   yaxis=dict(autorange="reversed", automargin=True),
                   xaxis=dict(title=dict(text="probability of complete response (%), with its interval"), range=[0, 100],
                              gridcolor=pal.LIGHT_GREY, automargin=True))


# ----------------------------------------------------------------------------- validation report (watchwait.validate)

def validation_calibration(report: dict, large: bool = False) -> go.Figure:
    """Calibration from a validation report: the smoothed curve with its 95% band, grouped points with Wilson
    intervals, and the diagonal (all in %)."""
    cal = report["calibration"]
    sm = cal.get("smoothed") or {}
    data = [dict(type="scatter", x=[0, 100], y=[0, 100], mode="lines", name="perfect calibration",
                 line=dict(color=pal.GREY, dash="dash"), hoverinfo="skip")]
    if sm:
        xs = [100 * v for v in sm["p"]]
        data += [dict(type="scatter", x=xs + xs[::-1], y=[100 * v for v in sm["upper"]] + [100 * v for v in sm["lower"][::-1]],
                      fill="toself", mode="lines", line=dict(width=0), fillcolor="rgba(86,180,233,0.35)",
                      name="95% confidence band", hoverinfo="skip"),
                 dict(type="scatter", x=xs, y=[100 * v for v in sm["observed"]], mode="lines", name="smoothed calibration curve",
                      line=dict(color=pal.BLUE, width=3),
                      hovertemplate="predicted %{x:.0f}%, observed %{y:.0f}%<extra></extra>")]
    g = cal.get("grouped") or []
    if g:
        ys = [100 * r["observed"] for r in g]
        data.append(dict(type="scatter", x=[100 * r["mean_predicted"] for r in g], y=ys, mode="markers",
                         name="groups of patients (95% interval)",
                         marker=dict(size=11, color="white", line=dict(color=pal.VERMILLION, width=2.5)),
                         error_y=dict(type="data", array=[100 * r["upper"] - y for r, y in zip(g, ys)],
                                      arrayminus=[y - 100 * r["lower"] for r, y in zip(g, ys)], color=pal.VERMILLION, thickness=2),
                         text=[f"n = {r['n']}" for r in g],
                         hovertemplate="predicted %{x:.0f}%, observed %{y:.0f}%, %{text}<extra></extra>"))
    return _figure(data, large, 660 if large else 460, margin=dict(l=10, r=10, t=60 if large else 50, b=10),
                   xaxis=dict(title=dict(text="predicted probability of complete response (%)"), range=[0, 100], gridcolor=pal.LIGHT_GREY),
                   yaxis=dict(title=dict(text="observed complete response (%)"), range=[0, 100], gridcolor=pal.LIGHT_GREY))


def validation_decision_curve(report: dict, large: bool = False) -> go.Figure:
    """Decision curve from a validation report: net benefit of offering organ preservation when p >= threshold,
    with its bootstrap band, against treat all and treat none."""
    dc = report["decision_curve"]
    xs = [100 * t for t in dc["thresholds"]]
    top = max([report["prevalence"]] + [v for v in dc["model_upper"] if v is not None])
    data = [dict(type="scatter", x=xs + xs[::-1], y=dc["model_upper"] + dc["model_lower"][::-1], fill="toself", mode="lines",
                 line=dict(width=0), fillcolor="rgba(86,180,233,0.35)", name="95% bootstrap band", hoverinfo="skip"),
            dict(type="scatter", x=xs, y=dc["model"], mode="lines", name="the model: organ preservation when p ≥ threshold",
                 line=dict(color=pal.BLUE, width=3), hovertemplate="threshold %{x:.0f}%: net benefit %{y:.3f}<extra></extra>"),
            dict(type="scatter", x=xs, y=dc["treat_all"], mode="lines", name="organ preservation for everyone",
                 line=dict(color=pal.ORANGE, width=3, dash="dash"), hovertemplate="threshold %{x:.0f}%: %{y:.3f}<extra></extra>"),
            dict(type="scatter", x=xs, y=dc["treat_none"], mode="lines", name="organ preservation for no one",
                 line=dict(color=pal.BLACK, width=2), hoverinfo="skip")]
    return _figure(data, large, 660 if large else 460, margin=dict(l=10, r=10, t=90 if large else 70, b=10),
                   xaxis=dict(title=dict(text="threshold probability of complete response (%)"), range=[xs[0], xs[-1]],
                              tickvals=[round(100 * t) for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8) if xs[0] <= 100 * t <= xs[-1]],
                              gridcolor=pal.LIGHT_GREY),
                   yaxis=dict(title=dict(text="net benefit"), range=[-0.05, top * 1.1], gridcolor=pal.LIGHT_GREY))
