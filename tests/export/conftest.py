"""Shared inputs of the export tests: the sample patients' assessments by the shipped model."""

from __future__ import annotations

import datetime as dt

import pytest

MEETING = dt.date(2026, 12, 3)
GENERATED = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def shipped():
    from watchwait.artifacts import load_model

    return load_model()


@pytest.fixture(scope="session")
def model_info(shipped):
    from watchwait.export import ModelInfo

    return ModelInfo.from_bundle(shipped)


@pytest.fixture(scope="session")
def assessments(sample_records, shipped):
    from watchwait.engine import assess

    return {pid: assess(r, model=shipped) for pid, r in sample_records.items()}
