"""Cohort radiomics on a real Dask cluster: a scheduler and two worker processes on loopback.

The cluster (``distributed.LocalCluster``: the scheduler in this process, two nanny-supervised
worker processes with one thread each, random ports) is started once for the module. Its
workers get the de-identification key through ``WATCHWAIT_DEID_KEY`` as a site's workers would;
the test process passes the same key as ``deid_key``. What is checked:

* the Dask run gives exactly the local run (``n_jobs=1``): same cases in the same order, the
  same feature names in the same order, bit-identical values, the same pseudonyms, the same
  per-case error for a case whose files are broken;
* a worker process killed (SIGKILL) mid-run: its cases are run again elsewhere, every value is
  still the local one, and the cases that were run again say so in their warnings;
* a case that kills every worker it runs on (a test-only worker plugin SIGKILLs the worker
  when that case starts executing) ends, after the scheduler's allowed-failures (3), as that
  case's plain "worker lost" error, and the other cases are computed;
* a scheduler, or the only worker, killed mid-run (a site's layout: `dask scheduler` and `dask worker`
  processes): the cases fetched before stay computed, the others fail with "lost the connection
  ..." or "worker lost: no Dask worker was left ..." (after ``dask_timeout``, no hang);
* a scheduler that cannot be reached (nothing listening, or a port that never answers) gives a
  plain message within the timeout; a scheduler without workers, or workers without the key,
  give a plain message too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import json
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="dask.distributed is not installed (test extra)")

KEY = "dask-test-key"
N_PATIENTS = 8


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> list:
    """Cases as a cohort file references them: the mri_* cells of 8 synthetic patients, 2 visits each."""
    from watchwait.imaging.cohort import CohortCase
    from watchwait.imaging.cohort_images import write_cohort_images
    from watchwait.sim import simulate

    base = tmp_path_factory.mktemp("dask_cohort")
    truth = simulate(N_PATIENTS, seed=18, with_oracle=False).truth[["patient_id", "latent_score"]]
    cells = write_cohort_images(truth, base / "imaging", share=1.0, seed=5, base_dir=base)
    return [CohortCase(f"{row.patient_id}:{visit}", base / row[f"mri_{visit}_dir"], base / row[f"mri_{visit}_roi"])
            for _, row in cells.iterrows() for visit in ("baseline", "restaging")]


@pytest.fixture(scope="module")
def broken(cohort) -> list:
    """Two cases whose files are unusable: an MR image given as the ROI, a series folder that is not there."""
    from watchwait.imaging.cohort import CohortCase

    first = cohort[0]
    return [CohortCase("broken-roi", first.series, first.series / "IM0001.dcm"),
            CohortCase("missing-series", first.series.parent / "no-such-folder", first.roi)]


@pytest.fixture(scope="module")
def local(cohort, broken) -> dict:
    """The local run (one process), by case id."""
    from watchwait.imaging.cohort import extract_cohort

    return {r.case_id: r for r in extract_cohort(cohort + broken, n_jobs=1, deid_key=KEY)}


@pytest.fixture(scope="module")
def _plain_main():
    """Worker processes start by 'spawn', which runs the parent's ``__main__`` again from its file. In a pytest worker
    that ran an AppTest before this file, ``__main__`` is the dashboard's app.py (Streamlit's script runner names the
    script it runs so), and every worker process died running it (a fresh-clone run, 2026-12-08: 'Nanny failed to
    start'). While the cluster lives, ``__main__`` is a plain module with no file; a site's `dask worker` has none."""
    import types

    before = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if before is not None:
            sys.modules["__main__"] = before


@pytest.fixture(scope="module")
def cluster(_plain_main):
    """A scheduler and two single-threaded worker processes on 127.0.0.1 (random ports), with the key."""
    import dask
    from distributed import Client, LocalCluster

    # worker-saturation 1: one task at a time per worker (none queued behind the running one), so that a worker
    # killed by the poison case does not also count as a death for an innocent case queued there.
    # lost-worker-timeout: LocalCluster closes a nanny whose worker has been gone that long (15 s by default) -
    # on a loaded machine, while the poison case keeps killing workers; a site's `dask worker` has no such timer
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.deploy.lost-worker-timeout": "1 hour"}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", env={"WATCHWAIT_DEID_KEY": KEY})
        client = Client(cluster, set_as_default=False)
        try:
            yield cluster, client
        finally:
            pids = set(client.run(os.getpid).values())
            client.close()
            cluster.close()
        time.sleep(0.2)
        assert not [pid for pid in pids if _alive(pid)], "worker processes left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _exact(result) -> list[tuple[str, str]]:
    """Feature names in order with their values as exact hex floats (NaN-safe, no rounding)."""
    return [(name, float(value).hex()) for name, value in result.features.items()]


def _same_as_local(results, local) -> None:
    for r in results:
        want = local[r.case_id]
        assert r.ok and want.ok, (r.case_id, r.error, want.error)
        assert _exact(r) == _exact(want), r.case_id
        assert r.patient_pseudonym == want.patient_pseudonym and r.patient_pseudonym.startswith("WW-")
        assert r.provenance == want.provenance and r.provenance["mask_sha256"]


def _wait_for_workers(client, n: int) -> None:
    client.wait_for_workers(n, timeout=60)


def test_dask_run_equals_the_local_run_case_by_case(cluster, cohort, broken, local, monkeypatch):
    from dataclasses import replace

    from watchwait.imaging.cohort import extract_cohort

    cl, client = cluster
    _wait_for_workers(client, 2)
    cases = cohort + broken
    results = extract_cohort(cases, dask_address=cl.scheduler_address, deid_key=KEY)
    assert [r.case_id for r in results] == [c.case_id for c in cases]  # every case, in input order
    first = cohort[0]  # paths relative to this process's folder (the workers' folder is another): the same case
    monkeypatch.chdir(first.series.parent)
    relative = replace(first, case_id="relative", series=first.series.name, roi=first.roi.name)
    assert not Path(relative.series).is_absolute() and Path(relative.series).is_dir()
    [again] = extract_cohort([relative], dask_address=cl.scheduler_address, deid_key=KEY)
    _same_as_local([replace(again, case_id=first.case_id)], local)
    _same_as_local(results[:len(cohort)], local)
    assert all(r.warnings == local[r.case_id].warnings for r in results)
    assert len({r.patient_pseudonym for r in results[:len(cohort)]}) == N_PATIENTS
    assert len(results[0].features) == 107
    for r in results[len(cohort):]:  # the broken cases: the local path's message, on Dask
        assert r.features is None and r.error == local[r.case_id].error
    assert results[-2].error == ("IM0001.dcm: not a ROI file: modality MR (expected a DICOM SEG, an RTSTRUCT "
                                 "or a NIfTI mask)")
    assert results[-1].error.endswith("/no-such-folder: no such file or folder")


def test_a_worker_killed_mid_run_loses_no_case(cluster, cohort, local):
    """SIGKILL one worker process while it runs cases: the scheduler runs them again; nothing is missing."""
    from dataclasses import replace

    from watchwait.imaging.cohort import extract_cohort

    cl, client = cluster
    _wait_for_workers(client, 2)
    cases = [replace(c, case_id=f"{c.case_id}#{k}") for k in range(2) for c in cohort]  # 32 cases
    pids = client.run(os.getpid)
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(extract_cohort, cases, dask_address=cl.scheduler_address, deid_key=KEY)
        victim = _kill_a_busy_worker(client, pids, run, len(cases), min_done=4, min_left=10)
        results = run.result(timeout=120)
    assert not _alive(victim)
    assert [r.case_id for r in results] == [c.case_id for c in cases]
    _same_as_local([replace(r, case_id=r.case_id.split("#")[0]) for r in results], local)
    rerun = [r.case_id for r in results if any(w.startswith("run again on another Dask worker") for w in r.warnings)]
    assert rerun, "no case was running on the killed worker: the kill came too late to test anything"
    assert [w for r in results for w in r.warnings if w.startswith("run again")][0] == (
        "run again on another Dask worker: the worker running it was lost (1 time)")


def _kill_a_busy_worker(client, pids: dict, run, n_cases: int, *, min_done: int, min_left: int) -> int:
    """SIGKILL the process of a worker that is running a case of ``run``, once some cases are done.

    The scheduler forgets a case's task once its result is fetched: the tasks it still knows are the cases left.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not run.done():
        states = _task_states(client)
        left = sum(s not in ("memory", "erred") for s, _ in states.values())
        busy = sorted({w for s, w in states.values() if s == "processing" and w in pids})
        if states and n_cases - left >= min_done and left >= min_left and busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            return pids[busy[0]]
        time.sleep(0.02)
    pytest.fail("the run ended (or never started) before a worker could be killed mid-run")


def _task_states(client) -> dict:
    """The scheduler's state (and worker) of each cohort task it knows."""

    def states(dask_scheduler) -> dict:  # nested: pickled by value (a scheduler process does not import the tests)
        return {ts.key: (ts.state, ts.processing_on.address if ts.processing_on else None)
                for ts in dask_scheduler.tasks.values() if str(ts.key).startswith("watchwait-radiomics-")}

    return client.run_on_scheduler(states)


def _poison_plugin(suffix: str):
    """A worker plugin (test only): the worker process SIGKILLs itself when the task whose key ends in ``suffix``
    starts executing (the task key of case i ends in -i: watchwait.imaging.cohort._on_dask)."""
    from distributed import WorkerPlugin

    class PoisonCase(WorkerPlugin):
        name = "watchwait-test-poison"

        def __init__(self, suffix: str):
            self.suffix = suffix

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and str(key).startswith("watchwait-radiomics-") and str(key).endswith(self.suffix):
                os.kill(os.getpid(), signal.SIGKILL)

    return PoisonCase(suffix)


def test_a_case_that_kills_every_worker_ends_as_its_own_error(cluster, cohort, local):
    from dataclasses import replace

    from watchwait.imaging.cohort import extract_cohort

    cl, client = cluster
    _wait_for_workers(client, 2)
    cases = [*cohort[:5], replace(cohort[5], case_id="poison"), *cohort[6:]]
    plugin = _poison_plugin("-5")  # a class defined in a function: pickled by value (workers do not import tests)
    client.register_plugin(plugin, name=plugin.name)
    try:
        start = time.monotonic()
        results = extract_cohort(cases, dask_address=cl.scheduler_address, deid_key=KEY)
        seconds = time.monotonic() - start
    finally:
        client.unregister_worker_plugin(plugin.name)
    assert [r.case_id for r in results] == [c.case_id for c in cases]
    poison = results[5]
    assert poison.features is None
    assert re.fullmatch(
        r"worker lost: the Dask workers running case poison died 4 times \(the scheduler's allowed-failures is 3; "
        r"last worker tcp://127\.0\.0\.1:\d+\); the case was given up: it may exhaust a worker's memory or crash "
        r"it, see the worker logs", poison.error), poison.error
    _same_as_local(results[:5] + results[6:], local)
    assert seconds < 60
    _wait_for_workers(client, 2)  # the nannies bring the workers back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UNREACHABLE = ("cannot reach the Dask scheduler at {address} within 1 s; check that a scheduler runs there "
               "(dask scheduler, port 8786 by default) and that this machine can reach it, or run without a "
               "Dask address to compute here")


