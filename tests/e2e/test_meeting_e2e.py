"""A whole MDT meeting in Chromium (issue 11), on the embedded SQLite default and on PostgreSQL: create it,
import cases from sample_data/ (a file with a bad row first: nothing written, every bad row listed), step
through them, record decisions, reload the browser mid-meeting and carry on, export the case PDF and the
meeting's FHIR Bundle (real downloads), the Cases list. Screenshots at 1920x1080, desk and Presentation mode.

Each run has its own server and its own database (a temporary SQLite file, or a database on a PostgreSQL
server this test starts with watchwait.store.pgserver): never the default var/watchwait.db."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from e2e_server import ROOT, free_port, start_server, stop_server, wait_healthy
from playwright.sync_api import Page, expect
from st_helpers import T, drawn, select, settle, shot

import watchwait
from watchwait import present
from watchwait.schema import BY_NAME
from watchwait.validation import frame_to_records, read_cohort

pytestmark = pytest.mark.e2e

SAMPLE = ROOT / "sample_data" / "sample_patients.csv"


def _default_writes(path) -> int:
    """Audit rows written by this test's user to the default database (other sessions may use that file)."""
    import sqlite3

    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM audit WHERE actor = 'Dr Chair'").fetchone()[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def meeting_server(request, tmp_path):
    """(url of a dashboard server, the case store it writes to, backend name)."""
    from watchwait.store import Store

    default = ROOT / "var" / "watchwait.db"
    before = _default_writes(default)
    pg = None
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path / 'meeting.db'}"
    else:
        from watchwait.store.pgserver import PostgresServer

        pg = PostgresServer(fsync=False).start()
        db_url = pg.create_database("meeting_e2e")
    app_url = db_url
    if pg is not None:  # as a hospital runs it: the owner makes the schema and grants; the dashboard is the app role
        import psycopg

        from watchwait.store.admin import apply_grants

        Store(db_url).close()
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE ww_app LOGIN")
        apply_grants(db_url, "ww_app")
        app_url = db_url.replace("postgresql://postgres@", "postgresql://ww_app@", 1)
    port = free_port()
    proc = start_server(port, tmp_path / "server.log", env={**os.environ, "WATCHWAIT_DATABASE_URL": app_url})
    store = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        store = Store(db_url)
        yield url, store, request.param
    finally:
        stop_server(proc)
        if store is not None:
            store.close()
        if pg is not None:
            pg.stop()
    assert _default_writes(default) == before  # nothing of this meeting went to the default database


@pytest.fixture
def page1080(browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def enter_name(page: Page, name: str) -> None:
    box = page.get_by_label("Your name", exact=True).first
    box.fill(name)
    box.press("Enter")
    settle(page)


def go(page: Page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    expect(page.get_by_role("heading", name=title).first).to_be_visible(timeout=T)
    settle(page)


def upload(page: Page, name: str, data: bytes) -> None:
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data})
    settle(page)
    page.get_by_role("button", name="Import into this meeting").click()
    settle(page)


def decide(page: Page, pathway: str, follows: bool, rationale: str, present: str | None = None,
           reason: str | None = None) -> None:
    form = page.locator("[data-testid='stForm']").filter(has_text="Pathway decided")
    follow = "Yes, it follows the suggestion" if follows else "No: say why below"
    for _ in range(3):  # a rerun still drawing the case's form (a loaded machine) may redraw it empty: fill again
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


def case_heading(page: Page, text: str) -> None:
    expect(page.get_by_role("heading", name=text)).to_be_visible(timeout=T)


