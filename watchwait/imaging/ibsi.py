"""IBSI chapter 1 conformance of the pyradiomics features on the IBSI digital phantom.

:data:`IBSI_TAGS` maps every pyradiomics feature that has an IBSI counterpart to the IBSI tag
(``(pyradiomics class_Feature, IBSI tag)`` pairs: a pyradiomics feature can match two IBSI
features that the standard defines twice). Conventions: pyradiomics GLCM and GLRLM are averaged
over the 13 directions (``_3D_avg``), GLSZM, GLDM (= IBSI NGLDM, alpha 0) and NGTDM are 3-D
(``_3D``); pyradiomics kurtosis is reported without the -3 (:data:`OFFSETS`).

:data:`KNOWN_DIFFERENCES` lists the features that are known not to match, with the reason;
the conformance test asserts they really differ, so the list cannot silently go stale.
:data:`NO_IBSI_COUNTERPART` lists the pyradiomics features IBSI does not define.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "IBSI_TAGS", "OFFSETS", "KNOWN_DIFFERENCES", "NO_IBSI_COUNTERPART", "PHANTOM_PARAMS",
    "Comparison", "read_reference", "round_sig", "compare",
]

PHANTOM_PARAMS = Path(__file__).resolve().parent / "params" / "ibsi_digital_phantom_v1.yaml"

_SHAPE = {
    "MeshVolume": "morph_volume", "VoxelVolume": "morph_vol_approx", "SurfaceArea": "morph_area_mesh",
    "SurfaceVolumeRatio": "morph_av", "Compactness1": "morph_comp_1", "Compactness2": "morph_comp_2",
    "SphericalDisproportion": "morph_sph_dispr", "Sphericity": "morph_sphericity",
    "Maximum3DDiameter": "morph_diam", "MajorAxisLength": "morph_pca_maj_axis",
    "MinorAxisLength": "morph_pca_min_axis", "LeastAxisLength": "morph_pca_least_axis",
    "Elongation": "morph_pca_elongation", "Flatness": "morph_pca_flatness",
}
_FIRSTORDER = {
    "Mean": "stat_mean", "Variance": "stat_var", "Skewness": "stat_skew", "Kurtosis": "stat_kurt",
    "Median": "stat_median", "Minimum": "stat_min", "10Percentile": "stat_p10", "90Percentile": "stat_p90",
    "Maximum": "stat_max", "InterquartileRange": "stat_iqr", "Range": "stat_range",
    "MeanAbsoluteDeviation": "stat_mad", "RobustMeanAbsoluteDeviation": "stat_rmad",
    "Energy": "stat_energy", "RootMeanSquared": "stat_rms",
    # computed on the discretised image by pyradiomics, like IBSI's intensity histogram family
    "Entropy": "ih_entropy", "Uniformity": "ih_uniformity",
}
_GLCM = {
    "MaximumProbability": "cm_joint_max", "JointAverage": "cm_joint_avg", "SumSquares": "cm_joint_var",
    "JointEntropy": "cm_joint_entr", "DifferenceAverage": "cm_diff_avg", "DifferenceVariance": "cm_diff_var",
    "DifferenceEntropy": "cm_diff_entr", "SumAverage": "cm_sum_avg", "SumEntropy": "cm_sum_entr",
    "JointEnergy": "cm_energy", "Contrast": "cm_contrast", "Id": "cm_inv_diff", "Idn": "cm_inv_diff_norm",
    "Idm": "cm_inv_diff_mom", "Idmn": "cm_inv_diff_mom_norm", "InverseVariance": "cm_inv_var",
    "Correlation": "cm_corr", "Autocorrelation": "cm_auto_corr", "ClusterTendency": "cm_clust_tend",
    "ClusterShade": "cm_clust_shade", "ClusterProminence": "cm_clust_prom", "Imc1": "cm_info_corr1",
    "Imc2": "cm_info_corr2",
}
# IBSI defines two features that pyradiomics computes once: dissimilarity = difference average,
# and sum variance = cluster tendency (pyradiomics deprecated SumVariance for that reason).
_GLCM_ALIASES = {"DifferenceAverage": "cm_dissimilarity", "ClusterTendency": "cm_sum_var"}
_GLRLM = {
    "ShortRunEmphasis": "rlm_sre", "LongRunEmphasis": "rlm_lre", "LowGrayLevelRunEmphasis": "rlm_lgre",
    "HighGrayLevelRunEmphasis": "rlm_hgre", "ShortRunLowGrayLevelEmphasis": "rlm_srlge",
    "ShortRunHighGrayLevelEmphasis": "rlm_srhge", "LongRunLowGrayLevelEmphasis": "rlm_lrlge",
    "LongRunHighGrayLevelEmphasis": "rlm_lrhge", "GrayLevelNonUniformity": "rlm_glnu",
    "GrayLevelNonUniformityNormalized": "rlm_glnu_norm", "RunLengthNonUniformity": "rlm_rlnu",
    "RunLengthNonUniformityNormalized": "rlm_rlnu_norm", "RunPercentage": "rlm_r_perc",
    "GrayLevelVariance": "rlm_gl_var", "RunVariance": "rlm_rl_var", "RunEntropy": "rlm_rl_entr",
}
_GLSZM = {
    "SmallAreaEmphasis": "szm_sze", "LargeAreaEmphasis": "szm_lze", "LowGrayLevelZoneEmphasis": "szm_lgze",
    "HighGrayLevelZoneEmphasis": "szm_hgze", "SmallAreaLowGrayLevelEmphasis": "szm_szlge",
    "SmallAreaHighGrayLevelEmphasis": "szm_szhge", "LargeAreaLowGrayLevelEmphasis": "szm_lzlge",
    "LargeAreaHighGrayLevelEmphasis": "szm_lzhge", "GrayLevelNonUniformity": "szm_glnu",
    "GrayLevelNonUniformityNormalized": "szm_glnu_norm", "SizeZoneNonUniformity": "szm_zsnu",
    "SizeZoneNonUniformityNormalized": "szm_zsnu_norm", "ZonePercentage": "szm_z_perc",
    "GrayLevelVariance": "szm_gl_var", "ZoneVariance": "szm_zs_var", "ZoneEntropy": "szm_zs_entr",
}
_GLDM = {  # pyradiomics GLDM with alpha = 0 is IBSI's NGLDM
    "SmallDependenceEmphasis": "ngl_lde", "LargeDependenceEmphasis": "ngl_hde",
    "LowGrayLevelEmphasis": "ngl_lgce", "HighGrayLevelEmphasis": "ngl_hgce",
    "SmallDependenceLowGrayLevelEmphasis": "ngl_ldlge", "SmallDependenceHighGrayLevelEmphasis": "ngl_ldhge",
    "LargeDependenceLowGrayLevelEmphasis": "ngl_hdlge", "LargeDependenceHighGrayLevelEmphasis": "ngl_hdhge",
    "GrayLevelNonUniformity": "ngl_glnu", "DependenceNonUniformity": "ngl_dcnu",
    "DependenceNonUniformityNormalized": "ngl_dcnu_norm", "GrayLevelVariance": "ngl_gl_var",
    "DependenceVariance": "ngl_dc_var", "DependenceEntropy": "ngl_dc_entr",
}
_NGTDM = {"Coarseness": "ngt_coarseness", "Contrast": "ngt_contrast", "Busyness": "ngt_busyness",
          "Complexity": "ngt_complexity", "Strength": "ngt_strength"}

#: (pyradiomics "class_Feature", IBSI tag) pairs.
IBSI_TAGS: tuple[tuple[str, str], ...] = tuple(
    [(f"shape_{k}", v) for k, v in _SHAPE.items()]
    + [(f"firstorder_{k}", v) for k, v in _FIRSTORDER.items()]
    + [(f"glcm_{k}", f"{v}_3D_avg") for k, v in _GLCM.items()]
    + [(f"glcm_{k}", f"{v}_3D_avg") for k, v in _GLCM_ALIASES.items()]
    + [(f"glrlm_{k}", f"{v}_3D_avg") for k, v in _GLRLM.items()]
    + [(f"glszm_{k}", f"{v}_3D") for k, v in _GLSZM.items()]
    + [(f"gldm_{k}", f"{v}_3D") for k, v in _GLDM.items()]
    + [(f"ngtdm_{k}", f"{v}_3D") for k, v in _NGTDM.items()]
)

#: Added to the pyradiomics value before comparing (IBSI kurtosis is the excess kurtosis).
OFFSETS = {"firstorder_Kurtosis": -3.0}

_COVARIANCE = (
    "pyradiomics takes the PCA axis lengths from the population covariance of the voxel "
    "coordinates (divided by N); the IBSI consensus value matches the sample covariance "
    "(divided by N - 1). The length is smaller by sqrt((N - 1) / N) (0.68 % for the phantom's "
    "74 voxels), more than the tolerance. (The major axis has the same bias but stays within "
    "its wider tolerance.)"
)
#: pyradiomics features that do not match the consensus value, and why.
KNOWN_DIFFERENCES: dict[str, str] = {
    "shape_MinorAxisLength": _COVARIANCE,
    "shape_LeastAxisLength": _COVARIANCE,
}

#: pyradiomics features that IBSI chapter 1 does not define.
NO_IBSI_COUNTERPART: dict[str, str] = {
    "firstorder_TotalEnergy": "Energy x voxel volume: a pyradiomics extension",
    "glcm_MCC": "maximal correlation coefficient: not in IBSI chapter 1",
}


@dataclass(frozen=True)
class Comparison:
    """One pyradiomics value against one IBSI consensus value."""

    feature: str
    tag: str
    value: float  # after OFFSETS
    rounded: float  # to 3 significant figures
    reference: float
    tolerance: float
    known_difference: str | None

    @property
    def matches(self) -> bool:
        return abs(self.rounded - self.reference) <= self.tolerance + 1e-12 * max(1.0, abs(self.reference))


def read_reference(path: str | Path) -> dict[str, tuple[float, float]]:
    """IBSI tag -> (consensus value, tolerance); tags without a consensus value are left out."""
    with open(path, newline="") as fh:
        rows = csv.DictReader(fh, delimiter=";")
        return {r["tag"]: (float(r["reference value"]), float(r["tolerance"]))
                for r in rows if (r.get("reference value") or "").strip()}


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant figures."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def compare(features: Mapping[str, float], reference: Mapping[str, tuple[float, float]],
            prefix: str = "original_") -> list[Comparison]:
    """Every mapped feature present in ``features`` that has a consensus value."""
    out = []
    for name, tag in IBSI_TAGS:
        key = prefix + name
        if key not in features or tag not in reference:
            continue
        value = float(features[key]) + OFFSETS.get(name, 0.0)
        ref, tol = reference[tag]
        out.append(Comparison(name, tag, value, round_sig(value), ref, tol, KNOWN_DIFFERENCES.get(name)))
    return out