def test_nothing_listening_is_a_plain_message_within_the_timeout(cohort):
    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(RadiomicsError) as exc:
        extract_cohort(cohort[:2], dask_address=address, deid_key=KEY, dask_timeout=1)
    assert str(exc.value) == UNREACHABLE.format(address=address)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    assert time.monotonic() - start < 5


def test_a_port_that_never_answers_does_not_hang(cohort):
    """A listener that accepts and stays silent (not a Dask scheduler): Client alone would wait forever."""
    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(RadiomicsError) as exc:
            extract_cohort(cohort[:2], dask_address=address, deid_key=KEY, dask_timeout=1)
        assert time.monotonic() - start < 5
    assert str(exc.value) == UNREACHABLE.format(address=address)


def test_an_address_that_is_not_a_scheduler_address(cohort):
    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    with pytest.raises(RadiomicsError) as exc:
        extract_cohort(cohort[:1], dask_address="http://127.0.0.1:8787", deid_key=KEY, dask_timeout=1)
    assert str(exc.value) == ("'http://127.0.0.1:8787' is not a Dask scheduler address (unknown address scheme "
                              "'http' (known schemes: ['inproc', 'tcp', 'tls', 'ucx', 'ws', 'wss'])); give it as "
                              "tcp://host:port, e.g. tcp://10.0.0.5:8786")


