"""watchwait.imaging.pacs against a real PACS (Orthanc with its DICOMweb plugin, tests/pacs/orthanc_server.py):
search, series list with the series check, retrieval through the upload's de-identification (radiomics identical
to the same files read from disk, nothing identifying on disk), and each failure's plain message."""

from __future__ import annotations

import dataclasses
import http.server
import os
import stat
import threading
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from orthanc_server import DEMO, STS, USER, free_port

from watchwait.imaging.pacs import (AlreadyDeidentified, PacsConfig, PacsError, list_series, local_paths,
                                    parse_reference, retrieve_series, search_studies)

STS_ACCESSION = "1965292013600439"


def _header(path: Path):
    return pydicom.dcmread(path, stop_before_pixels=True)


DEMO_REST = _header(DEMO / "restaging" / "IM0001.dcm")
STS_IMAGE = _header(STS / "image" / "000000.dcm")


def _local(series: Path, roi: Path):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi

    s = load_series(series)
    return s, extract_features(s, load_roi(roi, s))


def _retrieved(config, study, series, dest):
    from watchwait.imaging.dicom_io import load_series
    from watchwait.imaging.radiomics import extract_features
    from watchwait.imaging.roi import load_roi

    got = retrieve_series(config, study, series, dest)
    s = load_series(got.series_path, deidentifier=AlreadyDeidentified())
    return got, s, extract_features(s, load_roi(got.roi_path, s, deidentifier=AlreadyDeidentified()))


# ----------------------------------------------------------------------------- search and list

def test_search_by_patient_id_finds_demo01s_two_studies(config):
    studies = search_studies(config, "DEMO-01")
    assert sorted(s.study_uid for s in studies) == sorted([
        str(_header(DEMO / "baseline" / "IM0001.dcm").StudyInstanceUID), str(DEMO_REST.StudyInstanceUID)])
    assert all(s.modalities == ("MR", "SEG") and s.n_images == 13 for s in studies)
    assert studies[0].label == "Study of unknown date · MR, SEG · 13 images"


def test_search_by_accession_number_finds_the_sts_study(config):
    for by in ("accession", "either"):
        (study,) = search_studies(config, STS_ACCESSION, by=by)
        assert study.study_uid == str(STS_IMAGE.StudyInstanceUID)
        assert study.label == "Study of 2000-10-04 · MR, RTSTRUCT · 26 images"
    (by_id,) = search_studies(config, "STS_025", by="patient_id")
    assert by_id == study


def test_series_list_counts_check_and_roi(config):
    (study,) = search_studies(config, "STS_025")
    (t1,) = list_series(config, study)  # the RTSTRUCT is not offered as a series
    assert (t1.series_uid, t1.n_images, t1.modality, t1.date) == (str(STS_IMAGE.SeriesInstanceUID), 25, "MR",
                                                                  "2000-08-24")
    assert t1.check.fit_for_model is False
    assert t1.check.reasons[0].startswith("T1-weighted")
    assert [r.modality for r in t1.rois] == ["RTSTRUCT"]
    assert t1.label == ("2000-08-24 · MR · 25 images · “IBSI_1_STS_025_MR_T1_image” · not fit for the model: "
                        "T1-weighted (its description says T1, no TR or TE recorded), not T2; body part EXTREMITY, "
                        "not pelvis · tumour ROI: RTSTRUCT")
    rest = [s for st in search_studies(config, "DEMO-01") for s in list_series(config, st)
            if s.series_uid == str(DEMO_REST.SeriesInstanceUID)]
    (rest,) = rest
    assert (rest.n_images, rest.check.fit_for_model, [r.modality for r in rest.rois]) == (12, True, ["SEG"])
    assert "DEMO-01" not in rest.label and "DEMO-01" not in t1.label  # no patient ID, name or UID in a label
    assert rest.series_uid not in rest.label


# ----------------------------------------------------------------------------- retrieval

