"""watchwait.explanation.as_shap hands the engine's exact explanations to shap's container: the base value plus the
values is the model's log-odds for the patient, the names are the screens' labels, and shap's own tools work on it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shap

from watchwait.engine import assess
from watchwait.errors import WatchwaitError
from watchwait.explanation import as_shap, logit
from watchwait.validation import frame_to_records

RECORDS = {r["patient_id"]: r for r in frame_to_records(pd.read_csv("sample_data/sample_patients.csv"))}


@pytest.mark.parametrize("pid", ["DEMO-01", "DEMO-02", "DEMO-13"])
def test_base_plus_values_is_the_models_log_odds(pid):
    a = assess(RECORDS[pid])
    e = as_shap(a)
    assert isinstance(e, shap.Explanation)
    assert e.base_values + e.values.sum() == pytest.approx(logit(a.probability), abs=1e-9)
    assert 1 / (1 + math.exp(-(e.base_values + e.values.sum()))) == pytest.approx(a.probability, abs=1e-12)
    assert e.feature_names == [c.label for c in a.contributions]
    assert "ctdna_post_treatment_mtm_ml" not in e.feature_names  # clinicians' labels, not column names
    assert list(e.data) == [c.value for c in a.contributions]


def test_shaps_own_tools_work_on_it():
    e = as_shap(assess(RECORDS["DEMO-01"]))
    top = np.argsort(-np.abs(e.values))[:3]
    biggest = e[top[0]]  # shap's slicing: one feature's Explanation
    assert biggest.values == pytest.approx(e.values[top[0]]) and biggest.feature_names == e.feature_names[top[0]]
    assert e.abs.values.sum() == pytest.approx(np.abs(e.values).sum())


def test_out_of_scope_has_nothing_to_explain():
    record = {**RECORDS["DEMO-01"], "mmr_status": "dMMR"}
    with pytest.raises(WatchwaitError) as info:
        as_shap(assess(record))
    assert str(info.value) == ("patient DEMO-01: outside this tool's scope, so there is no probability and no "
                               "explanation to give.")