def test_workers_without_the_runs_key_are_refused_before_any_case_runs(cluster, cohort):
    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    cl, client = cluster
    _wait_for_workers(client, 2)
    with pytest.raises(RadiomicsError) as exc:
        extract_cohort(cohort[:2], dask_address=cl.scheduler_address, deid_key="another key")
    assert re.fullmatch(r"the Dask workers' WATCHWAIT_DEID_KEY: another key on tcp://127\.0\.0\.1:\d+, "
                        r"tcp://127\.0\.0\.1:\d+; set the same WATCHWAIT_DEID_KEY on every Dask worker as here, "
                        r"so that pseudonyms match", str(exc.value)), str(exc.value)


def test_no_key_here_is_refused(cohort, monkeypatch):
    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    monkeypatch.delenv("WATCHWAIT_DEID_KEY", raising=False)
    with pytest.raises(RadiomicsError, match=r"^WATCHWAIT_DEID_KEY is not set here; on a Dask cluster every worker "
                                             r"de-identifies with its own WATCHWAIT_DEID_KEY: set the same secret "
                                             r"here and on every worker, so that pseudonyms match$"):
        extract_cohort(cohort[:1], dask_address="tcp://127.0.0.1:8786")


def test_a_scheduler_without_workers_is_a_plain_message(cohort):
    from distributed import LocalCluster

    from watchwait.imaging.cohort import extract_cohort
    from watchwait.imaging.errors import RadiomicsError

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0") as empty:
        address = empty.scheduler_address
        start = time.monotonic()
        with pytest.raises(RadiomicsError) as exc:
            extract_cohort(cohort[:1], dask_address=address, deid_key=KEY, dask_timeout=1)
        assert time.monotonic() - start < 5
    assert str(exc.value) == (f"the Dask scheduler at {address} has no workers (waited 1 s); start them on "
                              f"machines that can read the images: dask worker {address}")


