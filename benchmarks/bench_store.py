"""Speed of the case store (watchwait.store), on SQLite and on PostgreSQL:

- recording an MDT decision with 20 concurrent writers (threads sharing one Store, as the dashboard's
  sessions do): p50 / p95 latency per decision, and decisions per second;
- the case list over 10,000 cases: the first page (25 cases), unfiltered and with each filter; median and
  p95 server time of ``list_cases``;
- importing a 1,000-case cohort CSV into a meeting: time, and peak Python memory (tracemalloc, a separate run).

SQLite is a temporary file (WAL, synchronous=FULL); PostgreSQL is a throw-away server started here with
fsync on (watchwait.store.pgserver, the same code the tests use). Cohorts come from watchwait.sim.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_store.py [--cases 10000] [--import-rows 1000]
        [--writers 20] [--per-writer 10] [--backends sqlite,postgresql]
"""
from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from watchwait.sim import simulate, to_csv_frame
from watchwait.store import PATHWAYS, Store
from watchwait.store.pgserver import PostgresServer

WHO = dict(actor="bench", screen="Meeting")


def cohort(n: int, seed: int) -> bytes:
    return to_csv_frame(simulate(n, seed=seed, with_oracle=False).frame).to_csv(index=False).encode()


def pct(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bench_import(url: str, data: bytes) -> dict:
    store = Store(url)
    try:
        m1 = store.create_meeting("2026-12-01", "import timing", "bench")
        t = time.perf_counter()
        report = store.import_cases(m1.id, data, **WHO)
        seconds = time.perf_counter() - t
        assert report.ok and report.new_versions == report.rows, report.issues[:3]
        # peak memory on a second, equal import (new site -> new versions) into another meeting
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        frame["site"] = "second"
        data2 = frame.to_csv(index=False).encode()
        m2 = store.create_meeting("2026-12-02", "import memory", "bench")
        tracemalloc.start()
        report2 = store.import_cases(m2.id, data2, **WHO)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report2.ok and report2.new_versions == report2.rows
        return {"rows": report.rows, "seconds": seconds, "peak_mib": peak / 2**20, "csv_kib": len(data) / 1024}
    finally:
        store.close()


def bench_list(url: str, data: bytes, n_decided: int) -> dict:
    store = Store(url)
    try:
        m = store.create_meeting("2026-11-01", "backlog", "bench")
        t = time.perf_counter()
        report = store.import_cases(m.id, data, **WHO)
        fill = time.perf_counter() - t
        assert report.ok
        pids = report.pseudonyms
        for i, pid in enumerate(pids[:n_decided]):
            store.record_decision(m.id, pid, pathway=PATHWAYS[i % 3], follows_suggestion=True, rationale="bench",
                                  present=["A"], actor="bench", screen="Presentation", expected_version=None)
            if i % 2:
                store.record_follow_up(pid, {"management": PATHWAYS[i % 3]}, actor="bench", screen="Follow-up",
                                       expected_version=None)
        out = {"cases": len(pids), "fill_s": fill}
        for name, kwargs in (("first page", {}), ("search", {"search": pids[1234 % len(pids)][-4:]}),
                             ("pathway", {"pathway": "tme"}), ("pending follow-up", {"pending_follow_up": True}),
                             ("meeting", {"meeting_id": m.id})):
            store.list_cases(**kwargs)  # warm
            times = []
            for _ in range(30):
                t = time.perf_counter()
                page = store.list_cases(**kwargs)
                times.append((time.perf_counter() - t) * 1000)
            assert page.items
            out[name] = (statistics.median(times), pct(times, 0.95), page.total)
        return out
    finally:
        store.close()


def bench_writers(url: str, data: bytes, writers: int, per_writer: int) -> dict:
    store = Store(url)
    try:
        m = store.create_meeting("2026-12-01", "concurrent", "bench")
        report = store.import_cases(m.id, data, **WHO)
        pids = report.pseudonyms
        assert len(pids) >= writers * per_writer
        barrier = threading.Barrier(writers)
        lat: list[float] = []
        lock = threading.Lock()

        def work(w: int):
            barrier.wait()
            mine = []
            for k in range(per_writer):
                pid = pids[w * per_writer + k]
                t = time.perf_counter()
                store.record_decision(m.id, pid, pathway=PATHWAYS[k % 3], follows_suggestion=True, rationale="bench",
                                      present=["A", "B"], actor=f"writer-{w}", screen="Presentation",
                                      expected_version=None)
                mine.append((time.perf_counter() - t) * 1000)
            with lock:
                lat.extend(mine)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(work, range(writers)))
        wall = time.perf_counter() - t0
        assert len(store.audit(limit=100_000, meeting_id=m.id)) >= writers * per_writer
        return {"n": len(lat), "p50": statistics.median(lat), "p95": pct(lat, 0.95), "max": max(lat),
                "per_s": len(lat) / wall}
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--import-rows", type=int, default=1_000)
    ap.add_argument("--writers", type=int, default=20)
    ap.add_argument("--per-writer", type=int, default=10)
    ap.add_argument("--decided", type=int, default=2_000, help="decisions recorded among the listed cases")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    t = time.perf_counter()
    big = cohort(args.cases, seed=101)
    small = cohort(args.import_rows, seed=102)
    writers_data = cohort(args.writers * args.per_writer, seed=103)
    print(f"cohorts simulated in {time.perf_counter() - t:.1f} s")
    rows = []
    pg = None
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        try:
            for backend in args.backends.split(","):
                if backend == "sqlite":
                    urls = [f"sqlite:///{Path(tmp) / f'{name}.db'}" for name in ("imp", "list", "writers")]
                else:
                    pg = pg or PostgresServer(fsync=True).start()
                    urls = [pg.create_database(name) for name in ("imp", "list", "writers")]
                imp = bench_import(urls[0], small)
                lst = bench_list(urls[1], big, min(args.decided, args.cases))
                wr = bench_writers(urls[2], writers_data, args.writers, args.per_writer)
                rows.append((backend, imp, lst, wr))
                print(f"{backend}: done")
        finally:
            if pg is not None:
                pg.stop()
    print()
    print(f"{'':34}" + "".join(f"{b:>22}" for b, *_ in rows))
    def line(label, cells):
        print(f"{label:34}" + "".join(f"{c:>22}" for c in cells))
    line(f"decision, {args.writers} writers: p50 ms", [f"{w['p50']:.1f}" for *_, w in rows])
    line(f"decision, {args.writers} writers: p95 ms", [f"{w['p95']:.1f}" for *_, w in rows])
    line("decision: max ms", [f"{w['max']:.1f}" for *_, w in rows])
    line("decisions per second", [f"{w['per_s']:.0f}" for *_, w in rows])
    for name in ("first page", "search", "pathway", "pending follow-up", "meeting"):
        line(f"list of {args.cases:,}: {name} ms", [f"{l[name][0]:.1f} (p95 {l[name][1]:.1f})" for _, _, l, _ in rows])
    line(f"  (fill: import of {args.cases:,}, s)", [f"{l['fill_s']:.1f}" for _, _, l, _ in rows])
    line(f"import {args.import_rows:,} cases: s", [f"{i['seconds']:.2f}" for _, i, _, _ in rows])
    line(f"import {args.import_rows:,} cases: peak MiB", [f"{i['peak_mib']:.1f}" for _, i, _, _ in rows])


if __name__ == "__main__":
    main()
