"""A tamper-evident trail: the hashes the store writes with every audit row, and ``watchwait db verify``.

Why: the append-only triggers stop the polite (the app, a mistaken UPDATE), not someone with the SQLite file or
the PostgreSQL owner role, who can drop or disable a trigger and rewrite a decision. The hashes make such an
edit visible afterwards.

How (schema revision ``0004_integrity``)
    - Every row the store writes in a case table (:data:`CHAINED`: patients, assessments, predictions,
      meetings, meeting cases, decisions, follow-up, models) is *covered* by the audit row written in the same
      transaction: the audit row's ``covers`` column lists ``[table, key, row hash]`` for each (the key is
      ``id``; ``models`` is keyed by ``version``). The row hash (:func:`digest`) is SHA-256 over the table name
      and every non-NULL column of the row as the database hands it back (read back inside the transaction, so
      what is hashed is what is stored; NULL columns are left out so that a later revision adding a nullable
      column leaves old rows' hashes as they were).
    - Every audit row carries ``row_hash`` (the digest of its own columns, its id and ``covers`` included, the
      two hashes left out) and ``chain_hash`` = SHA-256(previous audit row's ``chain_hash`` + ``row_hash``); the
      first row follows :data:`GENESIS`. Who looked (``accesses``, not in the audit) has the same two columns
      and a chain of its own.
    - Appends to a chain are serialised (SQLite: ``BEGIN IMMEDIATE`` serialises every writer; PostgreSQL: a
      transaction-level advisory lock per chain, :data:`CHAIN_LOCK`, taken just before the append and held to the
      commit), so each chain has one order, that of the ids.

:func:`verify` reads the whole store and returns every problem, in this order: audit rows whose hash does not
match their content or does not follow from the row before; covered rows that changed or went missing (each
row is compared with the *last* audit row that covers it); rows no audit row covers (added outside watchwait);
the same for who looked. The first problem names the row in plain words, e.g. "audit row 17: its hash does not
match its content (changed after it was written?)".

What it does not protect against: someone who can write the database and recomputes every hash after the
edited row (the hashes carry no secret). Against that, keep the chain head that ``watchwait db verify`` prints
somewhere the database's writers cannot reach (a ticket, the meeting's minutes) and pass it back with
``--expect``: a rewritten or shortened trail no longer holds it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text

GENESIS = "0" * 64
#: the tables whose rows audit rows cover, and their key column
CHAINED = {"patients": "id", "assessments": "id", "predictions": "id", "meetings": "id", "meeting_cases": "id",
           "decisions": "id", "follow_ups": "id", "models": "version"}
#: tables with a chain of their own (no audit row covers their rows)
SELF_CHAINED = ("audit", "accesses")
HASH_COLUMNS = ("row_hash", "chain_hash")
CHAIN_LOCK = {"audit": 74327002, "accesses": 74327003}
_CHUNK = 500

LABELS = {"patients": "patients", "assessments": "assessments", "predictions": "predictions", "meetings": "meetings",
          "meeting_cases": "meeting cases", "decisions": "decisions", "follow_ups": "follow-up", "models": "models",
          "audit": "audit", "accesses": "who looked"}


def _value(v: object) -> object:
    """A column's value as JSON, tagged by its type (so 1, 1.0, True and '1' differ)."""
    if isinstance(v, bool):
        return ["b", int(v)]
    if isinstance(v, int):
        return ["i", str(v)]
    if isinstance(v, float):
        return ["f", v.hex()]
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, bytes | bytearray | memoryview):
        return ["x", bytes(v).hex()]
    return ["?", type(v).__name__, str(v)]


