"""The right patient and the intranet defaults, in a real Chromium (issues 9 and 10).

- Patients switched in a round of three (with images to with images, with images to without, without to with),
  leaving from a different screen each time: no text, input value or image of the previous patient is left on any
  screen the browser draws. Every ordered pair of four patients, from every screen, is switched in AppTest
  (tests/app/test_patient_switching.py::test_switching_patients_in_every_order_from_every_screen_leaves_nothing_of_the_previous_one,
  which also looks at chart specs, table cells, widget values and the session state).
- Unsaved edits are never discarded without a confirmation; a reload reopens the sample patient the URL names.
- Hostile user text (a pseudonym, a cohort file's name and cell, a zip's and its members' names, an ROI file name,
  a URL parameter, a what-if entry) is shown as text: no <img> or <a> made from it, and the browser never asks for
  its URL.
- No request leaves for another host while every screen is used; every response carries the anti-framing and
  content-type headers, and another site cannot frame the dashboard (checked during the round of three).
- An uploaded series leaves nothing on the server's disk, during the session or after it ends.
"""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from playwright.sync_api import Page, expect

from e2e_server import ROOT, free_port, start_server, stop_server, wait_healthy
from st_helpers import T, go, load_sample, open_app, settle, shot, type_into

pytestmark = pytest.mark.e2e

TITLES = ["Patient", "Assessment", "What if", "Trajectories", "Evidence", "Options", "Imaging", "About the model"]
PATIENTS = ["DEMO-05", "DEMO-09", "DEMO-02"]  # two with sample images, one without
# 05 -> 09 (images to images), 09 -> 02 (images to none), 02 -> 05 (none to images); AppTest takes every ordered pair
ROUND = [0, 1, 2, 0]
STATIC = "Sample images exist only for the sample patients DEMO-01, DEMO-05, DEMO-09"
SAMPLES = ROOT / "sample_data" / "imaging"


def shown_as(text: str) -> re.Pattern:
    """``text`` as the screen shows it: the same characters, an invisible word joiner (U+2060) allowed between
    any two (components.safe.md breaks bare URLs with one)."""
    return re.compile("\u2060?".join(re.escape(c) for c in text))


def main_text(page: Page) -> str:
    """The main area's text and every input's value (the sidebar lists screens only)."""
    text = page.get_by_test_id("stMain").inner_text()
    values = page.eval_on_selector_all("[data-testid='stMain'] input, [data-testid='stMain'] textarea",
                                       "els => els.map(e => e.value).join('\\n')")
    return (text + "\n" + values).replace(STATIC, "")


def test_switching_patients_in_a_round_of_three_from_every_screen_in_chromium(page: Page, server, shots):
    """The round of three, every screen from a different one each time; the same walk makes the intranet checks
    (_outside_requests, _check_headers_icon_and_framing; were test_no_outside_host_is_contacted_and_security_
    headers_are_sent, a walk of its own over every screen with DEMO-05 and its sample images loaded, a subset of
    this one)."""
    outside = _outside_requests(page, server)
    response = page.goto(server)
    _check_headers(response)
    expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
    settle(page)
    walk = ROUND
    banner_checked = False
    for step, i in enumerate(walk):
        pid = PATIENTS[i]
        prev = PATIENTS[walk[step - 1]] if step else None
        if step:
            go(page, "Patient")
        load_sample(page, pid)
        start = step % len(TITLES)
        used_images = False
        for title in TITLES[start:] + TITLES[:start]:  # every screen, from a different one each time
            go(page, title)
            text = main_text(page)
            if prev:
                assert prev not in text, f"{prev} still on {title} after switching to {pid}"
            if title == "Imaging":
                expect(page.locator(".js-plotly-plot")).to_have_count(0)  # no images until loaded for this patient
                load = page.get_by_role("button", name=f"Load {pid}'s sample images")
                if load.count():
                    load.click()
                    settle(page)
                    expect(page.get_by_text(f"for patient {pid} (the open patient)")).to_have_count(2, timeout=T)
                    page.get_by_role("button", name="Use these radiomics in the open patient's assessment").click()
                    settle(page)
                    used_images = True
                    if not banner_checked:
                        shot(page, shots / f"30_imaging_bound_to_{pid}.png")
            elif title not in ("Patient", "About the model"):
                expect(page.get_by_test_id("ww-facts").first).to_contain_text(f"Patient: {pid}")
        if used_images and not banner_checked:
            go(page, "Assessment")
            expect(page.get_by_test_id("ww-sources").first).to_contain_text("Radiomics: from the MRI series loaded on")
            expect(page.get_by_test_id("ww-sources").first).to_contain_text("for this patient")
            shot(page, shots / f"31_banner_sources_{pid}.png", full=False)
            banner_checked = True
    assert banner_checked
    assert {(PATIENTS[a], PATIENTS[b]) for a, b in zip(walk, walk[1:])} == {
        ("DEMO-05", "DEMO-09"), ("DEMO-09", "DEMO-02"), ("DEMO-02", "DEMO-05")}
    _check_icon_outside_and_framing(page, server, outside)


