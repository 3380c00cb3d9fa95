"""Imaging screen: slice images, ROI outlines, default windows and feature tables, from plain arrays (no streamlit).

Layering as in :mod:`components.figures`: ``watchwait.imaging`` loads and measures; this module turns
arrays and feature dicts into figures and tables; :mod:`components.imaging` renders them.

Coordinates: a slice is drawn in millimetres from the centre of its first pixel (x along the columns,
y down the rows), so non-square pixels keep their true aspect and the outline sits on pixel edges.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components import palette as pal

#: The default window spans this many times the ROI's 1st-99th percentile range, centred on it ...
ROI_WINDOW_FACTOR = 2.5
#: ... but never less than this share of the whole image's 1st-99th percentile range.
MIN_IMAGE_SHARE = 0.5
OUTLINE_COLOUR = pal.YELLOW  # Okabe-Ito yellow: visible on every grey level
DELTA = "change (restaging - baseline)"


# ----------------------------------------------------------------------------- window and slice

def default_window(volume: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    """(level, width) for a volume: centred on the ROI's intensities (1st-99th percentile) and
    :data:`ROI_WINDOW_FACTOR` times as wide, so that tumour texture shows and the tissue around it
    stays visible; at least :data:`MIN_IMAGE_SHARE` of the image's own range. Without an ROI (``None``
    or empty), the image's own range. The volume keeps its type (int16 for most MR): a percentile
    copies it once in that type, where a float64 copy would cost four times an int16 series."""
    volume = np.asarray(volume)
    inside = volume[np.asarray(mask, dtype=bool)] if mask is not None else volume.ravel()
    if inside.size == 0:
        inside = volume.ravel()
    lo, hi = np.percentile(inside, [1, 99])
    img_lo, img_hi = np.percentile(volume, [1, 99])
    width = max(ROI_WINDOW_FACTOR * (hi - lo), MIN_IMAGE_SHARE * (img_hi - img_lo), 1e-6)
    return float((lo + hi) / 2), float(width)


def control_range(volume: np.ndarray) -> tuple[float, float, float]:
    """(minimum, maximum, step) for the level and width sliders of a volume."""
    lo, hi = float(np.min(volume)), float(np.max(volume))
    span = max(hi - lo, 1e-6)
    step = 1.0 if span > 50 else 10 ** math.floor(math.log10(span / 100))
    return lo, hi, step


def best_slice(mask: np.ndarray) -> int:
    """Index of the slice with the largest ROI area (the middle slice when the mask is empty)."""
    areas = np.asarray(mask, dtype=bool).reshape(mask.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas)) if areas.any() else mask.shape[0] // 2


def windowed(plane: np.ndarray, level: float, width: float) -> np.ndarray:
    """A slice mapped to 0-255 grey: level - width/2 is black, level + width/2 is white."""
    width = max(float(width), 1e-6)
    scaled = (np.asarray(plane, dtype=float) - (level - width / 2)) / width
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def png_data_uri(grey: np.ndarray) -> str:
    """An 8-bit grey image as a PNG data URI (a few kB, instead of a heatmap of every value)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grey), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def outline(mask2d: np.ndarray, spacing_yx: Sequence[float] = (1.0, 1.0)) -> tuple[list, list]:
    """The contour of a 2-D mask along pixel edges, as plotly line coordinates in mm (x, y lists,
    ``None`` between segments). Pixel (r, c) covers x in (c +- 0.5) dx, y in (r +- 0.5) dy."""
    m = np.pad(np.asarray(mask2d, dtype=bool), 1)
    dy, dx = (float(s) for s in spacing_yx)
    xs: list = []
    ys: list = []
    # horizontal edges: between padded rows i-1 and i, at y = (i - 1.5) dy in unpadded pixel units
    h = m[1:, :] != m[:-1, :]
    for i, row in enumerate(h):
        for start, stop in _runs(row):
            y = (i - 0.5) * dy
            xs += [(start - 1.5) * dx, (stop - 1.5) * dx, None]
            ys += [y, y, None]
    v = m[:, 1:] != m[:, :-1]
    for j, col in enumerate(v.T):
        for start, stop in _runs(col):
            x = (j - 0.5) * dx
            xs += [x, x, None]
            ys += [(start - 1.5) * dy, (stop - 1.5) * dy, None]
    return xs, ys


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True, stop exclusive."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    d = np.diff(padded)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def slice_figure(plane: np.ndarray, mask2d: np.ndarray | None, level: float, width: float,
                 spacing_yx: Sequence[float] = (1.0, 1.0), large: bool = False, height: int = 420) -> go.Figure:
    """One slice in grey at (level, width), with the ROI outline over it; axes in mm."""
    dy, dx = (float(s) for s in spacing_yx)
    data: list[dict] = [dict(type="image", source=png_data_uri(windowed(plane, level, width)), x0=0, y0=0, dx=dx, dy=dy,
                             hoverinfo="skip", name="image")]
    if mask2d is not None and np.any(mask2d):
        xs, ys = outline(mask2d, (dy, dx))
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", name="tumour ROI outline",
                         line=dict(color=OUTLINE_COLOUR, width=2.5), hoverinfo="skip"))
    ny, nx = plane.shape
    return go.Figure({"data": data, "layout": dict(
        height=height, margin=dict(l=40, r=10, t=36, b=45), showlegend=True, paper_bgcolor="white", plot_bgcolor="white",
        font=dict(size=24 if large else 13, color=pal.BLACK),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0),
        xaxis=dict(range=[-0.5 * dx, (nx - 0.5) * dx], showgrid=False, zeroline=False, title=dict(text="mm"),
                   constrain="domain", automargin=True, ticks="outside"),
        yaxis=dict(range=[(ny - 0.5) * dy, -0.5 * dy], showgrid=False, zeroline=False, scaleanchor="x",
                   constrain="domain", automargin=True, ticks="outside"))})