def digest(table: str, row: Mapping[str, object], skip: Iterable[str] = ()) -> str:
    """SHA-256 (hex) of the table name and the row's non-NULL columns, by column name."""
    skip = set(skip)
    items = [[k, _value(v)] for k, v in sorted(row.items()) if v is not None and k not in skip]
    body = json.dumps([table, items], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def link(previous: str, row_hash: str) -> str:
    return hashlib.sha256((previous + row_hash).encode("ascii")).hexdigest()


def own_digest(table: str, row: Mapping[str, object]) -> str:
    """The digest of an audit (or who-looked) row's own content (its id included), without its two hashes."""
    return digest(table, row, skip=HASH_COLUMNS)


def _rows(conn, sql: str, params: dict | None = None):
    """Rows of a raw query as dicts (column name -> value as the driver hands it back), without SQLAlchemy's row
    mapping (the verify reads every row of the store)."""
    result = conn.execute(text(sql) if isinstance(sql, str) else sql, params or {})
    keys = list(result.keys())
    for values in result:
        yield dict(zip(keys, values))


def _key_sort(k):
    return (0, k, "") if isinstance(k, int) else (1, 0, str(k))


def read_rows(conn, table: str, keys: list) -> dict:
    """key -> digest of the rows of ``table`` with those keys, as stored (raw SQL: no type conversion)."""
    if table not in CHAINED:
        raise ValueError(f"{table} is not a covered table")
    key = CHAINED[table]
    out = {}
    q = text(f"SELECT * FROM {table} WHERE {key} IN :keys").bindparams(bindparam("keys", expanding=True))
    for i in range(0, len(keys), _CHUNK):
        for r in _rows(conn, q, {"keys": keys[i:i + _CHUNK]}):
            out[r[key]] = digest(table, r)
    return out


def last_chain_hash(conn, table: str = "audit") -> str:
    h = conn.execute(text(f"SELECT chain_hash FROM {table} ORDER BY id DESC LIMIT 1")).scalar()
    return h or GENESIS


def lock_chain(conn, table: str = "audit") -> None:
    """Serialise appends to the chain on PostgreSQL until the transaction ends (SQLite's BEGIN IMMEDIATE already
    serialises every writer). Taken after any row lock of the write, never before one."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK[table]})


def next_ids(conn, table: str, n: int) -> list[int]:
    """Ids for ``n`` new rows (the id is part of the hashed content, so it is chosen before the insert): the
    table's sequence on PostgreSQL; one past the largest id on SQLite (what SQLite itself would choose)."""
    if conn.dialect.name == "postgresql":
        return sorted(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                   {"t": table, "n": n}).scalars())
    top = conn.execute(text(f"SELECT max(id) FROM {table}")).scalar() or 0
    return list(range(top + 1, top + n + 1))


def chain_entries(conn, entries: list[dict], covered: list[Iterable[tuple[str, object]]], table: str = "audit") -> list[dict]:
    """Fill ``id``, ``covers`` (audit only), ``row_hash`` and ``chain_hash`` of new rows of ``table`` (in order),
    reading the covered rows back from the database. The caller holds the write lock (:func:`lock_chain`)."""
    wanted: dict[str, list] = {}
    for cov in covered:
        for t, k in cov:
            wanted.setdefault(t, []).append(k)
    hashes = {t: read_rows(conn, t, sorted(set(ks), key=_key_sort)) for t, ks in wanted.items()}
    prev = last_chain_hash(conn, table)
    for e, cov, i in zip(entries, covered, next_ids(conn, table, len(entries)), strict=True):
        e["id"] = i
        if table == "audit":
            e["covers"] = json.dumps([[t, k, hashes[t][k]] for t, k in cov], separators=(",", ":"))
        e["row_hash"] = own_digest(table, e)
        e["chain_hash"] = prev = link(prev, e["row_hash"])
    return entries


# ---------------------------------------------------------------------------------------------- verify
@dataclass
class Problem:
    table: str
    key: object
    message: str


@dataclass
class VerifyReport:
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    head_id: int | None = None
    head: str = GENESIS
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _row_name(table: str, key) -> str:
    return f"{LABELS.get(table, table)} row {key}" if table not in ("models",) else f"model {key}"


