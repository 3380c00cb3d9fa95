"""A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin, on free loopback ports, in a tmp folder.

:func:`start_orthanc` writes Orthanc's configuration (storage and index in the folder, HTTP and DICOM ports free
on 127.0.0.1, no remote access, HTTP basic authentication with one registered user, the DICOMweb plugin at
``/dicom-web/``), starts ``/usr/sbin/Orthanc``, waits until it answers (< 1 s here) and stores the test files
(:data:`FILES`) through its REST API (``POST /instances``). :func:`stop_orthanc` ends that process only.

Orthanc missing is a failure, not a skip: ``make test`` installs it (Makefile target ``pacs``).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
USER, PASSWORD = "mdt", "pacs-test-password"
MISSING = (f"Orthanc is needed for the PACS tests ({ORTHANC} with {DICOMWEB_PLUGIN}): `make test` installs it "
           "(Makefile target `pacs`: Debian's orthanc and orthanc-dicomweb)")

STS = TESTDATA / "mr" / "sts_025_t1" / "dicom"
HIGHDICOM = TESTDATA / "seg" / "highdicom_ct"
DEMO = ROOT / "sample_data" / "imaging" / "DEMO-01"


def files() -> list[Path]:
    """What the test PACS holds: STS_025 (T1 limb MR + RTSTRUCT), highdicom's CT and SEGs, DEMO-01's two visits
    with their SEGs."""
    out = sorted((STS / "image").glob("*.dcm")) + [STS / "mask" / "RS.dcm"]
    out += sorted(p for p in HIGHDICOM.rglob("*") if p.is_file() and p.name not in ("LICENSE", "README.md"))
    for visit in ("baseline", "restaging"):
        out += sorted((DEMO / visit).glob("*.dcm")) + [DEMO / f"{visit}_seg.dcm"]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    process: subprocess.Popen
    port: int
    folder: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The DICOMweb root."""
        return f"{self.base}/dicom-web"

    @property
    def config(self) -> dict[str, str]:
        """The PACS settings as the app reads them (``[pacs]`` of the secrets, or the env vars)."""
        return {"url": self.url, "user": USER, "password": PASSWORD}

    @property
    def env(self) -> dict[str, str]:
        return {"WATCHWAIT_PACS_URL": self.url, "WATCHWAIT_PACS_USER": USER, "WATCHWAIT_PACS_PASSWORD": PASSWORD}


def _request(url: str, data: bytes | None = None, timeout: float = 5.0) -> bytes:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Basic {token}"},
                                 method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def start_orthanc(folder: Path, *, store: bool = True) -> Orthanc:
    """Start Orthanc in ``folder`` and store :func:`files` in it. Raises RuntimeError (never skips) when Orthanc
    or its DICOMweb plugin is not installed, or when it does not answer within 20 s."""
    if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
        raise RuntimeError(MISSING)
    folder.mkdir(parents=True, exist_ok=True)
    port, dicom_port = free_port(), free_port()
    config = {
        "Name": "WATCHWAIT-TEST",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": port,
        "DicomPort": dicom_port,
        "DicomAet": "WWTEST",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "StableAge": 1,
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 8,
        "SaveJobs": False,
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    log = (folder / "orthanc.log").open("w")
    proc = subprocess.Popen([str(ORTHANC), str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = Orthanc(proc, port, folder)
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with code {proc.returncode}; see {folder / 'orthanc.log'}")
        try:
            _request(f"{server.base}/system", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                stop_orthanc(server)
                raise RuntimeError(f"Orthanc did not answer within 20 s; see {folder / 'orthanc.log'}") from None
            time.sleep(0.05)
    if store:
        for f in files():
            _request(f"{server.base}/instances", f.read_bytes())
    return server


def stop_orthanc(server: Orthanc) -> None:
    """Stop this Orthanc (its storage is a test's tmp folder: a clean shutdown, which takes Orthanc ~3 s, is not
    needed)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
