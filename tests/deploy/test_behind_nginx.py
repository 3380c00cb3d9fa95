"""The dashboard as a hospital deploys it (deploy/GUIDE.md), in Chromium: Debian's nginx with the shipped site file and
a self-signed certificate, in front of two replicas started with the shipped unit's command line and Streamlit
settings, one PostgreSQL database reached with the application role (read and append only).

- through https the Patient screen renders and every response carries the security headers and HSTS exactly once;
  plain http only redirects; the agent API is refused;
- a meeting driven on replica A and watched on replica B shows the same decisions, both ways;
- the replica a browser is on is killed mid-meeting: the browser reconnects through nginx to the other replica, a
  reload of the meeting link carries on at the same case, nothing recorded is lost (decision counts in the store
  before and after), and the time to fail over is measured (test-artifacts/deploy/failover.json).

Local mode (nobody signs in; the name is typed per session): the replicas bind 127.0.0.1, as local mode requires.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from deploy_harness import ROOT, fetch
from deploy_pages import (case_heading, create_meeting_with_cases, decide, decisions_of, enter_name, next_case,
                          open_meeting_screen, pinned_page, route_of, served_by)
from playwright.sync_api import expect
from st_helpers import T, settle

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts" / "deploy"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}


# ------------------------------------------------------------------------------------------------ tests
def test_https_only_with_the_security_headers(deployed, browser):
    url = deployed.url
    # plain http: a redirect to https, same path and query, nothing else
    http = fetch(f"http://127.0.0.1:{deployed.nginx.http_port}/meeting?meeting=1&case=2")
    assert http.status == 301 and http.header("Location") == ["https://127.0.0.1/meeting?meeting=1&case=2"]
    assert http.header("Server") == ["nginx"]  # no version

    index = fetch(f"{url}/")
    assert index.status == 200
    asset = re.search(rb'src="\./(static/js/[^"]+\.js)"', index.body)
    assert asset, index.body[:500]
    for path in ("/", "/meeting?meeting=1&case=2", "/_stcore/health", "/healthz", f"/{asset.group(1).decode()}",
                 "/no-such-page/x.png"):
        r = fetch(f"{url}{path}")
        for name, value in SECURITY_HEADERS.items():
            assert r.header(name) == [value], (path, name, r.header(name))  # sent once, by nginx
        assert r.header("Server") == ["nginx"], path
    assert fetch(f"{url}/healthz").body == b"ok"
    assert fetch(f"{url}/_stcore/agent/openapi.json").status == 404

    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    try:
        response = page.goto(url)
        expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
        settle(page)
        assert page.evaluate("location.protocol") == "https:"
        headers = response.all_headers()
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name.lower()) == value, name
        expect(page.get_by_label("Patient pseudonym (required)", exact=True)).to_be_visible(timeout=T)
        [cookie] = [c for c in page.context.cookies() if c["name"] == "ww_route"]
        assert cookie["secure"] and cookie["httpOnly"] and re.fullmatch(r"[0-9a-f]{32}", cookie["value"])
        assert served_by(deployed, page) in ("A", "B")
    finally:
        page.context.close()


def test_a_meeting_driven_on_one_replica_is_watched_on_the_other(deployed, browser):
    chair = pinned_page(browser, deployed, "A")
    watcher = pinned_page(browser, deployed, "B")
    try:
        open_meeting_screen(chair, deployed.url)
        enter_name(chair, "Dr Chair")
        meeting = create_meeting_with_cases(chair, "Colorectal MDT on A")
        decide(chair, "Watch-and-wait", True, "Clinical complete response on every test",
               present="Dr Chair\nDr B. Surgeon")
        expect(chair.get_by_text("Decision recorded for DEMO-01: Watch-and-wait")).to_be_visible(timeout=T)
        next_case(chair, "Case 2 of 15: DEMO-02")
        decide(chair, "Total mesorectal excision (TME)", False, "Residual scar, patient wants certainty",
               reason="Patient's informed choice")
        expect(chair.get_by_text("Decision recorded for DEMO-02")).to_be_visible(timeout=T)
        assert served_by(deployed, chair) == "A"

        # the same meeting link, opened on B: the decisions recorded on A
        watcher.goto(f"{deployed.url}/meeting?meeting={meeting}&case=1")
        enter_name(watcher, "Dr Watcher")
        case_heading(watcher, "Case 1 of 15: DEMO-01")
        expect(watcher.get_by_text("Decision recorded: Watch-and-wait")).to_be_visible(timeout=T)
        next_case(watcher, "Case 2 of 15: DEMO-02")
        expect(watcher.get_by_text("Decision recorded: Total mesorectal excision (TME)")).to_be_visible(timeout=T)
        assert served_by(deployed, watcher) == "B"

        # and the other way: recorded on B, seen on A
        next_case(watcher, "Case 3 of 15: DEMO-03")
        decide(watcher, "Local excision", True, "Near-complete response, small residual scar")
        expect(watcher.get_by_text("Decision recorded for DEMO-03")).to_be_visible(timeout=T)
        next_case(chair, "Case 3 of 15: DEMO-03")
        expect(chair.get_by_text("Decision recorded: Local excision")).to_be_visible(timeout=T)
        for page in (chair, watcher):
            page.get_by_role("button", name="Summary").click()
            settle(page)
            expect(page.get_by_role("heading", name="Summary: 3 of 15 cases decided")).to_be_visible(timeout=T)
        assert (served_by(deployed, chair), served_by(deployed, watcher)) == ("A", "B")
        assert decisions_of(deployed, meeting) == {"DEMO-01": ["watch_and_wait"], "DEMO-02": ["tme"],
                                                   "DEMO-03": ["local_excision"]}
    finally:
        chair.context.close()
        watcher.context.close()


def test_the_replica_a_meeting_is_on_dies_and_the_meeting_carries_on(deployed, browser):
    a, b = deployed.replicas["A"], deployed.replicas["B"]
    page = pinned_page(browser, deployed, "A")
    route = route_of(page)
    try:
        open_meeting_screen(page, deployed.url)
        enter_name(page, "Dr Chair")
        meeting = create_meeting_with_cases(page, "Colorectal MDT, failover")
        decide(page, "Watch-and-wait", True, "Clinical complete response on every test", present="Dr Chair")
        expect(page.get_by_text("Decision recorded for DEMO-01: Watch-and-wait")).to_be_visible(timeout=T)
        next_case(page, "Case 2 of 15: DEMO-02")
        assert served_by(deployed, page) == "A"
        before = decisions_of(deployed, meeting)
        assert before == {"DEMO-01": ["watch_and_wait"]}
        link = page.url

        # replica A crashes mid-meeting (SIGKILL). The tab's WebSocket drops; Streamlit's page polls the health
        # check and opens a new WebSocket, which nginx sends to B (A refuses connections: proxy_next_upstream).
        sockets: list[tuple[float, object]] = []
        page.on("websocket", lambda ws: sockets.append((time.monotonic(), ws)))
        t0 = time.monotonic()
        a.kill()
        reconnected = None
        while time.monotonic() - t0 < 60 and reconnected is None:
            page.wait_for_timeout(50)
            fresh = [(t, ws) for t, ws in sockets if ws.url.endswith("/_stcore/stream") and not ws.is_closed()]
            if fresh:
                reconnected = fresh[0][0] - t0
        assert reconnected is not None, "the page opened no new WebSocket within 60 s"
        page.wait_for_timeout(1000)
        assert not sockets[-1][1].is_closed()  # B kept it open
        assert served_by(deployed, page) == "B"
        # Streamlit's page does not rerun on reconnecting (it takes the server for the one it had): it still shows
        # case 2 as A drew it. Its next click runs on B, in a new session: local mode asks for the name again
        # (nobody acts under a name B was not given), and the meeting link brings the same case back.
        case_heading(page, "Case 2 of 15: DEMO-02")
        page.get_by_role("button", name="Next case").click()
        enter_name(page, "Dr Chair")
        first_click = time.monotonic() - t0
        assert decisions_of(deployed, meeting) == before  # nothing recorded was lost
        page.goto(link)
        enter_name(page, "Dr Chair")
        case_heading(page, "Case 2 of 15: DEMO-02")
        back_at_case = time.monotonic() - t0
        assert decisions_of(deployed, meeting) == before
        mid = sum(map(len, decisions_of(deployed, meeting).values()))

        decide(page, "Total mesorectal excision (TME)", False, "Residual scar, patient wants certainty",
               reason="Patient's informed choice")
        expect(page.get_by_text("Decision recorded for DEMO-02")).to_be_visible(timeout=T)

        # a reload of the meeting link carries on where it was
        page.goto(link)
        enter_name(page, "Dr Chair")
        case_heading(page, "Case 2 of 15: DEMO-02")
        expect(page.get_by_text("Decision recorded: Total mesorectal excision (TME)")).to_be_visible(timeout=T)
        next_case(page, "Case 3 of 15: DEMO-03")
        decide(page, "Local excision", True, "Near-complete response, small residual scar")
        expect(page.get_by_text("Decision recorded for DEMO-03")).to_be_visible(timeout=T)
        after = decisions_of(deployed, meeting)
        assert after == {"DEMO-01": ["watch_and_wait"], "DEMO-02": ["tme"], "DEMO-03": ["local_excision"]}
        assert served_by(deployed, page) == "B"

        # A comes back (systemd's Restart=): the browser's route returns to it at once (max_fails=0: nothing to wait out)
        t_restart = time.monotonic()
        a.start()
        restarted = time.monotonic() - t_restart
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if fetch(f"{deployed.url}/_stcore/health", cookies={"ww_route": route}).status == 200 and \
                    deployed.nginx.upstream_of(route) == a.port:
                break
            time.sleep(0.5)
        assert deployed.nginx.upstream_of(route) == a.port

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        figures = {"reconnected_s": round(reconnected, 2), "first_click_answered_s": round(first_click, 2),
                   "back_at_case_s": round(back_at_case, 2),
                   "replica_restart_s": round(restarted, 2), "decisions_before": sum(map(len, before.values())),
                   "decisions_after_kill": mid, "decisions_end": sum(map(len, after.values()))}
        (ARTIFACTS / "failover.json").write_text(json.dumps(figures, indent=1))
        print(f"failover: {figures}")
        assert b.running()
    finally:
        page.context.close()
        if not a.running():
            a.start()