_UNLOAD = """() => { const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e);
                    return e.defaultPrevented; }"""


def test_unsaved_edits_are_confirmed_and_a_reload_reopens_the_sample(page: Page, server, shots):
    open_app(page, server)
    load_sample(page, "DEMO-05")
    expect(page).to_have_url(f"{server}/?patient=DEMO-05")
    assert page.evaluate(_UNLOAD) is False  # nothing to lose: a reload goes ahead
    type_into(page, "Age (years, 18-100)", "70")
    page.wait_for_function("() => window.__wwDirty === true", timeout=T)
    assert page.evaluate(_UNLOAD) is True  # the browser asks before a reload or closing the tab
    go(page, "Options")  # on every screen
    assert page.evaluate(_UNLOAD) is True
    go(page, "Patient")
    load_sample_without_discarding(page, "DEMO-09")
    prompt = page.get_by_test_id("stAlertContentWarning").filter(has_text="Unsaved changes to DEMO-05")
    expect(prompt).to_be_visible(timeout=T)
    expect(prompt).to_contain_text("Age")
    shot(page, shots / "32_unsaved_changes_prompt.png", full=False)
    pseudonym = page.get_by_label("Patient pseudonym (required)", exact=True)
    expect(pseudonym).to_have_value("DEMO-05")
    page.get_by_role("button", name="Keep editing").click()
    settle(page)
    expect(prompt).to_have_count(0)
    expect(page.get_by_label("Age (years, 18-100)", exact=True)).to_have_value("70")
    page.get_by_role("button", name="Clear", exact=True).click()
    settle(page)
    expect(page.get_by_role("button", name="Discard changes and continue")).to_be_visible()
    page.get_by_role("button", name="Discard changes and continue").click()
    settle(page)
    expect(pseudonym).to_have_value("")
    expect(page).to_have_url(f"{server}/")  # an empty record: nothing to reopen
    page.wait_for_function("() => window.__wwDirty === false", timeout=T)
    assert page.evaluate(_UNLOAD) is False

    load_sample(page, "DEMO-09")
    go(page, "Trajectories")  # the link names the patient on every screen
    expect(page).to_have_url(f"{server}/trajectories?patient=DEMO-09")
    page.reload()
    expect(page.get_by_test_id("ww-facts").first).to_contain_text("Patient: DEMO-09", timeout=T)
    settle(page)
    go(page, "Patient")
    expect(pseudonym).to_have_value("DEMO-09")
    expect(page.get_by_role("combobox", name="Sample patient (synthetic)", exact=True)).to_have_value("DEMO-09")
    shot(page, shots / "33_after_reload_DEMO-09.png", full=False)


def load_sample_without_discarding(page: Page, pid: str) -> None:
    from st_helpers import select

    select(page, "Sample patient (synthetic)", pid)
    page.get_by_role("button", name="Load", exact=True).click()
    settle(page)


# ----------------------------------------------------------------------------- hostile text

