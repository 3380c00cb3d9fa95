"""The dashboard itself signed in through a real OpenID Connect provider (issue 20): ``components/serve.py`` (what
``make run`` serves) with ``[auth]`` pointing at tests/oidc's provider and ``[watchwait_auth.roles]`` mapping its
mdt-* groups, a case store seeded with the sample patients on meeting 1, Debian's Chromium through Playwright.

- An anonymous browser, on the root and on deep links, sees the sign-in screen and nothing of a patient; after the
  sign-in the deep link's screen opens (components/serve.SignInCookies keeps it across the provider's round trip).
- The sidebar says who is signed in, there is no name box, and "Sign out" is one click.
- What a signed-in person writes carries the provider's name and subject in the audit trail.
- An idle screen (the shared screen too) and an expired identity token end on the sign-in screen by themselves,
  saying why.
- A person whose groups grant no watchwait role sees a plain message and nothing else.
- Each role's Meeting screen is photographed into test-artifacts/oidc/ (looked at by a person).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from harness import ARTIFACTS, ROOT, USERS, keep_log, serving_app, start_provider, stop_provider
from st_helpers import shot  # tests/e2e (on sys.path by conftest.py): the whole app, grown to fit its main area

pytestmark = pytest.mark.e2e

SERVE = ROOT / "components" / "serve.py"
T = 30_000  # ms
ROLES = {"viewer": ["mdt-viewer"], "clinician": ["mdt-clinician"], "chair": ["mdt-chair"],
         "administrator": ["mdt-admin"]}
DEEP_LINKS = {
    "root": ("/", "Patient", None),
    "stored case": ("/cases?stored=DEMO-01&version=1", "Cases", "DEMO-01"),
    "meeting case": ("/meeting?meeting=1&case=2", "Meeting", "DEMO-02"),
}


def seed_store(db_url: str) -> None:
    """Meeting 1 with the sample patients imported (case 2 is DEMO-02; DEMO-01 is stored, version 1)."""
    from watchwait.store import Store

    store = Store(db_url)
    try:
        m = store.create_meeting(dt.date(2026, 12, 1), "Colorectal MDT", actor="Seeded by the test")
        store.import_cases(m.id, (ROOT / "sample_data" / "sample_patients.csv").read_bytes(),
                           actor="Seeded by the test", screen="test")
    finally:
        store.close()


def dashboard_settings(idle_minutes: float = 15) -> dict:
    return {"watchwait_auth": {"roles_claim": "groups", "idle_minutes": idle_minutes, "roles": ROLES}}


def serve_dashboard(folder: Path, provider, idle_minutes: float = 15):
    db_url = f"sqlite:///{folder / 'watchwait.db'}"
    folder.mkdir(parents=True, exist_ok=True)
    seed_store(db_url)
    return serving_app(SERVE, folder, provider, cwd=ROOT, extra_env={"WATCHWAIT_DATABASE_URL": db_url},
                       sections=dashboard_settings(idle_minutes))


@pytest.fixture(scope="module")
def dashboard(request, oidc_provider, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard")
    with serve_dashboard(folder, oidc_provider) as running:
        running.db_url = f"sqlite:///{folder / 'watchwait.db'}"
        yield running
        if request.session.testsfailed:
            keep_log(running.log_path, "dashboard")


@pytest.fixture
def fresh(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


def provider_login_form(page: Page, issuer: str):
    page.wait_for_url(f"{issuer}/interaction/**", timeout=T)
    form = page.locator("form:has(input[name=login])")
    expect(form).to_be_visible(timeout=T)
    return form


def provider_sign_in(page: Page, issuer: str, login: str) -> None:
    form = provider_login_form(page, issuer)
    form.locator("input[name=login]").fill(login)
    form.locator("input[name=password]").fill("any password: devInteractions does not check it")
    form.get_by_role("button", name="Sign-in").click()


def sign_in_screen(page: Page):
    """The dashboard's sign-in screen, once shown: its "Sign in" button."""
    button = page.get_by_role("button", name="Sign in", exact=True)
    expect(button).to_be_visible(timeout=T)
    return button


def assert_nothing_of_a_patient(page: Page) -> None:
    text = page.locator("body").inner_text()
    for word in ("DEMO-0", "Colorectal MDT", "pMMR", "Your name"):
        assert word not in text, f"{word!r} on the sign-in screen:\n{text}"
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert page.get_by_test_id("ww-facts").count() == 0


def sign_in_from_the_screen(page: Page, issuer: str, login: str) -> None:
    sign_in_screen(page).click()
    provider_sign_in(page, issuer, login)


def signed_in_as(page: Page, login: str, roles: str) -> None:
    expect(page.get_by_text(f"Signed in as {USERS[login]['name']} ({roles})")).to_be_visible(timeout=T)


