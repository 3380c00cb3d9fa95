"""The case list gives, page by page and for every combination of filters, exactly what the store's own read
methods say about each case (latest assessment, latest decision, latest follow-up, latest meeting, pending
follow-up), worked out here in plain Python; and a page without a pathway or pending filter is still one query."""

from __future__ import annotations

import itertools
import random

import pytest
from helpers_store import record
from sqlalchemy import event

from watchwait.store import PATHWAYS, CaseSummary, pathway_label

WHO = dict(actor="Chair", screen="Meeting")
N = 240


@pytest.fixture
def many(store):
    """240 cases over three meetings (some in two, some in none), some with a second assessment version, decisions
    (some corrected, some at two meetings), follow-up before and after the latest decision."""
    rng = random.Random(7)
    ms = [store.create_meeting(date, f"MDT {date}", "Chair") for date in ("2026-10-06", "2026-11-03", "2026-12-01")]
    stems = ("RC", "rc", "Kx", "K_", "Z9")
    pids = rng.sample(sorted({f"{rng.choice(stems)}-{rng.randrange(1000):03d}" for _ in range(400)}), N)
    for i, pid in enumerate(pids):
        store.save_assessment(pid, record(pid), expected_version=None, actor="Dr Ade", screen="Patient")
        if i % 7 == 0:
            store.save_assessment(pid, record(pid, age_years=65), expected_version=1, actor="Dr Ade", screen="Patient")
        k = i % 5  # 0: no meeting, 1-3: one meeting, 4: first and last
        for m in ([] if k == 0 else [ms[k - 1]] if k < 4 else [ms[0], ms[2]]):
            store.add_case(m.id, pid, **WHO)
    for i, pid in enumerate(pids):
        k = i % 5
        if k == 0 or i % 3 == 0:
            continue  # not discussed, or discussed and not yet decided
        meetings = [ms[k - 1]] if k < 4 else [ms[0], ms[2]]
        if i % 4 == 1:  # follow-up recorded before the decision: still pending
            store.record_follow_up(pid, {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
        for m in meetings:
            version = None
            for _ in range(1 + (i % 11 == 2)):  # some decisions corrected
                version = store.record_decision(m.id, pid, pathway=rng.choice(PATHWAYS), follows_suggestion=True,
                                                rationale="r", present=["Dr Ade"], actor="Chair", screen="Presentation",
                                                expected_version=version).version
        if i % 4 == 2:  # follow-up after the latest decision
            store.record_follow_up(pid, {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
        if i % 8 == 2:  # and a second one
            store.record_follow_up(pid, {"months_followed": 12}, actor="Dr Ade", screen="Follow-up", expected_version=1)
    return store, ms, pids


def _expected(store, ms) -> dict[str, tuple[CaseSummary, set[int]]]:
    """Each case's summary from the store's read methods (no list query), with the meetings it is on."""
    on: dict[str, set[int]] = {}
    dates = {m.id: m.date for m in ms}
    for m in ms:
        for c in store.meeting_cases(m.id):
            on.setdefault(c.pseudonym, set()).add(m.id)
    out = {}
    for pid in {r.pseudonym for r in store.follow_up_records()}:
        versions = store.assessments(pid)
        decided = store.decisions(pid)
        fups = store.follow_ups(pid)
        last = max(decided, key=lambda d: d.id) if decided else None
        fu_at = max((f.recorded_at for f in fups), default=None)
        mids = on.get(pid, set())
        out[pid] = (CaseSummary(
            pid, max(v.version for v in versions), max(v.saved_at for v in versions),
            max((dates[i] for i in mids), default=None), last and last.pathway,
            last and pathway_label(last.pathway), last and last.recorded_at, max((f.version for f in fups), default=None),
            last is not None and (fu_at is None or fu_at < last.recorded_at)), mids)
    return out


SEARCHES = (None, "", "  ", "rc-", "K_", "_", "%", "00", "nothing-like-this")


def test_every_page_of_every_filter_matches_the_cases_read_one_by_one(many):
    store, ms, pids = many
    expected = _expected(store, ms)
    assert sorted(expected) == sorted(pids) and {p[:2] for p in pids} == {"RC", "rc", "Kx", "K_", "Z9"}
    # the fixture covers what the filters tell apart
    summaries = [s for s, _ in expected.values()]
    assert {s.pathway for s in summaries} == {None, *PATHWAYS}
    assert {s.pending_follow_up for s in summaries if s.pathway} == {True, False}
    assert {s.assessment_version for s in summaries} == {1, 2}
    assert {s.follow_up_version for s in summaries} == {None, 1, 2}
    assert {s.last_meeting_date for s in summaries} == {None, *(m.date for m in ms)}
    checked = 0
    for search, meeting, pathway, pending in itertools.product(SEARCHES, (None, *(m.id for m in ms)),
                                                               (None, *PATHWAYS), (None, True, False)):
        want = [s for pid, (s, mids) in sorted(expected.items())
                if (not (search and search.strip()) or search.strip().lower() in pid.lower())
                and (meeting is None or meeting in mids) and (pathway is None or s.pathway == pathway)
                and (pending is None or s.pending_follow_up == pending)]
        size = 37 if pathway is None and pending is None else 60
        pages = max(1, -(-len(want) // size))
        for page in range(1, pages + 2):  # and one past the end
            got = store.list_cases(search=search, meeting_id=meeting, pathway=pathway, pending_follow_up=pending,
                                   page=page, page_size=size)
            where = dict(search=search, meeting_id=meeting, pathway=pathway, pending_follow_up=pending, page=page)
            assert (got.total, got.pages, got.page, got.page_size) == (len(want), pages, page, size), where
            assert list(got.items) == want[(page - 1) * size:page * size], where
            checked += 1
    assert checked > 900


def test_a_page_without_pathway_or_pending_filter_is_one_query(many):
    store, ms, _ = many
    seen: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "SET ", "PRAGMA")):
            seen.append(statement)

    event.listen(store._engine, "before_cursor_execute", hook)
    try:
        page = store.list_cases(search="rc", meeting_id=ms[2].id, page=2, page_size=10)
    finally:
        event.remove(store._engine, "before_cursor_execute", hook)
    assert page.items and len(seen) == 1