def test_retrieved_demo01_restaging_gives_the_same_radiomics_as_the_files(config, tmp_path):
    local_series, local = _local(DEMO / "restaging", DEMO / "restaging_seg.dcm")
    got, series, pacs = _retrieved(config, str(DEMO_REST.StudyInstanceUID), str(DEMO_REST.SeriesInstanceUID),
                                   tmp_path / "r")
    assert (got.n_images, got.roi_modality, got.warnings) == (12, "SEG", ())
    assert pacs.features == local.features  # identical, not close
    assert pacs.provenance["image_sha256"] == local.provenance["image_sha256"]
    assert pacs.provenance["mask_sha256"] == local.provenance["mask_sha256"]
    assert series.patient_pseudonym == local_series.patient_pseudonym  # de-identified once, with the same key
    assert got.label("2024-03-01") == "PACS series 2024-03-01, 12 images + tumour ROI"


def test_retrieved_sts_t1_and_its_rtstruct_give_the_same_radiomics_as_the_files(config, tmp_path):
    _, local = _local(STS / "image", STS / "mask" / "RS.dcm")
    got, _, pacs = _retrieved(config, str(STS_IMAGE.StudyInstanceUID), str(STS_IMAGE.SeriesInstanceUID),
                              tmp_path / "r")
    assert (got.n_images, got.roi_modality) == (25, "RTSTRUCT")
    assert pacs.features == local.features


def test_what_retrieval_writes_is_deidentified_and_private(config, tmp_path):
    identifiers = [b"DEMO-01", str(DEMO_REST.StudyInstanceUID).encode(), str(DEMO_REST.SeriesInstanceUID).encode(),
                   b"STS_025", STS_ACCESSION.encode(), str(STS_IMAGE.StudyInstanceUID).encode(), b"20000824"]
    for header in (DEMO_REST, STS_IMAGE):
        dest = tmp_path / header.PatientID
        retrieve_series(config, str(header.StudyInstanceUID), str(header.SeriesInstanceUID), dest)
        written = [p for p in dest.rglob("*") if p.is_file()]
        assert len(written) == (13 if header is DEMO_REST else 26)
        for p in written:
            data = p.read_bytes()
            assert [i for i in identifiers if i in data] == [], p
            assert stat.S_IMODE(p.stat().st_mode) == 0o600
        for d in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
            assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_local_paths_reads_a_dicomweb_reference_and_leaves_nothing(config):
    ref = f"dicomweb:{DEMO_REST.StudyInstanceUID}/{DEMO_REST.SeriesInstanceUID}"
    with local_paths(ref, ref, config=config) as (series, roi, deid, terms):
        assert isinstance(deid, AlreadyDeidentified) and Path(roi).name == "roi.dcm"
        assert list(terms.values()) == [("AXIAL", "T2", "TSE")]
        kept = Path(series).parents[1]
        assert kept.is_dir()
    assert not kept.exists()
    with local_paths("some/folder", "roi.nii.gz") as paths:  # paths pass through
        assert paths == ("some/folder", "roi.nii.gz", None, {})


def test_parse_reference():
    assert parse_reference("dicomweb:1.2.3/4.5") == ("1.2.3", "4.5")
    assert parse_reference("images/DEMO-01/baseline") is None
    with pytest.raises(PacsError) as err:
        parse_reference("dicomweb:1.2.3")
    assert str(err.value) == ("'dicomweb:1.2.3' is not a DICOMweb series reference: write "
                              "dicomweb:<StudyInstanceUID>/<SeriesInstanceUID> (two UIDs, digits and dots).")


# ----------------------------------------------------------------------------- configuration