def test_a_whole_meeting(page1080: Page, meeting_server, shots, tmp_path):
    url, store, backend = meeting_server
    page = page1080
    tag = f"meeting_{backend}"
    records = {r["patient_id"]: r for r in frame_to_records(read_cohort(SAMPLE))}

    page.goto(url)
    expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
    settle(page)
    go(page, "Meeting")
    expect(page.get_by_text("Enter your name to run a meeting")).to_be_visible()
    enter_name(page, "Dr Chair")
    page.get_by_label("Title").fill("Colorectal MDT")
    page.get_by_role("button", name="Create meeting").click()
    settle(page)
    [m] = store.meetings()
    expect(page.get_by_role("heading", name=f"Colorectal MDT · {m.date}")).to_be_visible(timeout=T)

    # a file with two bad rows: nothing written, every bad row listed by the form's labels
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = [dict(r) for r in rows]
    bad[2]["age_years"], bad[9]["cea_baseline_ng_ml"] = "abc", "-3"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(bad)
    upload(page, "bad_cohort.csv", buf.getvalue().encode())
    alert = page.get_by_test_id("stAlertContentError").first
    expect(alert).to_contain_text("bad_cohort.csv was not imported: nothing was written. 2 of its 15 rows have invalid "
                                  "values (2 in all): rows 4, 11.", timeout=T)
    expect(alert).to_contain_text(f"Row 4, {BY_NAME['age_years'].label} must be")
    expect(alert).to_contain_text(f"Row 11, {BY_NAME['cea_baseline_ng_ml'].label} must be")
    assert store.list_cases().total == 0
    shot(page, shots / f"{tag}_00_import_refused.png", full=False)

    upload(page, "sample_patients.csv", SAMPLE.read_bytes())
    expect(page.get_by_text("Imported 15 case(s) from sample_patients.csv")).to_be_visible(timeout=T)
    case_heading(page, "Case 1 of 15: DEMO-01")
    a1 = watchwait.assess(records["DEMO-01"])
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(present.percent(a1.probability), timeout=T)
    assert "meeting=" in page.url and "case=1" in page.url
    shot(page, shots / f"{tag}_01_desk_case1.png")

    decide(page, "Watch-and-wait", True, "Clinical complete response on every test", present="Dr Chair\nDr B. Surgeon")
    expect(page.get_by_text("Decision recorded for DEMO-01: Watch-and-wait")).to_be_visible(timeout=T)
    page.get_by_role("button", name="Next case").click()
    settle(page)
    case_heading(page, "Case 2 of 15: DEMO-02")
    decide(page, "Total mesorectal excision (TME)", False, "Residual scar, patient wants certainty",
           reason="Patient's informed choice")
    expect(page.get_by_text("Decision recorded for DEMO-02")).to_be_visible(timeout=T)
    assert [d.actor for d in store.decisions("DEMO-02")] == ["Dr Chair"]

    # the other screens show the case on screen
    go(page, "Assessment")
    expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-02", timeout=T)
    go(page, "Meeting")
    case_heading(page, "Case 2 of 15: DEMO-02")

    # a browser reload mid-meeting: the same meeting at the same case; the name is asked again (per session)
    page.reload()
    expect(page.get_by_text("Enter your name to run a meeting")).to_be_visible(timeout=T)
    settle(page)
    enter_name(page, "Dr Chair")
    case_heading(page, "Case 2 of 15: DEMO-02")
    expect(page.get_by_text("Decision recorded: Total mesorectal excision (TME)")).to_be_visible(timeout=T)
    page.get_by_role("button", name="Next case").click()
    settle(page)
    case_heading(page, "Case 3 of 15: DEMO-03")
    expect(page.get_by_label("People present (one per line; required)")).to_have_value("Dr Chair\nDr B. Surgeon")
    decide(page, "Local excision", True, "Near-complete response, small residual scar")
    expect(page.get_by_text("Decision recorded for DEMO-03")).to_be_visible(timeout=T)

    # Presentation mode: the chair's shared screen
    page.get_by_text("Presentation mode").first.click()
    settle(page)
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    case_heading(page, "Case 3 of 15: DEMO-03")  # the shared screen drawn again, at the same case
    expect(page.get_by_role("button", name="Next case")).to_be_enabled(timeout=T)
    page.get_by_role("button", name="Next case").click()
    settle(page)
    case_heading(page, "Case 4 of 15: DEMO-04")
    shot(page, shots / f"{tag}_02_presentation_case4.png", full=False)
    page.locator("[data-testid='stForm']").filter(has_text="Pathway decided").scroll_into_view_if_needed()
    drawn(page)  # scrolled there, the form's layout still
    shot(page, shots / f"{tag}_03_presentation_decision_form.png", full=False)
    # the form in the room's type (issue 21: its text was 21 px) and "People present" showing six lines, not three
    form = page.evaluate("""() => {
        const f = [...document.querySelectorAll("[data-testid='stForm']")].find(e => e.innerText.includes("Pathway decided"));
        const box = [...f.querySelectorAll("textarea")].find(t => t.getAttribute("aria-label").startsWith("People present"));
        const radio = f.querySelector("[data-testid='stRadio'] label p");
        return {box: parseFloat(getComputedStyle(box).fontSize), lines: box.clientHeight / parseFloat(getComputedStyle(box).lineHeight),
                radio: parseFloat(getComputedStyle(radio).fontSize)};
    }""")
    assert form["box"] == 24 and form["radio"] == 24 and form["lines"] >= 6, form

    # the case PDF, downloaded
    with page.expect_download(timeout=T) as dl:
        page.get_by_role("button", name="Case PDF for the notes").click()
    pdf = tmp_path / "case.pdf"
    dl.value.save_as(pdf)
    assert dl.value.suggested_filename == f"DEMO-04_{m.date}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")

    page.get_by_role("button", name="Summary").click()
    settle(page)
    expect(page.get_by_role("heading", name="Summary: 3 of 15 cases decided")).to_be_visible(timeout=T)
    assert "case=summary" in page.url
    # the heading is not covered by the notice under it (Streamlit's -1rem under a heading, with the shared
    # screen's smaller heading padding, overlapped them by 24 px)
    heading = page.get_by_role("heading", name="Summary: 3 of 15 cases decided").bounding_box()
    below = page.get_by_text("Not decided yet:").first.bounding_box()
    assert heading["y"] + heading["height"] <= below["y"], (heading, below)
    shot(page, shots / f"{tag}_04_presentation_summary.png", full=False)
    # a button that cannot be pressed looks it (issue 21: the disabled Summary button looked like Next case)
    look = page.evaluate("""() => Object.fromEntries(["Summary", "Previous case"].map(name => {
        const b = [...document.querySelectorAll("button")].find(x => x.innerText.trim().endsWith(name));
        return [name, b ? {disabled: b.disabled, opacity: parseFloat(getComputedStyle(b).opacity)} : null];
    }))""")
    assert look["Summary"]["disabled"] and look["Summary"]["opacity"] <= 0.5, look
    assert not look["Previous case"]["disabled"] and look["Previous case"]["opacity"] == 1, look
    with page.expect_download(timeout=T) as dl:
        page.get_by_role("button", name="Meeting FHIR Bundle (JSON)").click()
    bundle_path = tmp_path / "bundle.json"
    dl.value.save_as(bundle_path)
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate_json(bundle_path.read_text(encoding="utf-8"))
    assert len(bundle.entry) == 15 and bundle.identifier.value == m.date
    first = json.loads(bundle_path.read_text(encoding="utf-8"))["entry"][0]["resource"]
    assert first["subject"]["identifier"]["value"] == "DEMO-01"
    assert first["prediction"][0]["probabilityDecimal"] == pytest.approx(round(100 * a1.probability, 1))

    page.get_by_text("Presentation mode").first.click()
    settle(page)
    shot(page, shots / f"{tag}_05_desk_summary.png")

    # the Cases list, outside the meeting
    go(page, "Cases")
    expect(page.get_by_text("15 cases · page 1 of 1")).to_be_visible(timeout=T)
    shot(page, shots / f"{tag}_06_cases.png")
    decisions = {p: [d.pathway for d in store.decisions(p)] for p in ("DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04")}
    assert decisions == {"DEMO-01": ["watch_and_wait"], "DEMO-02": ["tme"], "DEMO-03": ["local_excision"], "DEMO-04": []}
    actions = [e.action for e in store.audit(limit=1000)]
    assert actions.count("decision.recorded") == 3 and actions.count("meeting.case_added") == 15

    # a case opened from the list: the Assessment screen keeps the prediction it shows; a reload reopens the case
    select(page, "Case to open", "DEMO-14")
    page.get_by_test_id("stBaseButton-primary").filter(has_text="Open").click()
    settle(page)
    expect(page.get_by_text("DEMO-14 is open (assessment version 1)")).to_be_visible(timeout=T)
    assert "stored=DEMO-14" in page.url and "version=1" in page.url
    go(page, "Assessment")
    v14 = store.assessment("DEMO-14")
    a14 = watchwait.assess(records["DEMO-14"])
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(present.percent(a14.probability), timeout=T)
    [pr] = [p for p in store.predictions(v14.id) if p.screen == "Assessment"]
    assert pr.actor == "Dr Chair" and pr.probability == pytest.approx(a14.probability)
    page.reload()
    expect(page.get_by_role("heading", name="Assessment").first).to_be_visible(timeout=T)
    settle(page)
    expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-14", timeout=T)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(present.percent(a14.probability), timeout=T)
    shot(page, shots / f"{tag}_07_stored_case_after_reload.png", full=False)
