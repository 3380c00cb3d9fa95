"""20 writers on one meeting at once: nothing lost, nothing doubled, the audit complete; conflicting edits of
one case end in VersionConflict, never a silent overwrite. One Store shared by the threads, as the dashboard's
sessions share it."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from helpers_store import count, record

from watchwait.store import StoreError, VersionConflict

N = 20


def _run_all(fn, n=N):
    barrier = threading.Barrier(n)

    def go(i):
        barrier.wait()
        try:
            return fn(i)
        except StoreError as exc:  # the store's refusals are collected, so one does not hide the others; a bug raises
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_20_threads_recording_decisions_and_follow_up_on_one_meeting_lose_nothing(store, db_url, cohort_csv):
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    pids = list(store.import_cases(m.id, cohort_csv(N, seed=5), actor="Chair", screen="Meeting").pseudonyms)
    pathways = ("watch_and_wait", "local_excision", "tme")

    def work(i):
        d = store.record_decision(m.id, pids[i], pathway=pathways[i % 3], follows_suggestion=True, rationale=f"case {i}",
                                  present=["Dr Ade", f"Dr {i}"], actor=f"recorder-{i}", screen="Presentation",
                                  expected_version=None)
        f = store.record_follow_up(pids[i], {"management": pathways[i % 3], "months_followed": i},
                                   actor=f"recorder-{i}", screen="Follow-up", expected_version=None)
        return d, f

    results = _run_all(work)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert count(db_url, "SELECT count(*) FROM decisions") == N
    assert count(db_url, "SELECT count(DISTINCT patient_id) FROM decisions WHERE version = 1") == N
    assert count(db_url, "SELECT count(*) FROM follow_ups") == N
    for i, pid in enumerate(pids):
        d, f = results[i]
        assert store.decisions(pid) == [d] and d.rationale == f"case {i}" and d.actor == f"recorder-{i}"
        assert store.follow_ups(pid) == [f] and f.data == {"management": pathways[i % 3], "months_followed": float(i)}
    cases = store.meeting_cases(m.id)
    assert [c.decision for c in cases] == [r[0] for r in results]
    log = store.audit(limit=10_000, meeting_id=m.id)
    assert Counter(e.pseudonym for e in log if e.action == "decision.recorded") == Counter(pids)
    everything = store.audit(limit=10_000)
    assert Counter((e.pseudonym, e.actor) for e in everything if e.action == "follow_up.recorded") == Counter(
        (pid, f"recorder-{i}") for i, pid in enumerate(pids))
    assert store.meeting(m.id).n_decided == N


def test_20_threads_deciding_the_same_case_make_one_decision_and_19_conflicts(store, db_url):
    store.save_assessment("RC-100", record("RC-100"), expected_version=None, actor="Dr Ade", screen="Patient")
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    store.add_case(m.id, "RC-100", "Chair", "Meeting")
    results = _run_all(lambda i: store.record_decision(
        m.id, "RC-100", pathway="tme", follows_suggestion=True, rationale=f"from {i}", present=["A"], actor=f"r{i}",
        screen="Presentation", expected_version=None))
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and sum(isinstance(r, VersionConflict) for r in results) == N - 1
    assert store.decisions("RC-100") == wins
    assert [e.actor for e in store.audit("RC-100") if e.action == "decision.recorded"] == [wins[0].actor]
    assert count(db_url, "SELECT count(*) FROM decisions") == 1


def test_two_people_editing_the_same_case_see_the_conflict(store):
    store.save_assessment("RC-101", record("RC-101"), expected_version=None, actor="Dr Ade", screen="Patient")
    edits = [record("RC-101", ecog=1), record("RC-101", mr_trg=1)]
    results = _run_all(lambda i: store.save_assessment("RC-101", edits[i], expected_version=1, actor=f"editor-{i}",
                                                       screen="Patient"), n=2)
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, VersionConflict)]
    assert len(won) == 1 and len(lost) == 1
    assert f"assessment version 2 was saved by {won[0].actor} at " in str(lost[0])
    history = store.assessments("RC-101")
    assert [h.version for h in history] == [1, 2] and history[1] == won[0]
    # the loser's change is in no version: nothing was silently merged or overwritten
    loser = 1 - int(won[0].actor[-1])
    changed = {"ecog": 1} if loser == 0 else {"mr_trg": 1}
    assert all(all(h.record[k] != v for k, v in changed.items()) for h in history)


def test_20_threads_saving_new_versions_of_one_case_with_fresh_reads_lose_none(store):
    """Each writer retries on conflict with the latest version: 20 saves become versions 2..21, none lost."""
    store.save_assessment("RC-102", record("RC-102"), expected_version=None, actor="Dr Ade", screen="Patient")

    def work(i):
        while True:
            latest = store.assessment("RC-102")
            try:
                return store.save_assessment("RC-102", record("RC-102", site=f"edit-{i}"), expected_version=latest.version,
                                             actor=f"editor-{i}", screen="Patient")
            except VersionConflict:
                continue

    results = _run_all(work)
    assert sorted(r.version for r in results) == list(range(2, N + 2))
    assert sorted(h.record["site"] for h in store.assessments("RC-102")[1:]) == sorted(f"edit-{i}" for i in range(N))