def test_configuration_from_secrets_and_env():
    assert PacsConfig.from_mapping({}) is None and PacsConfig.from_env({}) is None
    c = PacsConfig.from_env({"WATCHWAIT_PACS_URL": "https://u:secret@pacs.example:8443/dicom-web/?x=1",
                             "WATCHWAIT_PACS_TOKEN": "tok", "WATCHWAIT_PACS_TIMEOUT": "5"})
    assert (c.token, c.timeout, c.max_images, c.max_series_mb) == ("tok", 5.0, 2000, 1024.0)
    assert c.shown == "https://pacs.example:8443/dicom-web/"  # never the user, password or query
    assert "tok" not in repr(c)
    with pytest.raises(PacsError) as err:
        PacsConfig.from_mapping({"url": "https://pacs.example", "timeout": "soon"})
    assert str(err.value) == "pacs.timeout (WATCHWAIT_PACS_TIMEOUT) must be a positive number, not 'soon'."
    with pytest.raises(PacsError) as err:
        PacsConfig.from_mapping({"url": "pacs.example"})
    assert str(err.value) == ("The PACS address 'pacs.example' is not an http(s) URL. Set pacs.url "
                              "(WATCHWAIT_PACS_URL) to the DICOMweb root, e.g. https://pacs.example/dicom-web.")


# ----------------------------------------------------------------------------- failures, each with its message

def _at(config, **changes):
    return dataclasses.replace(config, **changes)


def test_empty_result(config):
    with pytest.raises(PacsError) as err:
        search_studies(config, "DEMO-99")
    assert str(err.value) == (f"No study found for Patient ID or accession number 'DEMO-99' on the PACS at "
                              f"{config.url}. Check the number (exactly as the PACS has it), or search by the "
                              "other one.")
    with pytest.raises(PacsError) as err:
        search_studies(config, STS_ACCESSION, by="patient_id")
    assert str(err.value).startswith(f"No study found for Patient ID '{STS_ACCESSION}' on the PACS")


def test_wildcards_and_blank_searches_are_refused(config):
    for query, start in (("*", "A Patient ID or accession number is letters"), ("DEMO*", "A Patient ID"),
                         ("  ", "Type the patient's Patient ID")):
        with pytest.raises(PacsError) as err:
            search_studies(config, query)
        assert str(err.value).startswith(start)


def _search_refused(config, **changes) -> str:
    """The message of a search for DEMO-01 on ``config`` with ``changes``."""
    with pytest.raises(PacsError) as err:
        search_studies(_at(config, **changes), "DEMO-01")
    return str(err.value)


def test_pacs_down(config):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert _search_refused(config, url=url) == (
        f"Cannot reach the PACS at {url}: the connection was refused or the address does not answer. Check the "
        "address (pacs.url, WATCHWAIT_PACS_URL), or ask IT whether the PACS is running.")


def test_a_failed_tls_handshake(config, orthanc):
    url = f"https://127.0.0.1:{orthanc.port}/dicom-web"  # Orthanc speaks plain http here
    assert _search_refused(config, url=url) == (
        f"The secure connection to the PACS at {url} failed (its certificate is not trusted here, or it does not "
        "speak https), so nothing was sent. Check the address (http or https), or ask IT for the hospital's CA "
        "certificates and set pacs.ca_bundle (WATCHWAIT_PACS_CA_BUNDLE) to that file.")


def test_refused_credentials(config):
    message = (f"The PACS at {config.url} refused the credentials (HTTP 401). Check the user and password, or the "
               "token (pacs.user and pacs.password, or pacs.token; WATCHWAIT_PACS_USER, WATCHWAIT_PACS_PASSWORD, "
               "WATCHWAIT_PACS_TOKEN).")
    assert _search_refused(config, password="wrong") == message
    assert _search_refused(config, user=None, password=None) == message
    assert USER == config.user


def test_timeout(config, silent_port):
    url = f"http://127.0.0.1:{silent_port}/dicom-web"
    assert _search_refused(config, url=url, timeout=0.3) == (
        f"The PACS at {url} did not answer within 0.3 s. Try again; if it keeps happening, ask IT whether the PACS "
        "is working (pacs.timeout, WATCHWAIT_PACS_TIMEOUT, sets how long to wait).")


