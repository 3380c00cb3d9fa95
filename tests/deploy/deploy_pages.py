"""Playwright steps the deployment tests share: a browser context pinned to a replica by nginx's sticky rule, which
replica answered it (nginx's access log), and the Meeting screen's steps of tests/e2e/test_meeting_e2e.py."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from deploy_harness import ROOT
from playwright.sync_api import Page, expect
from st_helpers import T, settle

SAMPLE = ROOT / "sample_data" / "sample_patients.csv"


def pinned_page(browser, deployed, replica: str) -> Page:
    """A browser context whose route cookie sends it to ``replica`` (nginx's sticky rule, not a direct address)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.add_cookies([{"name": "ww_route", "value": deployed.route_to(replica), "url": deployed.url,
                          "secure": True, "httpOnly": True, "sameSite": "Lax"}])
    return context.new_page()


def route_of(page: Page) -> str:
    [value] = [c["value"] for c in page.context.cookies() if c["name"] == "ww_route"]
    return value


def served_by(deployed, page: Page) -> str:
    """Which replica answered this browser's last request (nginx's access log)."""
    r = deployed.replica_on(deployed.nginx.upstream_of(route_of(page)))
    return r.name if r else "?"


def enter_name(page: Page, name: str) -> None:
    expect(page.get_by_text("Enter your name to run a meeting")).to_be_visible(timeout=T)
    box = page.get_by_label("Your name", exact=True).first
    box.fill(name)
    box.press("Enter")
    settle(page)


def open_meeting_screen(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
    settle(page)
    page.get_by_role("link", name="Meeting", exact=True).first.click()
    expect(page.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
    settle(page)


def create_meeting_with_cases(page: Page, title: str) -> int:
    """Create a meeting and import sample_data/sample_patients.csv into it (15 cases); returns its id."""
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Create meeting").click()
    settle(page)
    expect(page.get_by_role("heading", name=re.compile(f"^{re.escape(title)} · ")).first).to_be_visible(timeout=T)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        {"name": "sample_patients.csv", "mimeType": "text/csv", "buffer": SAMPLE.read_bytes()})
    settle(page)
    page.get_by_role("button", name="Import into this meeting").click()
    settle(page)
    expect(page.get_by_text("Imported 15 case(s) from sample_patients.csv")).to_be_visible(timeout=T)
    case_heading(page, "Case 1 of 15: DEMO-01")
    return meeting_id(page)


def meeting_id(page: Page) -> int:
    return int(parse_qs(urlsplit(page.url).query)["meeting"][0])


def case_heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", name=text)).to_be_visible(timeout=T)


def decide(page: Page, pathway: str, follows: bool, rationale: str, present: str | None = None,
           reason: str | None = None) -> None:
    """tests/e2e/test_meeting_e2e.py's way of recording a decision (fill again when a loaded machine redrew the
    form empty)."""
    form = page.locator("[data-testid='stForm']").filter(has_text="Pathway decided")
    follow = "Yes, it follows the suggestion" if follows else "No: say why below"
    for _ in range(3):
        form.get_by_text(pathway, exact=True).click()
        form.get_by_text(follow, exact=True).click()
        form.get_by_label("Rationale (required)").fill(rationale)
        if present is not None:
            form.get_by_label("People present (one per line; required)").fill(present)
        if reason is not None:
            form.get_by_label("Why not the suggestion (required when the decision does not follow it)").fill(reason)
        settle(page)
        if (form.get_by_role("radio", name=pathway, exact=True).is_checked()
                and form.get_by_role("radio", name=follow, exact=True).is_checked()
                and form.get_by_label("Rationale (required)").input_value() == rationale):
            break
    form.get_by_role("button", name="Record the decision").click()
    settle(page)


def next_case(page: Page, heading: str) -> None:
    page.get_by_role("button", name="Next case").click()
    settle(page)
    case_heading(page, heading)


def decisions_of(deployed, meeting: int) -> dict[str, list[str]]:
    """The meeting's decisions in the store (read as the owner role, outside the app): case -> pathways."""
    import psycopg

    with psycopg.connect(deployed.owner_url) as conn:
        rows = conn.execute("SELECT pseudonym, pathway FROM decisions d JOIN patients p ON p.id = d.patient_id "
                            "WHERE d.meeting_id = %s ORDER BY d.id", (meeting,)).fetchall()
    out: dict[str, list[str]] = {}
    for pseudonym, pathway in rows:
        out.setdefault(pseudonym, []).append(pathway)
    return out
