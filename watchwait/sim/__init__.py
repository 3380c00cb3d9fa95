"""The simulated cohorts: the generator calibrated to ../shared/clinical/calibration.md, its exact oracle (the
true probability of a complete response given every observed input) and the published targets it is calibrated
to; :mod:`watchwait.sim.alt` is a second, structurally different population (external-validation tests)."""

from watchwait.sim.generator import (
    APPEARANCE,
    BIOPSY,
    CEA,
    CT_STAGES,
    CN_STAGES,
    CTDNA,
    EFFECTS,
    MISSING,
    MISSING_V2,
    RADIOMICS_ALONE,
    READINGS,
    REGIMENS,
    RESIDUAL,
    RESTAGING_READINGS,
    TARGET_COHORT,
    TARGETS,
    YMR_EMVI,
    YMR_N,
    Cohort,
    Target,
    _auc,  # noqa: F401  (tests/unit/test_simulator_targets.py measures with the targets' own AUC)
    linear_predictor,
    oracle,
    radiomics_alone_auc,
    regimen_intercepts,
    simulate,
    target_values,
    targets_table,
    to_csv_frame,
)

__all__ = ["APPEARANCE", "BIOPSY", "CEA", "CN_STAGES", "CT_STAGES", "CTDNA", "EFFECTS", "MISSING", "MISSING_V2",
           "RADIOMICS_ALONE", "READINGS", "REGIMENS", "RESIDUAL", "RESTAGING_READINGS", "TARGET_COHORT", "TARGETS",
           "YMR_EMVI", "YMR_N", "Cohort", "Target", "linear_predictor", "oracle", "radiomics_alone_auc",
           "regimen_intercepts", "simulate", "target_values", "targets_table", "to_csv_frame"]