def test_series_larger_than_the_limit(config, tmp_path):
    study, series = str(STS_IMAGE.StudyInstanceUID), str(STS_IMAGE.SeriesInstanceUID)
    with pytest.raises(PacsError) as err:  # refused from the QIDO count, before any image is retrieved
        retrieve_series(_at(config, max_images=10), study, series, tmp_path / "a")
    assert str(err.value) == ("This series is too large to retrieve here: 25 images; the limit is 10 images and "
                              "1024 MB (pacs.max_images and pacs.max_series_mb; WATCHWAIT_PACS_MAX_IMAGES, "
                              "WATCHWAIT_PACS_MAX_SERIES_MB). Nothing was kept. Choose another series, or ask IT to "
                              "raise the limit.")
    assert not (tmp_path / "a").exists()
    with pytest.raises(PacsError) as err:  # refused while streaming, once the bytes pass the limit
        retrieve_series(_at(config, max_series_mb=0.05), study, series, tmp_path / "b")
    assert str(err.value).startswith("This series is too large to retrieve here: more than 4 images or 0.1 MB "
                                     "so far; the limit is 2000 images and 0.05 MB")
    assert not (tmp_path / "b").exists()  # what was stored before the refusal is gone


@contextmanager
def _stand_in(answer):
    """A real HTTP server on loopback whose every GET is answered by ``answer(headers) -> (status, type, body)``;
    yields its address."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, kind, body = answer(self.headers)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web_page():
    with _stand_in(lambda headers: (200, "text/html", b"<html><body>Intranet portal</body></html>")) as base:
        yield f"{base}/portal"


def test_a_web_page_instead_of_dicom(config, web_page, tmp_path):
    page = _at(config, url=web_page)
    message = (f"The PACS at {web_page} answered, but not with DICOM (JSONDecodeError). Check that the address is "
               "the DICOMweb root (e.g. https://pacs.example/dicom-web), not a web page.")
    with pytest.raises(PacsError) as err:
        search_studies(page, "DEMO-01")
    assert str(err.value) == message
    with pytest.raises(PacsError) as err:
        retrieve_series(page, "1.2.3", "4.5", tmp_path / "x")
    assert str(err.value) == message
    assert not (tmp_path / "x").exists()


def _knows_one_token(headers):
    """A DICOMweb stand-in that knows one bearer token and no study (Orthanc has no bearer tokens built in)."""
    if headers.get("Authorization") == "Bearer good-token":
        return 200, "application/dicom+json", b"[]"
    return 403, "text/plain", b"forbidden"


def test_a_bearer_token_is_sent_and_a_refused_one_said():
    with _stand_in(_knows_one_token) as base:
        url = f"{base}/dicom-web"
        good = PacsConfig.from_env({"WATCHWAIT_PACS_URL": url, "WATCHWAIT_PACS_TOKEN": "good-token"})
        with pytest.raises(PacsError) as err:
            search_studies(good, "DEMO-01")
        assert str(err.value).startswith("No study found for Patient ID or accession number 'DEMO-01'")
        assert _search_refused(good, token="expired").startswith(
            f"The PACS at {url} refused the credentials (HTTP 403).")


def test_nothing_left_when_a_search_fails_midway(config, tmp_path):
    with pytest.raises(PacsError):
        retrieve_series(config, str(DEMO_REST.StudyInstanceUID), "1.2.3.4", tmp_path / "gone")
    assert not (tmp_path / "gone").exists()
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- the CLI

def test_cli_radiomics_of_a_dicomweb_series_equals_the_folder(orthanc):
    import json
    import subprocess
    import sys

    watchwait = Path(sys.executable).with_name("watchwait")
    ref = f"dicomweb:{STS_IMAGE.StudyInstanceUID}/{STS_IMAGE.SeriesInstanceUID}"
    env = {**os.environ, **orthanc.env, "WATCHWAIT_DEID_KEY": "pacs-cli-test"}
    runs = {}
    for name, series, roi in (("folder", STS / "image", STS / "mask" / "RS.dcm"), ("pacs", ref, ref)):
        done = subprocess.run([str(watchwait), "radiomics", "--series", str(series), "--roi", str(roi)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        runs[name] = json.loads(done.stdout)
    assert runs["pacs"]["features"] == runs["folder"]["features"]
    assert runs["pacs"]["series_check"] == runs["folder"]["series_check"]  # the description's words read too
    for key in ("image_sha256", "mask_sha256", "mask_voxels"):
        assert runs["pacs"]["provenance"][key] == runs["folder"]["provenance"][key]
    wrong = {**env, "WATCHWAIT_PACS_PASSWORD": "wrong"}
    done = subprocess.run([str(watchwait), "radiomics", "--series", ref, "--roi", ref], capture_output=True,
                          text=True, env=wrong, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (f"watchwait radiomics: The PACS at {orthanc.url} refused the credentials (HTTP 401). "
                           "Check the user and password, or the token (pacs.user and pacs.password, or pacs.token; "
                           "WATCHWAIT_PACS_USER, WATCHWAIT_PACS_PASSWORD, WATCHWAIT_PACS_TOKEN).\n")


def test_cohort_case_with_dicomweb_references_equals_the_folder(orthanc, monkeypatch):
    from watchwait.imaging.cohort import extract_cohort

    for name, value in orthanc.env.items():
        monkeypatch.setenv(name, value)
    ref = f"dicomweb:{DEMO_REST.StudyInstanceUID}/{DEMO_REST.SeriesInstanceUID}"
    folder, pacs = extract_cohort([("folder", DEMO / "restaging", DEMO / "restaging_seg.dcm"), ("pacs", ref, ref)],
                                  deid_key="pacs-cohort-test")
    assert (folder.error, pacs.error) == (None, None)
    assert pacs.features == folder.features
    assert pacs.patient_pseudonym == folder.patient_pseudonym  # one key, one pseudonym, wherever the images were
    monkeypatch.setenv("WATCHWAIT_PACS_PASSWORD", "wrong")
    (refused,) = extract_cohort([("pacs", ref, ref)])
    assert refused.error.startswith(f"The PACS at {orthanc.url} refused the credentials (HTTP 401).")


# ----------------------------------------------------------------------------- memory

MEMORY_PROBE = r"""
import gc, json, sys, tempfile, tracemalloc
from pathlib import Path
from watchwait.imaging.pacs import PacsConfig, retrieve_series