def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_user_text_is_never_rendered_as_markup(page: Page, server, shots, tmp_path):
    host = urlparse(server).netloc
    beacons: list[str] = []
    page.on("request", lambda r: beacons.append(r.url)  # a request *for* a beacon (not one naming it in ?patient=)
            if "beacon" in urlparse(r.url).netloc + urlparse(r.url).path else None)

    def hostile(n: int) -> str:  # an image, a link, a bare URL, a bare www. address and an e-mail address
        return f"![x](http://{host}/beacon-{n}.png) [y](http://{host}/beacon-{n}a) http://{host}/beacon-{n}b www.beacon-{n}c.example x@beacon-{n}d.example.com"

    # a link naming no sample patient
    page.goto(f"{server}/?patient={quote(hostile(1))}")
    expect(page.get_by_role("heading", name="Patient")).to_be_visible(timeout=T)
    settle(page)
    expect(page.get_by_text("who is not one of the sample patients")).to_be_visible(timeout=T)

    # a pseudonym typed into the form: the validator's message quotes it (long values cut: its start is checked;
    # the whole text is checked where nothing cuts it: the link, the file, zip and member names)
    load_sample(page, "DEMO-05")
    type_into(page, "Patient pseudonym (required)", hostile(2))
    expect(page.get_by_test_id("stAlertContentError").first).to_contain_text(shown_as(hostile(2)[:36]), timeout=T)
    go(page, "Assessment")  # the list of invalid entries on every other screen
    expect(page.get_by_test_id("stAlertContentError").first).to_contain_text(shown_as(hostile(2)[:36]), timeout=T)
    go(page, "Patient")
    type_into(page, "Patient pseudonym (required)", "DEMO-05")

    # a cohort file named like markup, with a cell like markup
    csv = tmp_path / "![c](beacon-3.png).csv"
    csv.write_text(f"patient_id,mmr_status\nX1,{hostile(4)}\n")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(csv))
    settle(page)
    error = page.get_by_test_id("stAlertContentError").filter(has_text="was not imported")
    expect(error).to_contain_text(shown_as("![c](beacon-3.png).csv"), timeout=T)
    expect(error).to_contain_text(shown_as(hostile(4)[:36]))
    shot(page, shots / "34_hostile_cohort_file.png", full=False)

    # a what-if entry
    go(page, "What if")
    box = page.get_by_role("combobox", name="Inputs to change").last
    box.click()
    page.keyboard.type("CEA at response")  # the option list is virtualised: filter it first
    page.get_by_role("option", name="CEA at response assessment", exact=False).first.click()
    settle(page)
    page.keyboard.press("Escape")
    field = page.get_by_test_id("stTextInput").last.locator("input")
    field.fill(hostile(5))
    field.press("Enter")
    settle(page)
    expect(page.get_by_test_id("stAlertContentError").filter(has_text="Invalid scenario")).to_contain_text(shown_as(hostile(5)[:36]), timeout=T)

    # a zip named like markup, holding a member named like markup, and an ROI file named like markup
    go(page, "Imaging")
    series = {p.name: p.read_bytes() for p in sorted((SAMPLES / "DEMO-05" / "baseline").iterdir())}
    series[hostile(6)] = b"not a DICOM file"
    zpath = tmp_path / "![z](beacon-7.png).zip"
    zpath.write_bytes(_zip(series))
    roi = tmp_path / "![r](beacon-8.png).dcm"
    roi.write_bytes((SAMPLES / "DEMO-05" / "baseline_seg.dcm").read_bytes())
    # no images loaded yet: the upload expander is open
    inputs = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    inputs.nth(0).set_input_files(str(zpath))
    settle(page)
    inputs.nth(1).set_input_files(str(roi))
    settle(page)
    page.get_by_role("button", name="Use these files for baseline").click()
    settle(page)
    main = page.get_by_test_id("stMain")
    # an uploaded file's or member's name is never shown (issue 18): the member is named by its place, the source
    # by its number; nothing of the names reaches the page, as text or as markup
    expect(main).to_contain_text("file 1 of the upload, member 1 of the archive: not a DICOM file", timeout=T)
    expect(main).to_contain_text("source: uploaded series 1, 12 files + tumour ROI")
    for name in ("beacon-7", "beacon-8", hostile(6)):
        assert name not in page.content()
    shot(page, shots / "35_hostile_zip_names.png")

    page.wait_for_timeout(500)
    made = page.evaluate("""() => [...document.querySelectorAll('img, a, image, iframe, source, video, audio')]
        .map(e => (e.getAttribute('src') || '') + ' ' + (e.getAttribute('href') || '') + ' ' + (e.getAttribute('srcset') || ''))
        .filter(s => s.includes('beacon'))""")
    assert made == [], made
    assert beacons == [], beacons


# ----------------------------------------------------------------------------- intranet defaults

