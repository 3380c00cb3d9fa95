"""Sign-in to the first patient on screen (issue 20), in Chromium, through a real OpenID Connect provider.

    .venv/bin/python benchmarks/bench_signin.py [--runs 5]

The dashboard as ``make run`` serves it (``streamlit run components/serve.py``) with ``[auth]`` pointing at
tests/oidc's provider (npm ``oidc-provider`` on loopback; ``make oidc`` installs it) and a case store seeded with the
sample patients. Each run is a new browser context (no cookies: a person arriving at the dashboard) opening the link
``/?patient=DEMO-05``; the clock runs from opening the link until the patient's key facts (DEMO-05) are on screen
after the sign-in, in three parts:

- link opened -> the dashboard's sign-in screen ("Sign in" button visible);
- "Sign in" clicked -> the provider's login form visible;
- login form submitted -> the patient's key facts on screen (the provider's redirect, Streamlit's token exchange,
  the deep link restored by components/serve.SignInCookies, the Patient screen's first run).

Typing into the provider's form is not timed (Playwright fills it at once). The first run of the server (a cold
start: the model loads in its warm-up) is run and reported apart, then ``--runs`` warm runs: median, min, max.
Not a test: prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "oidc"), str(ROOT / "tests" / "e2e"), str(ROOT)]

from e2e_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from harness import start_provider, stop_provider  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

T = 60_000
PARTS = ("link -> sign-in screen", "Sign in -> provider's form", "form submitted -> patient on screen", "in all")


def one_run(browser, url: str, issuer: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(f"{url}/?patient=DEMO-05")
        button = page.get_by_role("button", name="Sign in", exact=True)
        expect(button).to_be_visible(timeout=T)
        t1 = time.perf_counter()
        button.click()
        page.wait_for_url(f"{issuer}/interaction/**", timeout=T)
        form = page.locator("form:has(input[name=login])")
        expect(form).to_be_visible(timeout=T)
        t2 = time.perf_counter()
        form.locator("input[name=login]").fill("clinician")
        form.locator("input[name=password]").fill("any")
        t3 = time.perf_counter()
        form.get_by_role("button", name="Sign-in").click()
        expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
        t4 = time.perf_counter()
        return dict(zip(PARTS, (t1 - t0, t2 - t1, t4 - t3, (t4 - t3) + (t2 - t0))))
    finally:
        context.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "oidc"))
    from test_signin_screens import serve_dashboard  # the tests' own seeded dashboard

    with tempfile.TemporaryDirectory() as tmp:
        provider = start_provider(Path(tmp) / "provider")
        try:
            with serve_dashboard(Path(tmp) / "app", provider) as app, sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                cold = one_run(browser, app.url, provider.issuer)
                runs = [one_run(browser, app.url, provider.issuer) for _ in range(args.runs)]
                browser.close()
        finally:
            stop_provider(provider)
    print(f"\nSign-in to the first patient on screen (Chromium, real provider, `{Path(__file__).name}`); "
          f"{args.runs} warm runs after one cold run\n")
    print("| part | cold (first after start) | median | min | max |")
    print("|---|---|---|---|---|")
    for part in PARTS:
        xs = [r[part] for r in runs]
        print(f"| {part} | {cold[part]:.2f} s | {statistics.median(xs):.2f} s | {min(xs):.2f} s | {max(xs):.2f} s |")


if __name__ == "__main__":
    main()
