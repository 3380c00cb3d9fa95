"""Proof that Streamlit's st.login signs in through a real OpenID Connect provider (issue 20's foundation).

The provider (tests/oidc/provider, npm ``oidc-provider``) runs on loopback; a test-only app (signin_app.py) calls
st.login() for an anonymous browser and otherwise shows st.user. Debian's Chromium, driven by Playwright, fills the
provider's login form as the chair and as the viewer, reads the identity Streamlit surfaced, signs out (one click:
the provider ends its session too) and is asked to sign in again.

What these tests also pin about st.login, for the app to build on (issue 20):
- the roles (``groups``) come only when the app's [auth] asks for the ``groups`` scope;
- Streamlit does not check the identity token's expiry: st.user keeps ``exp`` and the app has to compare it with
  the clock (a provider with a 3-second token shows it); signing out still works after it expired;
- the sign-in comes back to the app's root: a deep link's query is lost;
- st.logout signs out its own tab's session only: another open tab keeps st.user until it reloads.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from harness import USERS, keep_log, serving_app, start_provider, stop_provider

pytestmark = pytest.mark.e2e

APP = Path(__file__).with_name("signin_app.py")
T = 30_000  # ms


@pytest.fixture(scope="module")
def app(request, oidc_provider, tmp_path_factory):
    with serving_app(APP, tmp_path_factory.mktemp("signin-app"), oidc_provider) as running:
        yield running
        if request.session.testsfailed:
            keep_log(running.log_path, "signin-app")


@pytest.fixture
def fresh(browser):
    """A browser context of its own: no cookies from another sign-in."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context
    finally:
        context.close()


def provider_login_form(page: Page, issuer: str):
    """The provider's login form (devInteractions), once the browser is on it."""
    page.wait_for_url(f"{issuer}/interaction/**", timeout=T)
    form = page.locator("form:has(input[name=login])")
    expect(form).to_be_visible(timeout=T)
    return form


def sign_in(page: Page, issuer: str, login: str) -> None:
    form = provider_login_form(page, issuer)
    form.locator("input[name=login]").fill(login)
    form.locator("input[name=password]").fill("any password: devInteractions does not check it")
    form.get_by_role("button", name="Sign-in").click()


def shown_user(page: Page) -> dict:
    """st.user as the app printed it (one ``user: {json}`` line)."""
    line = page.get_by_test_id("stText").filter(has_text="user: ")
    expect(line).to_be_visible(timeout=T)
    return json.loads(line.inner_text().removeprefix("user: "))


def streamlit_cookies(page: Page) -> set[str]:
    return {c["name"] for c in page.context.cookies() if c["name"].startswith("_streamlit_user")}


