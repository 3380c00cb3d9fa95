"""Time to fail over (issue 22 item 2): the deployment of tests/deploy (Debian's nginx with deploy/nginx/watchwait.conf,
two replicas with deploy/systemd's command line and deploy/streamlit's settings, one PostgreSQL), a Chromium tab on a
meeting case, and the replica it is on stopped, ``--rounds`` times (each round the tab's replica; it is started again
after the round).

Per round:
- ``reconnect``: from the stop to the tab's new WebSocket, through nginx, to the other replica;
- ``answered``: from the tab's first click after that (the moment it reconnected) to the other replica's answer drawn
  (local mode: the name prompt of a new session; no wait in between);
- ``total``: stop -> answer drawn; ``restart``: the stopped replica's start until its health check answers.
The store's decision count is checked before and after each round (nothing is lost).

    .venv/bin/python benchmarks/bench_failover.py --rounds 5 [--signal TERM]

SIGKILL (the default) is a crash; SIGTERM is ``systemctl restart``/``stop`` (a rolling upgrade).
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "deploy"), str(ROOT / "tests" / "e2e"), str(ROOT)]

from deploy_harness import deployment  # noqa: E402
from e2e_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from st_helpers import T, WATCH_RUNS, settle  # noqa: E402


def seed(owner_url: str) -> int:
    from watchwait.store import Store

    store = Store(owner_url)
    try:
        m = store.create_meeting(dt.date(2026, 12, 1), "Colorectal MDT", actor="bench_failover")
        store.import_cases(m.id, (ROOT / "sample_data" / "sample_patients.csv").read_bytes(), actor="bench_failover",
                           screen="bench")
        return m.id
    finally:
        store.close()


def count_decisions(owner_url: str) -> int:
    import psycopg

    with psycopg.connect(owner_url) as conn:
        return conn.execute("SELECT count(*) FROM decisions").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--signal", choices=["KILL", "TERM"], default="KILL")
    args = ap.parse_args(argv)
    from playwright.sync_api import expect, sync_playwright

    from watchwait.store.pgserver import PostgresServer

    sig = getattr(signal, f"SIG{args.signal}")
    rows = []
    pg = PostgresServer(fsync=False).start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp, deployment(Path(tmp), pg) as dep, \
                sync_playwright() as pw:
            meeting = seed(dep.owner_url)
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(args.rounds):
                name = "AB"[i % 2]
                replica = dep.replicas[name]
                context = browser.new_context(ignore_https_errors=True, viewport={"width": 1600, "height": 1000})
                context.add_init_script(WATCH_RUNS)
                context.add_cookies([{"name": "ww_route", "value": dep.route_to(name), "url": dep.url,
                                      "secure": True, "httpOnly": True, "sameSite": "Lax"}])
                page = context.new_page()
                page.goto(f"{dep.url}/meeting?meeting={meeting}&case=2")
                box = page.get_by_label("Your name", exact=True).first
                box.fill("Dr Chair")
                box.press("Enter")
                settle(page)
                expect(page.get_by_role("heading", name="Case 2 of 15: DEMO-02")).to_be_visible(timeout=T)
                before = count_decisions(dep.owner_url)
                sockets: list[tuple[float, object]] = []
                page.on("websocket", lambda ws: sockets.append((time.monotonic(), ws)))
                t0 = time.monotonic()
                replica.proc.send_signal(sig)
                replica.proc.wait()
                t_reconnect = None
                while t_reconnect is None and time.monotonic() - t0 < 60:
                    page.wait_for_timeout(20)
                    live = [t for t, ws in sockets if ws.url.endswith("/_stcore/stream") and not ws.is_closed()]
                    t_reconnect = live[0] if live else None
                if t_reconnect is None:
                    raise SystemExit(f"round {i + 1}: no reconnection within 60 s")
                t_click = time.monotonic()
                page.get_by_role("button", name="Next case").click()
                expect(page.get_by_text("Enter your name to run a meeting")).to_be_visible(timeout=T)
                t_answer = time.monotonic()
                after = count_decisions(dep.owner_url)
                context.close()
                t_start = time.monotonic()
                replica.start()
                rows.append({"round": i + 1, "replica": name, "reconnect": t_reconnect - t0,
                             "answered": t_answer - t_click, "total": t_answer - t0,
                             "restart": time.monotonic() - t_start, "lost": before - after})
                r = rows[-1]
                print(f"round {r['round']} (replica {name} SIG{args.signal}): reconnect {r['reconnect']:.2f} s, "
                      f"answered {r['answered']:.2f} s, total {r['total']:.2f} s, restart {r['restart']:.2f} s, "
                      f"decisions lost {r['lost']}", flush=True)
            browser.close()
    finally:
        pg.stop()
    print(f"\nSIG{args.signal}, {len(rows)} rounds: median (max)")
    for key in ("reconnect", "answered", "total", "restart"):
        values = [r[key] for r in rows]
        print(f"  {key:<10} {statistics.median(values):6.2f} s  ({max(values):.2f} s)")
    print(f"  decisions lost: {sum(r['lost'] for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