@pytest.mark.parametrize("link", list(DEEP_LINKS), ids=list(DEEP_LINKS))
def test_an_anonymous_browser_sees_the_sign_in_screen_and_then_the_link_it_opened(dashboard, oidc_provider, fresh,
                                                                                   link):
    path, heading, shown = DEEP_LINKS[link]
    page = fresh.new_page()
    page.goto(dashboard.url + path)
    sign_in_screen(page)
    expect(page.get_by_role("heading", name="watchwait")).to_be_visible(timeout=T)
    assert_nothing_of_a_patient(page)
    assert page.url == dashboard.url + path  # the link stays in the address bar
    if link == "root":
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sign-in-screen.png"))
    sign_in_from_the_screen(page, oidc_provider.issuer, "clinician")
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=T)
    signed_in_as(page, "clinician", "clinician")
    assert page.url == dashboard.url + path  # the deep link came back through the provider
    if shown:
        expect(page.get_by_test_id("stMain")).to_contain_text(shown, timeout=T)
    # signed in: no name box anywhere, no local-mode banner
    assert page.get_by_label("Your name", exact=True).count() == 0
    assert page.get_by_test_id("ww-local-mode").count() == 0


def test_a_deep_link_kept_across_the_sign_in_is_only_a_page_of_the_app(dashboard, oidc_provider, fresh):
    """A crafted link keeps only the app's page and its known keys: never another path or host after sign-in."""
    page = fresh.new_page()
    page.goto(dashboard.url + "/meeting?meeting=1&case=2&next=https://evil.example/&x=%3Cscript%3E")
    sign_in_from_the_screen(page, oidc_provider.issuer, "viewer")
    expect(page.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
    assert page.url.startswith(dashboard.url + "/meeting?meeting=1&case=2")
    assert "evil" not in page.url and "script" not in page.url


def test_sign_out_is_one_click_and_says_so(dashboard, oidc_provider, fresh):
    page = fresh.new_page()
    page.goto(dashboard.url + "/?patient=DEMO-05")
    sign_in_from_the_screen(page, oidc_provider.issuer, "chair")
    expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
    signed_in_as(page, "chair", "chair")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    sign_in_screen(page)
    expect(page.get_by_text("You signed out.")).to_be_visible(timeout=T)
    assert_nothing_of_a_patient(page)
    assert not [c for c in fresh.cookies() if c["name"].startswith("_streamlit_user")]
    # The provider's session ended too: signing in again asks for the login form, not straight back in.
    sign_in_screen(page).click()
    provider_login_form(page, oidc_provider.issuer)


def test_the_audit_carries_the_providers_name_and_subject(dashboard, oidc_provider, fresh):
    """A chair creates a meeting on the Meeting screen: the audit row's actor is the provider's display name and
    its subject the provider's ``sub``, never a typed name."""
    from watchwait.store import Store

    page = fresh.new_page()
    page.goto(dashboard.url + "/meeting")
    sign_in_from_the_screen(page, oidc_provider.issuer, "chair")
    expect(page.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
    signed_in_as(page, "chair", "chair")
    title = f"Signed-in MDT {os.getpid()}-{time.monotonic_ns()}"
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Create meeting").click()
    expect(page.get_by_text("Meeting of ").first).to_be_visible(timeout=T)
    store = Store(dashboard.db_url)
    try:
        deadline = time.monotonic() + 20
        rows = []
        while time.monotonic() < deadline and not rows:
            rows = [a for a in store.audit(limit=50) if a.action == "meeting.created" and title in
                    (store.meeting(a.meeting_id).title if a.meeting_id else "")]
            time.sleep(0.2)
    finally:
        store.close()
    assert len(rows) == 1
    assert rows[0].actor == "Dr C. Chair" and rows[0].actor_subject == "chair" and not rows[0].typed


@pytest.mark.parametrize("login, roles", [("chair", "chair"), ("clinician", "clinician"), ("viewer", "viewer"),
                                          ("admin", "administrator")])
def test_each_roles_meeting_screen(dashboard, oidc_provider, browser, login, roles):
    """Each role's Meeting screen on meeting 1, case 2 (photographed: test-artifacts/oidc/meeting-<role>.png)."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        page.goto(dashboard.url + "/meeting?meeting=1&case=2")
        sign_in_from_the_screen(page, oidc_provider.issuer, login)
        expect(page.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
        signed_in_as(page, login, roles)
        expect(page.get_by_test_id("stMain")).to_contain_text("DEMO-02", timeout=T)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot(page, ARTIFACTS / f"meeting-{roles}.png")
        assert page.get_by_label("Your name", exact=True).count() == 0
    finally:
        context.close()


def test_a_person_without_a_role_sees_a_plain_message_and_nothing_else(dashboard, oidc_provider, fresh):
    page = fresh.new_page()
    page.goto(dashboard.url + "/meeting?meeting=1&case=2")
    sign_in_from_the_screen(page, oidc_provider.issuer, "visitor")
    expect(page.get_by_text(f"Signed in as {USERS['visitor']['name']}, but your account has no watchwait role; ask "
                            "your hospital's IT service desk to add you to one of the groups mdt-viewer, "
                            "mdt-clinician, mdt-chair, mdt-admin.")).to_be_visible(timeout=T)
    assert_nothing_of_a_patient(page)
    page.get_by_role("button", name="Sign out").click()
    sign_in_screen(page)


@contextmanager
def wall(browser):
    """A page of the meeting room's shared screen (1920 x 1080)."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        yield context.new_page()
    finally:
        context.close()


def _interact(page: Page) -> None:
    """A click a person makes (the presentation toggle: a full run of the app)."""
    try:
        page.get_by_text("Presentation mode").first.click()
    except PlaywrightError:  # a timeout among them: keep what the screen showed, then fail
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "interact-failed.png"))
        raise
    page.wait_for_timeout(300)