@pytest.mark.parametrize("login", ["chair", "viewer"])
def test_sign_in_shows_the_providers_identity_and_sign_out_asks_again(app, oidc_provider, fresh, login):
    expected = USERS[login]
    page = fresh.new_page()
    started = time.monotonic()
    page.goto(app.url)
    # An anonymous browser sees no app: st.login() sends it straight to the provider's login form.
    provider_login_form(page, oidc_provider.issuer)
    asked = time.monotonic()
    sign_in(page, oidc_provider.issuer, login)
    submitted = time.monotonic()
    expect(page.get_by_test_id("stText").filter(has_text=f"name: {expected['name']}")).to_be_visible(timeout=T)
    shown = time.monotonic()
    assert page.url.rstrip("/") == app.url  # back on the app's own page, no code or state left in the URL
    print(f"\n{login}: app opened -> provider's form {asked - started:.2f} s; form submitted -> name on screen "
          f"{shown - submitted:.2f} s; in all {shown - started:.2f} s")

    user = shown_user(page)
    assert user["is_logged_in"] is True
    assert user["name"] == expected["name"]
    assert user["sub"] == login  # the provider's stable subject
    assert user["email"] == expected["email"]
    assert user["groups"] == expected["groups"]  # the role, from the `groups` scope the app asked for
    assert user["iss"] == oidc_provider.issuer
    assert user["aud"] == app.auth["client_id"]
    assert set(user) >= {"aud", "email_verified", "exp", "iat", "nonce", "provider", "tokens"}
    assert page.get_by_test_id("stText").filter(has_text=f"sub: {login}").count() == 1
    assert page.get_by_test_id("stText").filter(has_text=f"groups: {json.dumps(expected['groups'])}").count() == 1
    # Streamlit does not check expiry, but st.user carries the identity token's exp: in the future by the TTL.
    now = time.time()
    assert user["exp"] - user["iat"] == oidc_provider.id_token_ttl
    assert now < user["exp"] <= now + oidc_provider.id_token_ttl + 5
    assert page.get_by_test_id("stText").filter(has_text="expired: no").count() == 1
    # The identity lives in Streamlit's signed, HttpOnly cookies (not readable by the page's scripts).
    cookies = {c["name"]: c for c in fresh.cookies()}
    assert {"_streamlit_user", "_streamlit_user_tokens"} <= set(cookies)
    assert cookies["_streamlit_user"]["httpOnly"] and cookies["_streamlit_user"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("_streamlit_user") == -1

    # A reload keeps the person signed in (the cookie), without the provider.
    page.reload()
    expect(page.get_by_test_id("stText").filter(has_text=f"name: {expected['name']}")).to_be_visible(timeout=T)

    # Sign out, one click: st.logout() clears the cookies and sends the browser to the provider's end-session
    # endpoint (with the identity token as id_token_hint), which ends the provider's session and sends it back to
    # the app's /oauth2callback; the app, anonymous again, asks for a sign-in.
    visited: list[str] = []
    page.on("request", lambda r: visited.append(r.url.split("?")[0]) if r.is_navigation_request() else None)
    page.get_by_role("button", name="Sign out").click()
    provider_login_form(page, oidc_provider.issuer)
    assert streamlit_cookies(page) == set()
    print(f"{login}: sign-out went through {visited}")
    issuer, end = oidc_provider.issuer, visited.index(f"{oidc_provider.issuer}/session/end")
    assert visited[end:end + 4] == [f"{issuer}/session/end", f"{issuer}/session/end/confirm",
                                    f"{app.url}/oauth2callback", f"{app.url}/"]
    assert visited[end - 1] == f"{app.url}/auth/logout"
    # And the app itself shows nobody: opening it again lands on the login form, not on the last person's page.
    page.goto(app.url)
    provider_login_form(page, oidc_provider.issuer)
    assert page.get_by_text(expected["name"]).count() == 0


def test_a_deep_link_is_lost_through_the_sign_in(app, oidc_provider, fresh):
    """st.login comes back to the app's root: the query of the link the person opened (``?stored=...``) is gone.
    An app that honours deep links must keep them itself across the sign-in."""
    page = fresh.new_page()
    page.goto(f"{app.url}/?stored=DEMO-01&version=1")
    sign_in(page, oidc_provider.issuer, "chair")
    expect(page.get_by_test_id("stText").filter(has_text="name: Dr C. Chair")).to_be_visible(timeout=T)
    assert page.url == f"{app.url}/"


def test_signing_out_in_one_tab_leaves_another_open_tab_signed_in_until_it_reloads(app, oidc_provider, fresh):
    """Streamlit reads the identity cookie when a tab connects: st.logout in one tab clears the cookies and that
    tab's session only. Another tab already open keeps st.user through its reruns; a reload asks for a sign-in."""
    first = fresh.new_page()
    first.goto(app.url)
    sign_in(first, oidc_provider.issuer, "viewer")
    expect(first.get_by_test_id("stText").filter(has_text="name: Dr V. Viewer")).to_be_visible(timeout=T)
    second = fresh.new_page()
    second.goto(app.url)  # the cookie signs it in without the provider
    expect(second.get_by_test_id("stText").filter(has_text="name: Dr V. Viewer")).to_be_visible(timeout=T)

    first.get_by_role("button", name="Sign out").click()
    provider_login_form(first, oidc_provider.issuer)
    assert streamlit_cookies(second) == set()  # the same browser: the cookies are gone for every tab

    runs = second.get_by_test_id("stText").filter(has_text="runs of this session: ")
    before = int(runs.inner_text().rsplit(" ", 1)[1])
    second.get_by_role("button", name="Run again").click()
    expect(runs).to_have_text(f"runs of this session: {before + 1}", timeout=T)  # the same session ran again
    expect(second.get_by_test_id("stText").filter(has_text="name: Dr V. Viewer")).to_be_visible(timeout=T)
    second.reload()
    provider_login_form(second, oidc_provider.issuer)


def test_an_unknown_login_signs_nobody_in(app, oidc_provider, fresh):
    page = fresh.new_page()
    page.goto(app.url)
    form = provider_login_form(page, oidc_provider.issuer)
    first = page.url
    sign_in(page, oidc_provider.issuer, "nobody")
    # The provider shows its login form again (the same interaction); nobody reached the app.
    page.wait_for_url(first, timeout=T)
    expect(form.locator("input[name=login]")).to_have_value("", timeout=T)
    assert streamlit_cookies(page) == set()
    # The form still works for a known user afterwards.
    sign_in(page, oidc_provider.issuer, "clinician")
    assert shown_user(page)["name"] == USERS["clinician"]["name"]


def test_without_the_groups_scope_there_are_no_roles(oidc_provider, fresh, oidc_logs_kept):
    """Streamlit's default scope ("openid email profile") carries no groups: the app's [auth] must ask for them."""
    with serving_app(APP, oidc_logs_kept / "app", oidc_provider, scope=None) as running:
        page = fresh.new_page()
        page.goto(running.url)
        sign_in(page, oidc_provider.issuer, "chair")
        user = shown_user(page)
        assert user["sub"] == "chair" and user["name"] == USERS["chair"]["name"]
        assert "groups" not in user


def test_an_expired_identity_token_still_reads_as_signed_in(fresh, oidc_logs_kept):
    """Streamlit does not check the identity token's expiry: after the token's 3 s, st.user still says signed in,
    with ``exp`` in the past. The app must compare ``exp`` with the clock itself (issue 20 signs the person out)."""
    ttl = 3
    provider = start_provider(oidc_logs_kept / "provider", id_token_ttl=ttl)
    try:
        with serving_app(APP, oidc_logs_kept / "app", provider) as running:
            page = fresh.new_page()
            page.goto(running.url)
            sign_in(page, provider.issuer, "clinician")
            user = shown_user(page)
            assert user["exp"] - user["iat"] == ttl
            assert page.get_by_test_id("stText").filter(has_text="expired: no").count() == 1
            time.sleep(max(0.0, user["exp"] - time.time()) + 0.5)
            page.reload()
            later = shown_user(page)
            assert later["is_logged_in"] is True and later["exp"] == user["exp"] < time.time()
            expect(page.get_by_test_id("stText").filter(has_text="expired: yes")).to_be_visible(timeout=T)
            # Signing out still works with the expired token (the provider accepts an expired id_token_hint).
            page.get_by_role("button", name="Sign out").click()
            provider_login_form(page, provider.issuer)
            assert streamlit_cookies(page) == set()
    finally:
        stop_provider(provider)


def test_the_command_line_client_and_no_other(oidc_logs_kept):
    """The client given on the command line (as for a manual `make run`, see provider.mjs) is known with its
    redirect URI; another redirect URI or client is refused. No browser: the authorisation endpoint's answer."""
    uri = "http://127.0.0.1:8501/oauth2callback"
    provider = start_provider(oidc_logs_kept / "provider", args=("--client-id", "watchwait", "--client-secret",
                                                                 "dev-secret", "--redirect-uri", uri))
    try:
        def authorize(client_id: str, redirect_uri: str) -> tuple[int, str]:
            query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": redirect_uri,
                                            "response_type": "code", "scope": "openid groups"})
            conn = http.client.HTTPConnection(urllib.parse.urlsplit(provider.issuer).netloc, timeout=10)
            conn.request("GET", f"/auth?{query}")
            reply = conn.getresponse()
            return reply.status, reply.getheader("location") or reply.read().decode(errors="replace")

        status, where = authorize("watchwait", uri)
        assert status == 303 and where.startswith("/interaction/")  # on to the login form
        status, body = authorize("watchwait", "http://127.0.0.1:8502/oauth2callback")
        assert status == 400 and "redirect_uri" in body
        status, body = authorize("someone-else", uri)
        assert status == 400 and "client" in body
    finally:
        stop_provider(provider)
