"""One patient's explanation as a :class:`shap.Explanation`, for data scientists who want shap's own plots and tools.

The explanations watchwait shows are exact: the fused model's additive terms plus TreeSHAP values that LightGBM
computes itself (``pred_contrib``), on the calibrated log-odds scale, so that the base value plus the contributions is
exactly the model's log-odds for the patient (:attr:`watchwait.engine.Contribution.shap_logit`). No shap explainer
is run; this module only hands those numbers to shap's container::

    from watchwait.engine import assess
    from watchwait.explanation import as_shap

    explanation = as_shap(assess(record))
    import shap; shap.plots.waterfall(explanation)   # shap's plots need matplotlib (pip install matplotlib)

Feature names are the clinicians' labels the screens show; ``data`` holds the patient's own values in words;
``display_data`` the same. Inputs of a modality left untested are included (their contribution is what "not tested"
does, not evidence), as on the screens.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from watchwait.errors import WatchwaitError

if TYPE_CHECKING:  # pragma: no cover
    import shap

    from watchwait.engine import Assessment

__all__ = ["as_shap", "logit"]


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def as_shap(assessment: Assessment) -> shap.Explanation:
    """The assessment's contributions as a one-row :class:`shap.Explanation` on the log-odds scale:
    ``base_values + values.sum() == logit(probability)``. Refused for a patient outside the tool's scope (no
    probability, so nothing to explain)."""
    import shap  # the container only; imported when asked for

    if assessment.probability is None or assessment.base_probability is None:
        raise WatchwaitError(f"patient {assessment.patient_id}: outside this tool's scope, so there is no probability "
                             "and no explanation to give.")
    contributions = assessment.contributions
    values = np.array([c.shap_logit for c in contributions], dtype=float)
    words = np.array([c.value for c in contributions], dtype=object)
    return shap.Explanation(values=values, base_values=logit(assessment.base_probability), data=words,
                            display_data=words, feature_names=[c.label for c in contributions],
                            output_names=["log-odds of complete response"])