def _walk_chain(conn, table: str, report: VerifyReport, on_row=None) -> None:
    prev, prev_id = GENESIS, None
    n = 0
    for r in _rows(conn, f"SELECT * FROM {table} ORDER BY id"):
        n += 1
        label = LABELS[table]
        if r["row_hash"] != own_digest(table, r):
            report.problems.append(Problem(table, r["id"], f"{label} row {r['id']}: its hash does not match its content "
                                                           "(changed after it was written?)"))
        elif r["chain_hash"] != link(prev, r["row_hash"]):
            before = f"{label} row {prev_id}" if prev_id is not None else "the start of the trail"
            report.problems.append(Problem(table, r["id"], f"{label} row {r['id']}: it does not follow from {before} "
                                                           "(a row before it was removed, added or changed?)"))
        elif on_row is not None:
            on_row(r)
        prev, prev_id = r["chain_hash"] or GENESIS, r["id"]
        if table == "audit":
            report.head_id, report.head = r["id"], prev
    report.rows[table] = n


def verify(conn, expect: str | None = None) -> VerifyReport:
    """Check the whole store (see the module docstring); ``conn`` is a connection inside a read transaction."""
    t0 = time.perf_counter()
    report = VerifyReport()
    expected: dict[tuple[str, object], tuple[str, int]] = {}
    seen_heads: set[str] = set()

    def on_audit(r):
        seen_heads.add(r["chain_hash"])
        try:
            covers = json.loads(r["covers"] or "[]")
        except ValueError:
            covers = []
        for t, k, h in covers:
            expected[(t, k)] = (h, r["id"])

    _walk_chain(conn, "audit", report, on_audit)
    actual: dict[str, dict] = {}
    for t, key in CHAINED.items():
        rows = {}
        for r in _rows(conn, f"SELECT * FROM {t}"):
            rows[r[key]] = digest(t, r)
        actual[t] = rows
        report.rows[t] = len(rows)
    changed = []
    for (t, k), (h, aid) in expected.items():
        have = actual.get(t, {}).get(k)
        if have is None:
            changed.append((aid, Problem(t, k, f"{_row_name(t, k)}: audit row {aid} records it, but it is no longer in "
                                               "the store (deleted?)")))
        elif have != h:
            changed.append((aid, Problem(t, k, f"{_row_name(t, k)}: its content does not match the hash kept in audit "
                                               f"row {aid} (changed after it was written?)")))
    report.problems += [p for _, p in sorted(changed, key=lambda x: (x[0], x[1].table, _key_sort(x[1].key)))]
    for t, rows in actual.items():
        for k in sorted(rows, key=_key_sort):
            if (t, k) not in expected:
                report.problems.append(Problem(t, k, f"{_row_name(t, k)}: no audit row records it (added outside "
                                                      "watchwait?)"))
    _walk_chain(conn, "accesses", report)
    if expect:
        e = expect.strip().lower()
        if len(e) < 12 or any(c not in "0123456789abcdef" for c in e):
            report.problems.append(Problem("audit", None, "the expected chain head must be at least 12 of the hex "
                                                          f"digits `watchwait db verify` printed; got {expect!r}."))
        elif not any(h.startswith(e) for h in seen_heads):
            report.problems.append(Problem("audit", None, f"no audit row has the chain head {e}: the trail was "
                                                          "rewritten or shortened since that head was noted."))
    for t in missing_triggers(conn):
        report.problems.append(Problem(t, None, f"{LABELS.get(t, t)}: its append-only triggers are missing or switched "
                                                "off (removed by someone with the database file or its owner role?)"))
    report.seconds = time.perf_counter() - t0
    return report


def missing_triggers(conn) -> list[str]:
    """The tables whose append-only triggers are gone or disabled (names as in migrations/append_only.py)."""
    tables = [*CHAINED, *SELF_CHAINED]
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                                 "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal AND "
                                 "t.tgenabled <> 'D'")).all()
        want = {t: {f"{t}_append_only", f"{t}_no_truncate"} for t in tables}
    else:
        rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")).all()
        want = {t: {f"{t}_append_only_update", f"{t}_append_only_delete"} for t in tables}
    have: dict[str, set] = {}
    for table, name in rows:
        have.setdefault(table, set()).add(name)
    return [t for t in tables if not want[t] <= have.get(t, set())]
