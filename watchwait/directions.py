"""The directions of the clinical evidence, as data: one change of one input that must never lower the
probability of complete response (issue 8; clinical brief, response categories and rule 12; calibration.md).

Each :class:`Direction` says which records it applies to and what the better record is. The model is
monotone by construction in these inputs, the simulator's oracle obeys them, and property-based tests
check both (tests/unit/test_directions.py). "Not tested" and "tested, not detected" stay different
facts: going from not tested to tested and cleared is its own direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

Record = Mapping[str, object]


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


@dataclass(frozen=True)
class Direction:
    id: str
    text: str  # the change in words
    applies: Callable[[Record], bool]
    better: Callable[[Record], dict]


def _num(r: Record, k: str) -> float | None:
    v = r.get(k)
    return None if _blank(v) else float(v)  # type: ignore[arg-type]


_ENDO_BETTER = {"incomplete": "near_complete", "near_complete": "complete"}
_DRE_BETTER = {"mass": "smooth_induration", "smooth_induration": "normal"}
_CTDNA = ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")

DIRECTIONS: tuple[Direction, ...] = (
    Direction("ctdna-c3-cleared", "ctDNA at assessment: detected -> not detected",
              lambda r: (_num(r, "ctdna_post_treatment_mtm_ml") or 0) > 0,
              lambda r: {**r, "ctdna_post_treatment_mtm_ml": 0.0}),
    Direction("ctdna-tested-cleared", "ctDNA: not tested -> tested, detected before treatment and cleared",
              lambda r: all(_blank(r.get(k)) for k in _CTDNA),
              lambda r: {**r, "ctdna_baseline_mtm_ml": 5.0, "ctdna_post_rt_mtm_ml": 0.0, "ctdna_post_treatment_mtm_ml": 0.0}),
    Direction("mr-trg-better", "MRI regression grade one step better",
              lambda r: (_num(r, "mr_trg") or 1) > 1,
              lambda r: {**r, "mr_trg": int(_num(r, "mr_trg")) - 1}),
    Direction("endoscopy-better", "Endoscopy one step better",
              lambda r: r.get("endoscopy") in _ENDO_BETTER,
              lambda r: {**r, "endoscopy": _ENDO_BETTER[str(r["endoscopy"])]}),
    Direction("dre-better", "DRE one step better",
              lambda r: r.get("dre") in _DRE_BETTER,
              lambda r: {**r, "dre": _DRE_BETTER[str(r["dre"])]}),
    Direction("dwi-gone", "Diffusion restriction disappears",
              lambda r: r.get("dwi_restriction") is True,
              lambda r: {**r, "dwi_restriction": False}),
    Direction("cea-post-falls", "CEA at assessment halves",
              lambda r: (_num(r, "cea_post_ng_ml") or 0) > 0,
              lambda r: {**r, "cea_post_ng_ml": round(float(_num(r, "cea_post_ng_ml")) / 2, 4)}),
    Direction("nodes-cleared", "Restaging nodes: N+ -> N0",
              lambda r: r.get("ymr_n_stage") in ("N1", "N2"),
              lambda r: {**r, "ymr_n_stage": "N0"}),
    Direction("biopsy-negative", "Restaging biopsy: positive -> negative",
              lambda r: r.get("restaging_biopsy") == "positive",
              lambda r: {**r, "restaging_biopsy": "negative"}),
)

# Imaging (clinical brief, rule 12): a tumour that shrank less never raises the probability of complete response, the
# same direction as the MRI tumour regression grade. Radiomic columns (watchwait.imaging.model_features): the delta is
# restaging - baseline, so a smaller restaging value is a smaller delta too; the better record keeps that identity.
_R = "radiomics_"
_VOLUME = "original_shape_VoxelVolume"
_T2_MEAN = "original_firstorder_Mean"
T2_STEP = 20.0  # mean T2 signal units (image z-scored x 100): one fifth of a standard deviation of the image


def _imaging(feature: str) -> Callable[[Record], bool]:
    return lambda r: _num(r, f"{_R}restaging_{feature}") is not None or _num(r, f"{_R}delta_{feature}") is not None


def _lower(feature: str, step: Callable[[Record], float]) -> Callable[[Record], dict]:
    """The record with the restaging value ``step`` lower, and the change since baseline lower by the same."""
    def better(r: Record) -> dict:
        d = step(r)
        out = dict(r)
        for phase in ("restaging", "delta"):
            v = _num(r, f"{_R}{phase}_{feature}")
            if v is not None:
                out[f"{_R}{phase}_{feature}"] = v - d
        return out
    return better


def _volume_step(r: Record) -> float:
    """Half the restaging volume (so it stays positive); without it, 10% of the baseline, else 100 mm³."""
    rest, base = _num(r, f"{_R}restaging_{_VOLUME}"), _num(r, f"{_R}baseline_{_VOLUME}")
    if rest is not None:
        return max(rest, 0.0) / 2
    return 0.1 * base if base is not None and base > 0 else 100.0


DIRECTIONS += (
    Direction("mri-volume-smaller", "MRI tumour volume at restaging halved (more shrinkage since baseline)",
              lambda r: _imaging(_VOLUME)(r) and (_num(r, f"{_R}restaging_{_VOLUME}") is None
                                                  or _num(r, f"{_R}restaging_{_VOLUME}") > 0),
              _lower(_VOLUME, _volume_step)),
    Direction("mri-t2-darker", "Mean T2 signal in the tumour at restaging lower (a larger fall since baseline: fibrosis is "
              "darker than tumour)", _imaging(_T2_MEAN), _lower(_T2_MEAN, lambda r: T2_STEP)),
)

BY_ID = {d.id: d for d in DIRECTIONS}


def pairs(records: list[Record]) -> list[tuple[str, int, dict]]:
    """(direction id, index of the record, the better record) for every direction that applies."""
    return [(d.id, i, d.better(r)) for i, r in enumerate(records) for d in DIRECTIONS if d.applies(r)]