# ----------------------------------------------------------------------------- tables

def feature_table(features: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Every feature (pyradiomics names, as rows) of each visit given (``{"baseline": {...}, ...}``, as columns)."""
    names: list[str] = []
    for values in features.values():
        names += [n for n in values if n not in names]
    table = pd.DataFrame({visit: [values.get(n, math.nan) for n in names] for visit, values in features.items()},
                         index=pd.Index(names, name="feature (pyradiomics name)"))
    return table


def model_delta_table(baseline: Mapping[str, float], restaging: Mapping[str, float], delta: Mapping[str, float],
                      features: Sequence[str]) -> pd.DataFrame:
    """The model's feature subset at both visits and the change, restaging - baseline (``delta`` from
    ``watchwait.imaging.radiomics.delta_features``: keys ``delta_<name>``)."""
    from watchwait.features import RADIOMIC_NAMES

    return pd.DataFrame({"baseline": [baseline[f] for f in features], "restaging": [restaging[f] for f in features],
                         DELTA: [delta[f"delta_{f}"] for f in features], PYRADIOMICS_NAME: list(features)},
                        index=pd.Index([RADIOMIC_NAMES.get(f, (f, ""))[0] for f in features], name="feature"))


PYRADIOMICS_NAME = "technical name (pyradiomics)"


PROVENANCE_ROWS = (
    ("pyradiomics", "pyradiomics"), ("numpy", "numpy"), ("SimpleITK", "SimpleITK"), ("pydicom", "pydicom"),
    ("python", "Python"), ("params_file", "parameter file"), ("params_sha256", "parameter file sha256"),
    ("image_sha256", "image sha256"), ("mask_sha256", "mask sha256"),
    ("mask_voxels", "ROI voxels"), ("image_shape_zyx", "image shape (z, y, x)"), ("spacing_zyx_mm", "spacing (z, y, x) mm"),
    ("roi", "ROI source"),
    ("series_check", "series check (the model's images: T2-weighted axial pelvic MR)"),
)


def provenance_table(provenance: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """Where each visit's values come from (library versions, parameter and array hashes), as text."""
    def say(value: object) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{v}" for v in value.values())
        if isinstance(value, (list, tuple)):
            return " x ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        return "" if value is None else str(value)

    return pd.DataFrame({visit: [say(p.get(k)) for k, _ in PROVENANCE_ROWS] for visit, p in provenance.items()},
                        index=pd.Index([label for _, label in PROVENANCE_ROWS], name="provenance"))