config = PacsConfig.from_env()
scratch = Path(tempfile.mkdtemp())
retrieve_series(config, *sys.argv[1:3], scratch / "warm")  # imports, the session, pydicom's dictionaries
gc.collect()
tracemalloc.start()
got = retrieve_series(config, *sys.argv[3:5], scratch / "got")
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "bytes": got.n_bytes, "images": got.n_images}))
"""


def test_retrieval_streams_instance_by_instance(orthanc, tmp_path):
    """A 100 x 256 x 256 series (12.6 MiB) is retrieved with a tracemalloc peak under a third of its size (measured:
    about 3 MiB, the 1 MB chunks of the streamed answer, one instance's copies and the client's fixed cost): the
    instances are never all in memory at once (a buffered retrieval would peak above 1x)."""
    import json
    import subprocess
    import sys

    from orthanc_server import ROOT, _request

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_imaging_memory import write_series

    write_series(tmp_path / "s", (100, 256, 256), seed=3)
    files = sorted((tmp_path / "s").iterdir())
    for path in files:
        _request(f"{orthanc.base}/instances", path.read_bytes())
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    baseline = _header(DEMO / "baseline" / "IM0001.dcm")
    uids = [str(baseline.StudyInstanceUID), str(baseline.SeriesInstanceUID), str(header.StudyInstanceUID),
            str(header.SeriesInstanceUID)]
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, *uids], capture_output=True, text=True,
                          env={**os.environ, **orthanc.env}, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["images"] == 100 and got["bytes"] > 100 * 256 * 256 * 2
    assert got["peak"] < got["bytes"] / 3, got


def test_orthanc_missing_is_a_failure_naming_make_test(monkeypatch, tmp_path):
    import orthanc_server

    monkeypatch.setattr(orthanc_server, "ORTHANC", tmp_path / "no-Orthanc")
    with pytest.raises(RuntimeError) as err:
        orthanc_server.start_orthanc(tmp_path / "o")
    assert "`make test` installs it" in str(err.value)
