"""The tamper-evident store (issue 21 items 3 and 5), measured on SQLite and on PostgreSQL:

- a store of N cases (default 10,000) imported into one meeting, plus decisions, predictions, follow-up and
  who-looked rows for some of them (the fill time includes the hash chain the store now writes);
- ``watchwait db verify`` on it (the whole store: every audit row's chain and every covered row's hash), median of
  three runs;
- ``watchwait db backup`` (SQLite online backup; pg_dump -Fc): time and size;
- ``watchwait db restore`` of that backup into the store (SQLite backup API; pg_restore --clean --single-transaction),
  with ``--yes`` semantics minus the pre-restore backup (timed on its own), then verify again.

SQLite is a temporary file (WAL, synchronous=FULL); PostgreSQL is a throw-away server started here with fsync on
(watchwait.store.pgserver). Cohorts come from watchwait.sim.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_store_integrity.py [--cases 10000] [--decided 2000]
        [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from watchwait.sim import simulate, to_csv_frame
from watchwait.store import Store
from watchwait.store.admin import backup, restore, verify
from watchwait.store.pgserver import PostgresServer

WHO = dict(actor="bench", screen="Meeting")


def cohort(n: int, seed: int) -> bytes:
    return to_csv_frame(simulate(n, seed=seed, with_oracle=False).frame).to_csv(index=False).encode()


def fill(url: str, data: bytes, decided: int) -> dict:
    t0 = time.perf_counter()
    with Store(url) as s:
        m = s.create_meeting("2026-12-01", "integrity bench", "bench")
        rep = s.import_cases(m.id, data, **WHO)
        assert rep.ok, rep.issues[:3]
        t_import = time.perf_counter() - t0
        t1 = time.perf_counter()
        for p in rep.pseudonyms[:decided]:
            a = s.assessment(p)
            s.record_prediction(a.id, model_version="bench", model_hash="ab" * 32, input_hash="cd" * 32,
                                probability=0.3, interval=(0.2, 0.4), contributions=[], category="near_complete",
                                suggestion="reassess", rule_ids=["R1"], flags=[], actor="bench", screen="Assessment")
            s.record_decision(m.id, p, pathway="tme", follows_suggestion=False, reason_not_followed="bench",
                              rationale="bench", present=["A", "B"], actor="bench", screen="Presentation",
                              expected_version=None)
            s.record_follow_up(p, {"management": "tme"}, actor="bench", screen="Follow-up", expected_version=None)
            s.record_access("bench", p, "Cases")
        t_writes = time.perf_counter() - t1
    return {"import_s": t_import, "writes_s": t_writes, "writes": 4 * decided}


def bench(url: str, folder: Path, data: bytes, decided: int) -> dict:
    out = fill(url, data, decided)
    times = []
    for _ in range(3):
        r = verify(url)
        assert r.ok, r.problems[:3]
        times.append(r.seconds)
    out["verify_s"] = statistics.median(times)
    out["rows"] = sum(r.rows.values())
    out["audit_rows"] = r.rows["audit"]
    b = backup(url, folder / ("store.backup"))
    out["backup_s"], out["backup_mb"] = b.seconds, b.size / 1e6
    t = time.perf_counter()
    res = restore(url, b.path, yes=True)  # includes a backup of the store as it was (timed above)
    out["restore_with_first_backup_s"] = time.perf_counter() - t
    out["restore_s"] = res.seconds
    r2 = verify(url)
    assert r2.ok and sum(r2.rows.values()) == out["rows"]
    out["verify_after_restore_s"] = r2.seconds
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--decided", type=int, default=2_000, help="cases with a prediction, decision, follow-up, access")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    data = cohort(args.cases, seed=211)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows.append(("SQLite", bench(str(folder / "store.db"), folder, data, args.decided)))
            else:
                with PostgresServer(fsync=True) as pg:
                    (folder / "pg").mkdir()
                    rows.append(("PostgreSQL", bench(pg.create_database("bench"), folder / "pg", data, args.decided)))
    print(f"store of {args.cases:,} cases ({args.decided:,} with a prediction, decision, follow-up and who-looked row)")
    labels = [("rows in the store", lambda r: f"{r['rows']:,} ({r['audit_rows']:,} audit)"),
              (f"import of {args.cases:,} cases, s", lambda r: f"{r['import_s']:.1f}"),
              ("single writes (4 per decided case), ms each", lambda r: f"{1000 * r['writes_s'] / max(1, r['writes']):.1f}"),
              ("db verify, s (median of 3)", lambda r: f"{r['verify_s']:.2f}"),
              ("db backup, s", lambda r: f"{r['backup_s']:.2f}"),
              ("backup size, MB", lambda r: f"{r['backup_mb']:.1f}"),
              ("db restore, s", lambda r: f"{r['restore_s']:.2f}"),
              ("db restore --yes incl. backup first, s", lambda r: f"{r['restore_with_first_backup_s']:.2f}"),
              ("db verify after restore, s", lambda r: f"{r['verify_after_restore_s']:.2f}")]
    print(f"{'':46s}" + "".join(f"{name:>24s}" for name, _ in rows))
    for label, f in labels:
        print(f"{label:46s}" + "".join(f"{f(r):>24s}" for _, r in rows))


if __name__ == "__main__":
    main()
