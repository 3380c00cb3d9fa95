"""Load on one dashboard server, measured with Streamlit's own WebSocket protocol (issue 22, item 3).

Each simulated clinician is a WebSocket session speaking what the browser speaks (``/_stcore/stream``; protobuf
``BackMsg.rerun_script`` with the page and every widget's state, answered by ``ForwardMsg`` deltas until
``script_finished``), so the server, not a browser, is what is measured. A session repeats what a clinician does
on the dashboard: open the Patient screen, open a sample patient (picker + Load), edit one field (CEA at response
assessment), go to the Assessment screen (the probability, interval, reasons and suggestion), and back; with a
think time between clicks (uniform 1-3 s: a person reads before clicking).

Reported per number of concurrent sessions N: p50/p95 of the time from sending a rerun to its ``script_finished``
per interaction kind, errors (an exception element on the page, a rerun not finished within 60 s, a dropped
connection), the server's CPU seconds per interaction (psutil, the whole server process), and its resident memory
sampled every 5 s (first and last minute of the run, to see whether it levels off).

Run: ``python benchmarks/bench_load.py --sessions 5 10 25 50 --seconds 120`` (starts ``make run``'s server on a
free loopback port with the embedded defaults; ``--url`` to measure a running one instead, without CPU figures).
Needs ``websockets`` and ``psutil`` (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parents[1]
RERUN_TIMEOUT = 60.0
SAMPLE_PICKER = "sample_choice"
LOAD_BUTTON = "load_sample"
EDIT_FIELD = "field:patient:cea_post_ng_ml"


@dataclass
class Widget:
    kind: str
    id: str
    label: str
    options: list[str] = field(default_factory=list)


class Session:
    """One browser tab, as the server sees it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = None
        self.pages: dict[str, str] = {}  # page title -> page_script_hash
        self.page = ""
        self.widgets: dict[str, Widget] = {}  # user key (the part after the hash) -> widget
        self.values: dict[str, WidgetState] = {}  # widget id -> the state sent with every rerun
        self.texts: list[str] = []  # the page's markdown and headings of the last rerun (for --check)

    async def connect(self) -> None:
        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        tls = None
        if self.url.startswith("https"):  # the test deployment's self-signed certificate
            import ssl

            tls = ssl.create_default_context()
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None, origin=self.url,
                                           open_timeout=30, ping_interval=None, ssl=tls)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _key(self, widget_id: str) -> str:
        return widget_id.split("-", 2)[-1] if widget_id.startswith("$$ID-") else widget_id

    async def rerun(self, page: str | None = None, triggers: tuple[str, ...] = ()) -> tuple[float, str | None]:
        """Send one rerun (the current widget states plus ``triggers``, a click each) and read to its end.
        Returns (seconds, error or None)."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        if page is not None:
            self.page = self.pages.get(page, "")
        cs.page_script_hash = self.page
        for state in self.values.values():
            cs.widget_states.widgets.append(state)
        for key in triggers:
            w = self.widgets[key]
            cs.widget_states.widgets.append(WidgetState(id=w.id, trigger_value=True))
        self.widgets = {}
        self.texts = []
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        error = None
        try:
            while True:
                data = await asyncio.wait_for(self.ws.recv(), timeout=RERUN_TIMEOUT)
                f = ForwardMsg()
                f.ParseFromString(data)
                kind = f.WhichOneof("type")
                if kind == "navigation":
                    self.pages = {p.page_name: p.page_script_hash for p in f.navigation.app_pages}
                    if not self.page:
                        self.page = f.navigation.page_script_hash
                elif kind == "delta" and f.delta.WhichOneof("type") == "new_element":
                    el = f.delta.new_element
                    t = el.WhichOneof("type")
                    if t in ("markdown", "heading"):
                        self.texts.append(getattr(el, t).body)
                    if t == "exception":
                        error = f"exception on the page: {el.exception.type}: {el.exception.message[:120]}"
                    w = getattr(el, t)
                    wid = getattr(w, "id", "")
                    if wid:
                        self.widgets[self._key(wid)] = Widget(t, wid, getattr(w, "label", ""),
                                                              list(getattr(w, "options", [])))
                elif kind == "script_finished":
                    break
        except asyncio.TimeoutError:
            error = f"no end of the rerun within {RERUN_TIMEOUT:.0f} s"
        except websockets.ConnectionClosed as exc:
            error = f"connection closed: {exc}"
        return time.perf_counter() - t0, error

    def set_text(self, key: str, value: str) -> None:
        w = self.widgets[key]
        self.values[w.id] = WidgetState(id=w.id, string_value=value)

    def set_choice(self, key: str, option: str) -> None:
        w = self.widgets[key]
        self.values[w.id] = WidgetState(id=w.id, string_value=option)


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, kind: str, took: float, error: str | None) -> None:
        self.times.setdefault(kind, []).append(took)
        if error:
            self.errors.append(f"{kind}: {error}")

    @property
    def n(self) -> int:
        return sum(len(v) for v in self.times.values())


async def clinician(url: str, seed: int, until: float, res: Results, think: tuple[float, float]) -> None:
    rng = random.Random(seed)
    s = Session(url)
    try:
        await s.connect()
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:  # counted as an error of the run
        res.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    try:
        took, err = await s.rerun()
        res.add("open the Patient screen", took, err)
        while time.monotonic() < until:
            await asyncio.sleep(rng.uniform(*think))
            if SAMPLE_PICKER not in s.widgets:
                took, err = await s.rerun(page="Patient")
                res.add("go to the Patient screen", took, err)
                continue
            options = s.widgets[SAMPLE_PICKER].options
            s.set_choice(SAMPLE_PICKER, rng.choice(options))
            took, err = await s.rerun(triggers=(LOAD_BUTTON,))
            res.add("open a sample patient", took, err)
            await asyncio.sleep(rng.uniform(*think))
            if EDIT_FIELD in s.widgets:
                s.set_text(EDIT_FIELD, f"{rng.uniform(0.5, 20):.1f}")
                took, err = await s.rerun()
                res.add("edit one field", took, err)
                await asyncio.sleep(rng.uniform(*think))
            took, err = await s.rerun(page="Assessment")
            res.add("go to the Assessment screen", took, err)
            await asyncio.sleep(rng.uniform(*think))
            took, err = await s.rerun(page="Patient")
            res.add("go to the Patient screen", took, err)
    finally:
        await s.close()


async def check(url: str) -> None:
    """One session's steps with what each screen showed: that the load test does what it says."""
    s = Session(url)
    await s.connect()
    try:
        took, err = await s.rerun()
        print(f"open: {took:.2f} s, error {err}; pages {sorted(s.pages)}")
        s.set_choice(SAMPLE_PICKER, s.widgets[SAMPLE_PICKER].options[3])
        took, err = await s.rerun(triggers=(LOAD_BUTTON,))
        print(f"open {s.widgets[SAMPLE_PICKER].options[3]!r}: {took:.2f} s, error {err}; "
              f"{[t for t in s.texts if 'DEMO' in t][:2]}")
        s.set_text(EDIT_FIELD, "12.5")
        took, err = await s.rerun()
        print(f"edit: {took:.2f} s, error {err}; {[t[:100] for t in s.texts if 'Unsaved' in t or 'CEA' in t][:2]}")
        took, err = await s.rerun(page="Assessment")
        print(f"Assessment: {took:.2f} s, error {err}; {[t[:100] for t in s.texts if '%' in t][:3]}")
    finally:
        await s.close()