def test_an_idle_screen_signs_out_by_itself_even_on_the_shared_screen(oidc_provider, browser, oidc_logs_kept):
    """idle_minutes = 1/3 (20 s): clicks every 6 s keep the sign-in for 24 s; then, left alone in Presentation mode
    (the wall screen, no sidebar), the screen goes to the sign-in screen by itself, saying why. (The idle clock
    starts when a run starts: on this loaded machine a first screen has taken up to 15 s to draw, so the limit
    here is well above that.)"""
    idle = 20.0
    with serve_dashboard(oidc_logs_kept / "app", oidc_provider, idle_minutes=idle / 60) as running, \
            wall(browser) as page:
        page.goto(running.url + "/?patient=DEMO-05")
        sign_in_from_the_screen(page, oidc_provider.issuer, "chair")
        expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
        started = time.monotonic()
        for _ in range(4):  # four clicks 6 s apart: 24 s signed in, more than the idle limit
            page.wait_for_timeout(6000)
            _interact(page)
        assert time.monotonic() - started > idle
        expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05")  # still signed in: there was activity
        _interact(page)  # a fifth: on the shared screen now (an odd number of clicks), and nobody touches it
        last = time.monotonic()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=T)  # the header's, no sidebar
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "shared-screen-signed-in.png"))
        sign_in_screen(page)
        gone = time.monotonic() - last
        expect(page.get_by_text("You were signed out after 20 seconds without activity.")).to_be_visible(timeout=T)
        assert_nothing_of_a_patient(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "signed-out-idle.png"))
        print(f"\nidle limit {idle:.0f} s: the shared screen showed the sign-in screen {gone:.1f} s after the last "
              "click")
        assert idle - 1 <= gone <= idle + 10


def test_an_expired_identity_token_signs_out_by_itself(fresh, oidc_logs_kept):
    """The provider's identity token lives 25 s (idle limit 15 minutes): the screen goes to the sign-in screen
    when it expires, saying why, without a click."""
    ttl = 25
    provider = start_provider(oidc_logs_kept / "provider", id_token_ttl=ttl)
    try:
        with serve_dashboard(oidc_logs_kept / "app", provider) as running:
            page = fresh.new_page()
            page.goto(running.url + "/?patient=DEMO-05")
            sign_in_screen(page).click()
            asked = time.time()  # the token is issued after this: it expires after asked + ttl
            provider_sign_in(page, provider.issuer, "clinician")
            expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
            shown = time.time()
            assert shown < asked + ttl, "the first screen took longer than the token's life: nothing left to test"
            sign_in_screen(page)
            gone = time.time()
            expect(page.get_by_text("Your sign-in expired")).to_be_visible(timeout=T)
            assert_nothing_of_a_patient(page)
            print(f"\nidentity token of {ttl} s: patient on screen {shown - asked:.1f} s after the sign-in began, the "
                  f"sign-in screen {gone - asked:.1f} s after it (at most {gone - asked - ttl:.1f} s after the expiry)")
            assert asked + ttl <= gone <= asked + ttl + 10
    finally:
        stop_provider(provider)


def test_signing_out_in_one_tab_signs_the_other_tabs_out_by_themselves(oidc_provider, browser, oidc_logs_kept):
    """Streamlit reads the identity cookie when a tab connects, so st.logout in one tab leaves another open tab
    signed in (test_provider_signin.py). The dashboard remembers the ended sign-in: the other tab's timer (every 3 s
    with idle_minutes = 0.5) finds it and goes to the sign-in screen without a click, well before the idle limit."""
    with serve_dashboard(oidc_logs_kept / "app", oidc_provider, idle_minutes=0.5) as running:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            first = context.new_page()
            first.goto(running.url + "/?patient=DEMO-05")
            sign_in_from_the_screen(first, oidc_provider.issuer, "chair")
            expect(first.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
            second = context.new_page()
            second.goto(running.url + "/cases?stored=DEMO-01&version=1")  # signed in by the cookie
            expect(second.get_by_role("heading", name="Cases").first).to_be_visible(timeout=T)
            signed_in_as(second, "chair", "chair")
            first.bring_to_front()
            first.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
            out = time.monotonic()
            sign_in_screen(first)
            sign_in_screen(second)
            after = time.monotonic() - out
            assert_nothing_of_a_patient(second)
            print(f"\nthe other tab showed the sign-in screen {after:.1f} s after the sign-out")
            assert after < 20  # the idle limit is 30 s: this was the sign-out, not idleness
        finally:
            context.close()