# No request leaves for another host while every screen is used (DEMO-05 with its sample images loaded, then the rest
# of the round); every response carries the anti-framing and content-type headers, and another site cannot frame the
# dashboard. Made in the round-of-three walk above (was test_no_outside_host_is_contacted_and_security_headers_are_
# sent: DEMO-05 loaded, every screen opened, its sample images loaded, then a fixed 1 s pause for late requests; the
# round opens every screen three more times after loading DEMO-05's images, with DEMO-09's and DEMO-02's).

def _outside_requests(page: Page, server: str) -> list[str]:
    """Every request the page makes from now on for a host or port other than the server's (kept in the list)."""
    origin = urlparse(server)
    outside: list[str] = []

    def record(request) -> None:
        u = urlparse(request.url)
        if u.scheme in ("data", "blob", "about") or (u.hostname, u.port) == (origin.hostname, origin.port):
            return
        outside.append(request.url)

    page.on("request", record)
    return outside


def _check_headers(response) -> None:
    assert response is not None
    headers = response.headers
    assert headers.get("x-frame-options") == "DENY"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")
    assert headers.get("x-content-type-options") == "nosniff"


def _check_icon_outside_and_framing(page: Page, server: str, outside: list[str]) -> None:
    origin = urlparse(server)
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icon and all(urlparse(h).hostname == origin.hostname or h.startswith("data:") for h in icon), icon
    assert outside == [], outside

    # another site cannot show the dashboard in a frame
    framing = page.context.new_page()
    framing.set_content(f'<iframe id="f" src="{server}/" width="800" height="600"></iframe>')
    # Chromium refuses the frame (X-Frame-Options / frame-ancestors) by putting its error page in it: wait for
    # that refusal itself (was a fixed 3 s pause), then check that nothing of the app is in the frame
    deadline = time.monotonic() + T / 1000
    while not any(f.url.startswith("chrome-error://") for f in framing.frames[1:]):
        assert time.monotonic() < deadline, [f.url for f in framing.frames]
        framing.wait_for_event("framenavigated", timeout=T)
    frame = framing.frame_locator("#f")
    assert frame.locator("[data-testid='stApp']").count() == 0
    framing.close()


# ----------------------------------------------------------------------------- uploads leave nothing on disk

@pytest.fixture
def private_server(tmp_path):
    """A server of its own whose temporary folder is known (TMPDIR), to look for uploads left behind."""
    tmp = tmp_path / "server-tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = start_server(port, tmp_path / "server.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, tmp, tmp_path / "server.log"
    finally:
        stop_server(proc)


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _holding(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in _files_under(folder) if needle in p.read_bytes()]


def test_an_uploaded_series_leaves_nothing_on_disk_during_or_after_the_session(browser, private_server, tmp_path):
    url, server_tmp, log = private_server
    before = set(_files_under(server_tmp))
    series = tmp_path / "DEMO-05-baseline.zip"
    series.write_bytes(_zip({p.name: p.read_bytes() for p in sorted((SAMPLES / "DEMO-05" / "baseline").iterdir())}))
    mrn = b"DEMO-05"  # the PatientID inside every slice, before de-identification
    assert mrn in series.read_bytes()

    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    open_app(page, url)
    load_sample(page, "DEMO-05")
    go(page, "Imaging")
    inputs = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    inputs.nth(0).set_input_files(str(series))
    settle(page)
    inputs.nth(1).set_input_files(str(SAMPLES / "DEMO-05" / "baseline_seg.dcm"))
    settle(page)
    page.get_by_role("button", name="Use these files for baseline").click()
    settle(page)
    expect(page.get_by_text("source: uploaded series 1, 12 files + tumour ROI")).to_be_visible(timeout=T)
    assert "DEMO-05-baseline" not in page.content()  # the uploaded file's name (often the patient's) is never shown
    # during the session: the series is loaded, and nothing of it is on the server's disk
    assert not _holding(server_tmp, mrn), "the upload (with its PatientID) is on disk during the session"
    assert not [p for p in server_tmp.rglob("watchwait-upload-*")]
    context.close()  # the session ends
    time.sleep(1)
    assert not _holding(server_tmp, mrn)
    assert not [p for p in _files_under(server_tmp) if p not in before and p.suffix in (".zip", ".dcm")]
    assert "External URL" not in log.read_text()  # no external IP lookup at start-up