def browser_sessions(url: str, k: int, until: float, res: Results, think) -> None:
    """``k`` real Chromium pages (Debian's, through Playwright, with the end-to-end tests' helpers) doing the same
    steps while the protocol sessions run: the same interactions timed from the click to the end of the run it asked
    for (``st_helpers.settle``), so the protocol's figures can be read against a browser's."""
    import threading

    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from e2e_server import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    from st_helpers import WATCH_RUNS, go, load_sample, open_app, settle

    def one(i: int) -> None:
        rng = random.Random(500 + i)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_init_script(WATCH_RUNS)
            page = context.new_page()
            try:
                t = time.perf_counter()
                open_app(page, url)
                res.add("browser: open the Patient screen", time.perf_counter() - t, None)
                samples = [f"DEMO-{n:02d}" for n in range(1, 16)]
                while time.monotonic() < until:
                    time.sleep(rng.uniform(*think))
                    t = time.perf_counter()
                    load_sample(page, rng.choice(samples))
                    res.add("browser: open a sample patient", time.perf_counter() - t, None)
                    time.sleep(rng.uniform(*think))
                    box = page.get_by_label("CEA at response assessment (ng/mL, 0-10000)", exact=True)
                    t = time.perf_counter()
                    box.fill(f"{rng.uniform(0.5, 20):.1f}")
                    box.press("Enter")
                    settle(page)
                    res.add("browser: edit one field", time.perf_counter() - t, None)
                    time.sleep(rng.uniform(*think))
                    t = time.perf_counter()
                    go(page, "Assessment")
                    res.add("browser: go to the Assessment screen", time.perf_counter() - t, None)
                    time.sleep(rng.uniform(*think))
                    go(page, "Patient")
            except (PlaywrightError, AssertionError) as exc:  # a timeout, or expect() not met: an error of the run
                res.errors.append(f"browser {i}: {type(exc).__name__}: {str(exc)[:160]}")
            finally:
                browser.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(options: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """``make run``'s server on a free loopback port; ``options``: extra ``section.name=value`` settings."""
    port = free_port()
    streamlit = Path(sys.executable).with_name("streamlit")
    extra = [x for o in options for x in (f"--{o.partition('=')[0]}", o.partition("=")[2])]
    proc = subprocess.Popen([str(streamlit), "run", "components/serve.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false", *extra], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become healthy within 60 s")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


async def run_level(url: str, n: int, seconds: float, procs: list[psutil.Process], think, browsers: int = 0) -> dict:
    res = Results()

    def cpu_now() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    cpu0 = cpu_now()
    rss: list[tuple[float, float]] = []
    until = time.monotonic() + seconds
    start = time.monotonic()

    async def sample() -> None:
        while time.monotonic() < until + 5:
            if procs:
                rss.append((time.monotonic() - start, sum(p.memory_info().rss for p in procs) / 1024 ** 2))
            await asyncio.sleep(5)

    sampler = asyncio.create_task(sample())
    side = [asyncio.to_thread(browser_sessions, url, browsers, until, res, think)] if browsers else []
    await asyncio.gather(*(clinician(url, 1000 * n + i, until, res, think) for i in range(n)), *side)
    sampler.cancel()
    cpu = (cpu_now() - cpu0) if procs else float("nan")
    return dict(n=n, res=res, cpu=cpu, rss=rss, wall=time.monotonic() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[5, 10, 25, 50])
    ap.add_argument("--seconds", type=float, default=120.0, help="how long each level runs")
    ap.add_argument("--think", type=float, nargs=2, default=[1.0, 3.0], help="think time between clicks (s)")
    ap.add_argument("--url", default=None, help="a running dashboard (no CPU or memory figures)")
    ap.add_argument("--deployment", action="store_true",
                    help="measure deploy/ as the guide sets it up: nginx (TLS, sticky sessions) in front of two replicas "
                         "and one PostgreSQL (tests/deploy's harness, local mode); CPU and memory are the replicas' sum")
    ap.add_argument("--check", action="store_true", help="run one session's steps and print what each screen showed")
    ap.add_argument("--browsers", type=int, default=0,
                    help="also run this many real Chromium sessions doing the same steps (timed apart)")
    ap.add_argument("--option", action="append", default=[], metavar="SECTION.NAME=VALUE",
                    help="a Streamlit setting for the server started here (e.g. runner.postScriptGC=true)")
    args = ap.parse_args()
    procs: list[psutil.Process] = []
    server = None
    stack = contextlib.ExitStack()
    if args.url:
        url = args.url.rstrip("/")
    elif args.deployment:
        sys.path.insert(0, str(ROOT / "tests" / "deploy"))
        from deploy_harness import deployment

        from watchwait.store.pgserver import PostgresServer

        pg = PostgresServer(fsync=False).start()
        stack.callback(pg.stop)
        dep = stack.enter_context(deployment(Path(stack.enter_context(tempfile.TemporaryDirectory())), pg))
        url = dep.url
        procs = [psutil.Process(r.proc.pid) for r in dep.replicas.values()]
    else:
        server, url = start_server(args.option)
        procs = [psutil.Process(server.pid)]
    try:
        if args.check:
            asyncio.run(check(url))
            return
        rows = []
        for n in args.sessions:
            rows.append(asyncio.run(run_level(url, n, args.seconds, procs, tuple(args.think), args.browsers)))
            r = rows[-1]
            print(f"N={n}: {r['res'].n} interactions, {len(r['res'].errors)} errors, CPU {r['cpu']:.1f} s", flush=True)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=20)
        stack.close()
    print()
    if args.option:
        print("server settings:", ", ".join(args.option))
    print("| sessions | interactions | errors | rerun p50 (s) | rerun p95 (s) | edit one field p50 / p95 (s) | "
          "Assessment p50 / p95 (s) | server CPU per interaction (s) | RSS first -> last minute (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        res = r["res"]
        every = [t for k, v in res.times.items() if not k.startswith("browser") for t in v]
        edit = res.times.get("edit one field", [float("nan")])
        assess = res.times.get("go to the Assessment screen", [float("nan")])
        first = [m for t, m in r["rss"] if t <= 60]
        last = [m for t, m in r["rss"] if t >= r["wall"] - 60]
        rss = f"{statistics.mean(first):.0f} -> {statistics.mean(last):.0f}" if first and last else "n/a"
        print(f"| {r['n']} | {res.n} | {len(res.errors)} | {pct(every, .5):.3f} | {pct(every, .95):.3f} | "
              f"{pct(edit, .5):.3f} / {pct(edit, .95):.3f} | {pct(assess, .5):.3f} / {pct(assess, .95):.3f} | "
              f"{r['cpu'] / max(res.n, 1):.3f} | {rss} |")
    if args.browsers:
        print()
        print(f"The same steps in {args.browsers} real Chromium session(s) alongside, from the click to the end of its run:")
        print("| sessions | step | protocol p50 / p95 (s) | Chromium p50 / p95 (s) | Chromium n |")
        print("|---|---|---|---|---|")
        for r in rows:
            for kind in ("open a sample patient", "edit one field", "go to the Assessment screen"):
                proto, brow = r["res"].times.get(kind, []), r["res"].times.get("browser: " + kind, [])
                if proto and brow:
                    print(f"| {r['n']} | {kind} | {pct(proto, .5):.3f} / {pct(proto, .95):.3f} | "
                          f"{pct(brow, .5):.3f} / {pct(brow, .95):.3f} | {len(brow)} |")
    for r in rows:
        minutes: dict[int, list[float]] = {}
        for t, m in r["rss"]:
            minutes.setdefault(int(t // 60), []).append(m)
        if len(minutes) > 2:
            print(f"N={r['n']} resident memory by minute (MB): "
                  + ", ".join(f"{max(v):.0f}" for _, v in sorted(minutes.items())))
    for r in rows:
        for e in sorted(set(r["res"].errors))[:5]:
            print(f"N={r['n']} error: {e}")


if __name__ == "__main__":
    main()
