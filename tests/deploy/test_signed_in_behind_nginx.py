"""The deployment of test_behind_nginx.py signed in through the real OpenID Connect provider of tests/oidc (issue 20's
sign-in): both replicas read one .streamlit/secrets.toml whose ``[auth]`` (with one ``cookie_secret``) and
``[watchwait_auth]`` roles the guide writes; the provider's redirect URI is nginx's https address.

- The chair signs in through nginx on replica A and records a decision; a viewer signed in on replica B watches the
  same meeting and sees it.
- Replica A is killed mid-meeting: the chair's tab reconnects to B and its next click runs there still signed in as
  the chair (the identity cookie A signed is accepted by B: the shared cookie_secret), with no sign-in again; a reload
  of the meeting link continues at the same case; the decisions in the store before and after are the same, and the
  next decision recorded on B carries the provider's name and subject.
- A decision typed on A and sent after A died reaches B with the form's values: recorded exactly as typed, or refused
  saying what is missing with what was typed kept; never recorded otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import pytest
from deploy_harness import ROOT, deployment
from deploy_pages import case_heading, decide, decisions_of, next_case, pinned_page, served_by
from playwright.sync_api import Page, expect
from st_helpers import T, settle

sys.path.insert(0, str(ROOT / "tests" / "oidc"))
from harness import GROUPS_SCOPE, USERS, auth_section, oidc_provider, write_secrets  # noqa: E402,F401  (fixture)

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts" / "deploy"
ROLES = {"viewer": ["mdt-viewer"], "clinician": ["mdt-clinician"], "chair": ["mdt-chair"],
         "administrator": ["mdt-admin"]}


@pytest.fixture(scope="module")
def signed_in_deployment(request, pg_server, oidc_provider, tmp_path_factory):
    folder = tmp_path_factory.mktemp("deploy-signed-in")

    def secrets(url: str) -> str:
        """The guide's secrets.toml: [auth] for the provider (a client registered for nginx's address) and
        [watchwait_auth] mapping the provider's groups to watchwait's roles."""
        auth = auth_section(oidc_provider, url, scope=GROUPS_SCOPE)
        path = write_secrets(folder / "secrets-draft", auth, {
            "watchwait_auth": {"roles_claim": "groups", "idle_minutes": 15, "roles": ROLES}})
        return path.read_text()

    with deployment(folder, pg_server, secrets=secrets, database="watchwait_signed_in") as dep:
        from watchwait.store import Store

        store = Store(dep.owner_url)
        try:
            dep.meeting = store.create_meeting(dt.date(2026, 12, 1), "Colorectal MDT", actor="Seeded by the test").id
            store.import_cases(dep.meeting, (ROOT / "sample_data" / "sample_patients.csv").read_bytes(),
                               actor="Seeded by the test", screen="test")
        finally:
            store.close()
        try:
            yield dep
        finally:
            if request.session.testsfailed:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                (ARTIFACTS / "deployment-signed-in.log").write_text(dep.logs())


def sign_in(page: Page, issuer: str, login: str) -> None:
    """From the dashboard's sign-in screen through the provider's login form (tests/oidc's steps)."""
    page.get_by_role("button", name="Sign in", exact=True).click(timeout=T)
    page.wait_for_url(f"{issuer}/interaction/**", timeout=T)
    form = page.locator("form:has(input[name=login])")
    form.locator("input[name=login]").fill(login)
    form.locator("input[name=password]").fill("any password: devInteractions does not check it")
    form.get_by_role("button", name="Sign-in").click()


def signed_in_as(page: Page, login: str, roles: str) -> None:
    expect(page.get_by_text(f"Signed in as {USERS[login]['name']} ({roles})")).to_be_visible(timeout=T)


def test_signed_in_meeting_across_replicas_and_a_failover(signed_in_deployment, oidc_provider, browser):
    dep = signed_in_deployment
    a = dep.replicas["A"]
    link = f"{dep.url}/meeting?meeting={dep.meeting}&case=1"
    chair = pinned_page(browser, dep, "A")
    viewer = pinned_page(browser, dep, "B")
    try:
        chair.goto(link)
        sign_in(chair, oidc_provider.issuer, "chair")
        expect(chair.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
        settle(chair)
        signed_in_as(chair, "chair", "chair")
        assert chair.url.startswith(dep.url)  # back through nginx, on https
        case_heading(chair, "Case 1 of 15: DEMO-01")
        assert chair.get_by_label("Your name", exact=True).count() == 0
        decide(chair, "Watch-and-wait", True, "Clinical complete response on every test",
               present="Dr C. Chair\nDr B. Surgeon")
        expect(chair.get_by_text("Decision recorded for DEMO-01: Watch-and-wait")).to_be_visible(timeout=T)
        next_case(chair, "Case 2 of 15: DEMO-02")
        assert served_by(dep, chair) == "A"

        viewer.goto(link)
        sign_in(viewer, oidc_provider.issuer, "viewer")
        expect(viewer.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
        settle(viewer)
        signed_in_as(viewer, "viewer", "viewer")
        case_heading(viewer, "Case 1 of 15: DEMO-01")
        expect(viewer.get_by_text("Decision recorded: Watch-and-wait")).to_be_visible(timeout=T)
        assert served_by(dep, viewer) == "B"
        before = decisions_of(dep, dep.meeting)
        assert before == {"DEMO-01": ["watch_and_wait"]}

        # A dies; the chair's tab reconnects to B and its next click is answered there, still signed in
        sockets: list[tuple[float, object]] = []
        chair.on("websocket", lambda ws: sockets.append((time.monotonic(), ws)))
        t0 = time.monotonic()
        a.kill()
        reconnected = None
        while time.monotonic() - t0 < 60 and reconnected is None:
            chair.wait_for_timeout(50)
            fresh = [t for t, ws in sockets if ws.url.endswith("/_stcore/stream") and not ws.is_closed()]
            if fresh:
                reconnected = fresh[0] - t0
        assert reconnected is not None, "the page opened no new WebSocket within 60 s"
        chair.wait_for_timeout(1000)
        chair.get_by_role("button", name="Next case").click()
        settle(chair)
        signed_in_as(chair, "chair", "chair")
        first_click = time.monotonic() - t0
        assert chair.get_by_role("button", name="Sign in", exact=True).count() == 0
        assert served_by(dep, chair) == "B"
        assert decisions_of(dep, dep.meeting) == before

        chair.goto(link.replace("case=1", "case=2"))
        expect(chair.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
        settle(chair)
        signed_in_as(chair, "chair", "chair")
        case_heading(chair, "Case 2 of 15: DEMO-02")
        back_at_case = time.monotonic() - t0
        decide(chair, "Total mesorectal excision (TME)", False, "Residual scar, patient wants certainty",
               reason="Patient's informed choice")
        expect(chair.get_by_text("Decision recorded for DEMO-02")).to_be_visible(timeout=T)
        assert decisions_of(dep, dep.meeting) == {"DEMO-01": ["watch_and_wait"], "DEMO-02": ["tme"]}
        import psycopg

        with psycopg.connect(dep.owner_url) as conn:
            actors = conn.execute("SELECT actor, actor_subject FROM decisions ORDER BY id").fetchall()
        assert actors == [("Dr C. Chair", "chair"), ("Dr C. Chair", "chair")]  # one on A, one on B

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "failover-signed-in.json").write_text(json.dumps(
            {"reconnected_s": round(reconnected, 2), "first_click_answered_s": round(first_click, 2),
             "back_at_case_s": round(back_at_case, 2)}, indent=1))
        print(f"signed-in failover: reconnected {reconnected:.2f} s, first click {first_click:.2f} s, "
              f"back at the case {back_at_case:.2f} s")
    finally:
        chair.context.close()
        viewer.context.close()
        if not a.running():
            a.start()


def test_a_decision_typed_before_the_failover_and_sent_after_it(signed_in_deployment, oidc_provider, browser):
    """The chair fills the decision form on A (not sent), A dies, the chair clicks "Record the decision" on the page A
    drew. The click reaches B in a new session, signed in, with the form's values: B either records exactly what was
    typed or records nothing and says what is missing, keeping what was typed (here the people present came back
    empty: "Not recorded. The people present are required..."); filled again, it is recorded on B as typed."""
    dep = signed_in_deployment
    a = dep.replicas["A"]
    rationale = "Typed on A, sent after A died"
    chair = pinned_page(browser, dep, "A")
    try:
        chair.goto(f"{dep.url}/meeting?meeting={dep.meeting}&case=3")
        sign_in(chair, oidc_provider.issuer, "chair")
        expect(chair.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
        settle(chair)
        case_heading(chair, "Case 3 of 15: DEMO-03")
        assert served_by(dep, chair) == "A"
        form = chair.locator("[data-testid='stForm']").filter(has_text="Pathway decided")
        form.get_by_text("Local excision", exact=True).click()
        form.get_by_text("Yes, it follows the suggestion", exact=True).click()
        form.get_by_label("Rationale (required)").fill(rationale)
        form.get_by_label("People present (one per line; required)").fill("Dr C. Chair")
        settle(chair)
        before = decisions_of(dep, dep.meeting)
        assert "DEMO-03" not in before

        sockets: list = []
        chair.on("websocket", lambda ws: sockets.append(ws))
        a.kill()
        for _ in range(600):
            chair.wait_for_timeout(50)
            if any(ws.url.endswith("/_stcore/stream") and not ws.is_closed() for ws in sockets):
                break
        chair.wait_for_timeout(1000)
        form.get_by_role("button", name="Record the decision").click()
        settle(chair)
        signed_in_as(chair, "chair", "chair")
        assert served_by(dep, chair) == "B"
        recorded = decisions_of(dep, dep.meeting).get("DEMO-03", [])
        if not recorded:  # refused, saying why, with what was typed still in the form
            expect(chair.get_by_text("Not recorded.", exact=False).first).to_be_visible(timeout=T)
            assert form.get_by_label("Rationale (required)").input_value() == rationale
            assert form.get_by_role("radio", name="Local excision", exact=True).is_checked()
            form.get_by_label("People present (one per line; required)").fill("Dr C. Chair")
            settle(chair)
            form.get_by_role("button", name="Record the decision").click()
            settle(chair)
        expect(chair.get_by_text("Decision recorded for DEMO-03")).to_be_visible(timeout=T)
        import psycopg

        with psycopg.connect(dep.owner_url) as conn:
            rows = conn.execute("SELECT d.pathway, d.rationale, d.actor FROM decisions d JOIN patients p "
                                "ON p.id = d.patient_id WHERE p.pseudonym = 'DEMO-03' AND d.meeting_id = %s",
                                (dep.meeting,)).fetchall()
        assert rows == [("local_excision", rationale, "Dr C. Chair")]
        assert {k: v for k, v in decisions_of(dep, dep.meeting).items() if k != "DEMO-03"} == before
    finally:
        chair.context.close()
        if not a.running():
            a.start()
