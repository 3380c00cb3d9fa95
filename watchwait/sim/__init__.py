"""The simulated cohorts, calibrated to ../shared/clinical/calibration.md.

- :mod:`watchwait.sim.model`: the stated model (design, parameters with their sources, covariates, linear predictor);
- :mod:`watchwait.sim.generator`: :func:`simulate`, the cohort drawn from it;
- :mod:`watchwait.sim.oracle`: :func:`oracle`, the true probability of a complete response given every observed input;
- :mod:`watchwait.sim.targets`: ``TARGETS``, the published figures it is calibrated to, and the README table;
- :mod:`watchwait.sim.common`: what the two populations share (the cohort container, drawing and oracle helpers);
- :mod:`watchwait.sim.alt`: a second, structurally different population (external-validation tests).
"""

from watchwait.sim.common import Cohort, to_csv_frame
from watchwait.sim.generator import simulate
from watchwait.sim.model import (
    APPEARANCE,
    BIOPSY,
    CEA,
    CN_STAGES,
    CT_STAGES,
    CTDNA,
    EFFECTS,
    MISSING,
    MISSING_V2,
    READINGS,
    REGIMENS,
    RESIDUAL,
    YMR_EMVI,
    YMR_N,
    linear_predictor,
    regimen_intercepts,
)
from watchwait.sim.oracle import oracle
from watchwait.sim.targets import (
    RADIOMICS_ALONE,
    RESTAGING_READINGS,
    TARGET_COHORT,
    TARGETS,
    Target,
    _auc,  # noqa: F401  (tests/unit/test_simulator_targets.py measures with the targets' own AUC)
    radiomics_alone_auc,
    target_values,
    targets_table,
)

__all__ = ["APPEARANCE", "BIOPSY", "CEA", "CN_STAGES", "CT_STAGES", "CTDNA", "EFFECTS", "MISSING", "MISSING_V2",
           "RADIOMICS_ALONE", "READINGS", "REGIMENS", "RESIDUAL", "RESTAGING_READINGS", "TARGET_COHORT", "TARGETS",
           "YMR_EMVI", "YMR_N", "Cohort", "Target", "linear_predictor", "oracle", "radiomics_alone_auc",
           "regimen_intercepts", "simulate", "target_values", "targets_table", "to_csv_frame"]