LOST = {
    "scheduler": ("lost the connection to the Dask scheduler at {address} before case {case} was done; run the "
                  "cohort again when the scheduler is back"),
    "worker": ("worker lost: no Dask worker was left on the scheduler at {address} for 3 s before case {case} was "
               "done; start workers (dask worker {address}) and run the cohort again"),
}


@pytest.mark.parametrize("killed", ["scheduler", "worker"])
def test_a_lost_scheduler_or_last_worker_fails_only_the_unfinished_cases(cohort, local, tmp_path, killed):
    """A site's layout: `dask scheduler` and one `dask worker` (no nanny) processes; one is SIGKILLed mid-run."""
    from dataclasses import replace

    from distributed import Client

    from watchwait.imaging.cohort import extract_cohort

    dask_cli = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "WATCHWAIT_DEID_KEY": KEY}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    started: list[subprocess.Popen] = []
    try:
        started.append(subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                         "--dashboard-address", "127.0.0.1:0",
                                         "--scheduler-file", str(tmp_path / "scheduler.json")], **quiet))
        deadline = time.monotonic() + 60
        while not (tmp_path / "scheduler.json").is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but let it be complete
        address = json.loads((tmp_path / "scheduler.json").read_text())["address"]
        started.append(subprocess.Popen([dask_cli, "worker", address, "--nthreads", "1", "--no-nanny",
                                         "--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"], **quiet))
        cases = [replace(c, case_id=f"{c.case_id}#{k}") for k in range(2) for c in cohort]
        pool = ThreadPoolExecutor(1)
        with Client(address, timeout=30, set_as_default=False) as watcher:
            watcher.wait_for_workers(1, timeout=60)
            run = pool.submit(extract_cohort, cases, dask_address=address, deid_key=KEY, dask_timeout=3)
            while time.monotonic() < deadline and not run.done():
                states = _task_states(watcher)
                left = sum(s not in ("memory", "erred") for s, _ in states.values())
                if states and len(cases) - len(states) >= 2 and left >= 10:  # 2 fetched (forgotten), 10 to do
                    break
                time.sleep(0.02)
            else:
                pytest.fail(f"the run ended (or never started) before the {killed} could be killed mid-run")
        started[0 if killed == "scheduler" else 1].send_signal(signal.SIGKILL)
        start = time.monotonic()
        results = run.result(timeout=60)
        assert time.monotonic() - start < 30
        pool.shutdown()
    finally:
        for process in reversed(started):
            process.kill()
            process.wait(timeout=30)
    assert [r.case_id for r in results] == [c.case_id for c in cases]
    computed = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    assert len(computed) >= 2 and len(failed) >= 5, (len(computed), len(failed))
    _same_as_local([replace(r, case_id=r.case_id.split("#")[0]) for r in computed], local)
    for r in failed:
        assert r.features is None and r.error == LOST[killed].format(address=address, case=r.case_id)


