"""Small helpers shared by the store's tests (imported by file name)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from watchwait.store import migrate


def raw_engine(url: str):
    """An engine straight on the database, bypassing the Store (for tampering and counting)."""
    return create_engine(migrate.resolve_url(url))


def count(url: str, sql: str, **params) -> int:
    eng = raw_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        eng.dispose()


def table_counts(url: str) -> dict[str, int]:
    tables = ("patients", "assessments", "predictions", "meetings", "meeting_cases", "decisions", "follow_ups", "audit")
    eng = raw_engine(url)
    try:
        with eng.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}
    finally:
        eng.dispose()


def record(pid: str, **changes) -> dict:
    """A complete, valid version-2 record."""
    base = {"patient_id": pid, "site": "test", "age_years": 64, "sex": "M", "ecog": 0, "mmr_status": "pMMR",
            "ct_stage": "T3b", "cn_stage": "N1", "cm_stage": "M0", "mrf_involved": False, "emvi": False,
            "distance_from_anal_verge_cm": 5.0, "tumour_length_cm": 4.0, "rt_schedule": "SCRT",
            "sequence": "consolidation", "immunotherapy": "none", "chemotherapy": "CAPOX", "systemic_cycles": 6,
            "mr_trg": 2, "endoscopy": "near_complete", "dre": "smooth_induration", "ymr_n_stage": "N0",
            "restaging_biopsy": "not_done", "fit_for_major_surgery": "yes", "patient_preference": "undecided"}
    base.update(changes)
    return base