def test_the_command_line_computes_a_cohort_files_radiomics_on_the_cluster(cluster, tmp_path, monkeypatch, capsys):
    """`watchwait predict --cohort ... --dask-address ...` (and train/update/evaluate/validate, which read the cohort
    the same way): the predictions equal those of the local run, radiomics included; a T1 series is kept out on the
    cluster as here; an unreachable scheduler is a plain message (exit 2)."""
    import pandas as pd

    from watchwait.cli import main

    cl, client = cluster
    _wait_for_workers(client, 2)
    monkeypatch.setenv("WATCHWAIT_DEID_KEY", KEY)  # the same key as the workers' (checked before any case runs)
    cohort = tmp_path / "cohort.csv"
    assert main(["simulate", "--n", "4", "--seed", "3", "--out", str(cohort), "--imaging-share", "1.0"]) == 0
    frame = pd.read_csv(cohort)
    sts = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "mr" / "sts_025_t1" / "dicom"
    if sts.is_dir():  # a T1 limb series as one patient's restaging: kept out on the cluster as it is here
        frame.loc[0, "mri_restaging_dir"], frame.loc[0, "mri_restaging_roi"] = str(sts / "image"), str(sts / "mask" / "RS.dcm")
        frame.to_csv(cohort, index=False)
    outs = {}
    for name, extra in (("local", []), ("dask", ["--dask-address", cl.scheduler_address])):
        outs[name] = tmp_path / f"{name}.csv"
        assert main(["predict", "--cohort", str(cohort), "--out", str(outs[name]), *extra]) == 0
    local, dask = pd.read_csv(outs["local"]), pd.read_csv(outs["dask"])
    pd.testing.assert_frame_equal(dask, local)
    frame.drop(columns=[c for c in frame.columns if c.startswith("mri_")]).to_csv(tmp_path / "no_mri.csv", index=False)
    assert main(["predict", "--cohort", str(tmp_path / "no_mri.csv"), "--out", str(tmp_path / "no_mri_p.csv")]) == 0
    without = pd.read_csv(tmp_path / "no_mri_p.csv")
    assert (local["p_complete_response"].iloc[1:] != without["p_complete_response"].iloc[1:]).any()  # radiomics used
    if sts.is_dir():  # the T1 series: its radiomics left out, and said so, on both runs
        assert "FLAG-radiomics-not-used" in local.loc[0, "flags"]
        assert local.loc[0, "p_complete_response"] == without.loc[0, "p_complete_response"]
    capsys.readouterr()
    port = _free_port()
    assert main(["predict", "--cohort", str(cohort), "--out", str(tmp_path / "x.csv"),
                 "--dask-address", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 10 s" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()
