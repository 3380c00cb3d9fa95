"""The case store itself: :class:`Store`, its transactions, writes and reads (see :mod:`watchwait.store` for the
whole contract). The checks of its arguments live in :mod:`watchwait.store.checks`."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.sql import Select

from watchwait.errors import CohortFileError, RecordError, quoted
from watchwait.schema import BY_NAME
from watchwait.store import integrity, migrate
from watchwait.probtext import percent  # a model output reads '> 99%', never '100%'
from watchwait.store.entities import (Access, AssessmentVersion, AuditEntry, CasePage, CaseSummary, Decision,
                                      FollowUp, FollowUpRecord, ImportIssue, ImportReport, InvalidEntry, Meeting,
                                      MeetingCase, NotFound, Prediction, SiteModel, StoreBusy, StoreSchemaError,
                                      VersionConflict)
from watchwait.store.identity import Person, require
from watchwait.store.tables import (accesses, assessments, audit, decisions, follow_ups, meeting_cases, meetings,
                                    models, patients, predictions)
from watchwait.store.checks import (PATHWAYS, MAX_NAME, MAX_PRESENT, MAX_PAGE_SIZE, _CHUNK, pathway_label, _now,
                                    _when, _dumps, _pseudonym, _text, _who, _permit, _meeting_id, _version_arg,
                                    _validate_follow_up, _changes, _finite, _str_list)


class Store:
    """The case store (see the :mod:`watchwait.store` docstring for the whole contract).

    Roles, checked in every write when the actor is a :class:`~watchwait.store.identity.Person` (a plain str,
    local mode's typed name, is not checked); the one source is :data:`watchwait.store.identity.PERMISSIONS`:

    =====================================  ======  =========  =====  =============
    write (permission)                     viewer  clinician  chair  administrator
    =====================================  ======  =========  =====  =============
    record_access (read)                   yes     yes        yes    yes
    record_prediction (assess)                     yes        yes
    save_assessment (save)                         yes        yes
    record_follow_up (follow_up)                   yes        yes
    create_meeting (create_meeting)                           yes
    add_case (add_case)                                       yes
    import_cases (import)                                     yes
    record_decision (decide; corrections)                     yes
    register_model (register_model)                                  yes
    audit/accesses with reader= (read_audit)                         yes
    =====================================  ======  =========  =====  =============

    A refusal is :class:`~watchwait.store.entities.NotPermitted`, raised before anything is written.
    """

    def __init__(self, url: str | None = None):
        self._url = migrate.resolve_url(url)
        self._engine = migrate.make_engine(self._url)
        opened = False
        try:
            self.revision = migrate.check_or_create(self._engine, self._url)
            opened = True
        except OperationalError as exc:
            raise migrate.unreachable(self._url, exc) from None
        except ProgrammingError as exc:
            if "permission denied" not in str(exc.orig or exc):
                raise
            first = str(exc.orig or exc).strip().splitlines()[0]
            role = self._url.username or "this role"
            raise StoreSchemaError(
                f"{role} may not use the case store at {migrate.shown(self._url)} ({first}). The owner of its tables "
                f"grants what the dashboard needs with `watchwait db grant --app-role {role} --apply` (needed again "
                "after a restore); the schema itself is created and upgraded by the owner (`watchwait db upgrade`)."
            ) from None
        finally:  # a refused or unreachable database leaves no pooled connection behind
            if not opened:
                self._engine.dispose()

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        return cls(url)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return migrate.shown(self._url)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------- transactions
    @contextmanager
    def _write(self):
        """One write transaction. SQLite: BEGIN IMMEDIATE serialises writers. PostgreSQL: writers of one case or one
        meeting queue on its row (``SELECT ... FOR UPDATE``), and only the audit append at the end is serialised
        (the chain's advisory lock, always taken last, so no two writers wait on each other in opposite order)."""
        try:
            with migrate.write_connection(self._engine) as conn:
                yield conn
        except OperationalError as exc:
            msg = str(exc.orig or exc).lower()
            if "locked" in msg or "lock timeout" in msg or "busy" in msg:
                raise StoreBusy("The case store stayed busy with other changes for over "
                                f"{migrate.BUSY_TIMEOUT_S} s; nothing was saved. Try again.") from None
            raise
        except IntegrityError as exc:
            # two writers raced past the checks (a unique version or position): the loser saves nothing
            if not re.search(r"uq_|\.version|\.position|\.pseudonym", str(exc.orig)):
                raise
            raise VersionConflict("Someone else saved this case at the same moment; nothing was saved. Reload the "
                                  "case and make the change again.") from None

    @contextmanager
    def _read(self):
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def _audit(self, conn, at: str, actor: str, subject: str | None, screen: str, action: str, summary: str,
               pseudonym: str | None = None, meeting_id: int | None = None, *, rows: Sequence[tuple[str, object]] = ()) -> None:
        """Append one audit row covering ``rows`` ((table, key) of every row this write added)."""
        self._audit_many(conn, [dict(at=at, actor=actor, actor_subject=subject, action=action, pseudonym=pseudonym,
                                     meeting_id=meeting_id, screen=screen, summary=summary)], [rows])

    @staticmethod
    def _audit_many(conn, entries: list[dict], covered: list[Sequence[tuple[str, object]]]) -> None:
        """Append audit rows in order, each covering its rows (the hash chain, :mod:`watchwait.store.integrity`)."""
        if entries:
            integrity.lock_chain(conn)
            conn.execute(audit.insert(), integrity.chain_entries(conn, entries, covered))

    @staticmethod
    def _insert_new(conn, table, rows: list[dict], key: str) -> dict:
        """INSERT ... ON CONFLICT DO NOTHING; returns key -> id of the rows this statement inserted (a row another
        writer inserted first is not returned: the caller did not create it)."""
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        q = insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key], table.c.id)
        out = {}
        for chunk in _chunks(rows):
            if len(chunk) == 1:
                out.update(conn.execute(q.values(**chunk[0])).all())
            else:
                out.update(conn.execute(q, chunk).all())
        return out

    def _lock_patient(self, conn, pseudonym: str, create: bool) -> tuple[int, bool]:
        """The patient's id (its row locked until the write ends), and whether this write created the row."""
        created = False
        if create:
            created = bool(self._insert_new(conn, patients, [{"pseudonym": pseudonym, "created_at": _now()}], "pseudonym"))
        pid = conn.execute(select(patients.c.id).where(patients.c.pseudonym == pseudonym).with_for_update()).scalar()
        if pid is None:
            raise NotFound(f"No case with the pseudonym {pseudonym!r} in the store; save its assessment first.")
        return pid, created

    def _lock_meeting(self, conn, meeting_id: int):
        row = conn.execute(select(meetings).where(meetings.c.id == meeting_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"No meeting number {meeting_id} in the store.")
        return row

    # ------------------------------------------------------------- assessments
    def save_assessment(self, pseudonym: str, record: Mapping, *, expected_version: int | None, actor: str | Person,
                        screen: str) -> AssessmentVersion:
        from watchwait.validation import validate_record

        actor, subject = _permit(actor, "save")
        p = _pseudonym(pseudonym)
        expected = _version_arg("The version you opened (expected_version)", expected_version)
        actor, screen = _who(actor, screen)
        if not isinstance(record, Mapping):
            raise InvalidEntry(f"A patient record must be a mapping of column to value; got {type(record).__name__} instead.")
        given = record.get("patient_id")
        if given is not None and given != p:
            raise InvalidEntry(f"The record's patient pseudonym {quoted(given)} is not the case's pseudonym {p!r}; "
                               "nothing was saved.")
        rec = validate_record({**record, "patient_id": p})
        body = _dumps(rec)
        with self._write() as conn:
            pid, created = self._lock_patient(conn, p, create=True)
            latest = conn.execute(select(assessments).where(assessments.c.patient_id == pid)
                                  .order_by(assessments.c.version.desc()).limit(1)).first()
            have = latest.version if latest else None
            if have != expected:
                raise VersionConflict(self._conflict("assessment", p, expected, latest, "saved_at"))
            if latest is not None and json.loads(latest.record) == json.loads(body):
                return self._assessment(latest, p)
            now, version = _now(), (have or 0) + 1
            new_id = conn.execute(assessments.insert().values(patient_id=pid, version=version, record=body, saved_at=now,
                                                              actor=actor, actor_subject=subject, screen=screen)
                                  .returning(assessments.c.id)).scalar()
            changed = _changes(json.loads(latest.record), json.loads(body)) if latest else ()
            summary = (f"assessment version {version} saved" +
                       (f" ({len(changed)} field{'s' if len(changed) != 1 else ''} changed: "
                        + ", ".join(c.label for c in changed[:6]) + (", ..." if len(changed) > 6 else "") + ")" if latest else
                        " (new case)"))
            self._audit(conn, now, actor, subject, screen, "assessment.saved", summary, pseudonym=p,
                        rows=[("patients", pid)] * created + [("assessments", new_id)])
        return AssessmentVersion(new_id, p, version, json.loads(body), now, actor, screen, subject)

    @staticmethod
    def _conflict(what: str, p: str, expected: int | None, latest, at_col: str, where: str = "") -> str:
        if latest is None:
            return (f"Case {p}{where} has no {what} yet, but you opened version {expected}; nothing was saved. "
                    "Reload the case.")
        by = f"by {latest.actor} at {_when(getattr(latest, at_col))}"
        if expected is None:
            return (f"Case {p}{where} already has {what} version {latest.version}, saved {by}; nothing was saved. "
                    f"Open version {latest.version} and make your change there.")
        return (f"Case {p}{where}: {what} version {latest.version} was saved {by}, after version {expected} that you "
                f"opened; nothing was saved. Reload the case to see that change, then make yours again.")

    @staticmethod
    def _assessment(row, pseudonym: str) -> AssessmentVersion:
        return AssessmentVersion(row.id, pseudonym, row.version, json.loads(row.record), row.saved_at, row.actor, row.screen,
                                 row.actor_subject)

    def assessment(self, pseudonym: str, version: int | None = None) -> AssessmentVersion:
        """The case's latest assessment version (or the given one)."""
        p = _pseudonym(pseudonym)
        q = select(assessments).join(patients, patients.c.id == assessments.c.patient_id).where(patients.c.pseudonym == p)
        q = q.where(assessments.c.version == version) if version is not None else q.order_by(assessments.c.version.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"No assessment {'version ' + str(version) + ' ' if version else ''}for the case {p!r} in the store.")
        return self._assessment(row, p)

    def assessments(self, pseudonym: str) -> list[AssessmentVersion]:
        """Every version of the case's assessment, oldest first."""
        p = _pseudonym(pseudonym)
        with self._read() as conn:
            rows = conn.execute(select(assessments).join(patients, patients.c.id == assessments.c.patient_id)
                                .where(patients.c.pseudonym == p).order_by(assessments.c.version)).all()
        return [self._assessment(r, p) for r in rows]

    # ------------------------------------------------------------- predictions
    def record_prediction(self, assessment_version_id: int, *, model_version: str, model_hash: str, input_hash: str,
                          probability: float | None, interval: Sequence[float] | None, contributions: Sequence[Mapping],
                          category: str, suggestion: str, rule_ids: Sequence[str], flags: Sequence[str],
                          actor: str | Person, screen: str) -> Prediction:
        actor, subject = _permit(actor, "assess")
        actor, screen = _who(actor, screen)
        model_version = _text("Model version", model_version, required=True, limit=100)
        model_hash = _text("Model hash", model_hash, required=True, limit=64)
        input_hash = _text("Input hash", input_hash, required=True, limit=64)
        p = None if probability is None else _finite("Probability", probability)
        lo = hi = None
        if interval is not None:
            if isinstance(interval, str) or len(interval) != 2:
                raise InvalidEntry(f"Interval must be two numbers (low, high); got {quoted(interval)} instead.")
            lo, hi = _finite("Interval low end", interval[0]), _finite("Interval high end", interval[1])
            if lo > hi:
                raise InvalidEntry(f"Interval low end {lo:g} is above its high end {hi:g}.")
        contrib = [dict(c) for c in contributions or ()]
        category = _text("Response category", category, required=True, limit=64)
        suggestion = _text("Suggested pathway", suggestion, required=True, limit=64)
        rules_, flags_ = _str_list("Rule ids", rule_ids), _str_list("Flags", flags)
        with self._write() as conn:
            row = conn.execute(select(assessments.c.version, patients.c.pseudonym)
                               .join(patients, patients.c.id == assessments.c.patient_id)
                               .where(assessments.c.id == assessment_version_id)).first()
            if row is None:
                raise NotFound(f"No assessment version with id {assessment_version_id!r} in the store.")
            now = _now()
            values = dict(assessment_id=assessment_version_id, model_version=model_version, model_hash=model_hash,
                          input_hash=input_hash, probability=p, interval_low=lo, interval_high=hi,
                          contributions=_dumps(contrib), category=category, suggestion=suggestion,
                          rule_ids=_dumps(rules_), flags=_dumps(flags_), recorded_at=now, actor=actor, actor_subject=subject,
                          screen=screen)
            new_id = conn.execute(predictions.insert().values(**values).returning(predictions.c.id)).scalar()
            shown_p = "no probability (outside the model's scope)" if p is None else f"probability {percent(p)}"
            self._audit(conn, now, actor, subject, screen, "prediction.recorded",
                        f"prediction for assessment version {row.version} by model {model_version}: {shown_p}",
                        pseudonym=row.pseudonym, rows=[("predictions", new_id)])
        return Prediction(new_id, assessment_version_id, model_version, model_hash, input_hash, p,
                          None if lo is None else (lo, hi), tuple(contrib), category, suggestion, tuple(rules_),
                          tuple(flags_), now, actor, screen, subject)

    @staticmethod
    def _prediction(r) -> Prediction:
        return Prediction(r.id, r.assessment_id, r.model_version, r.model_hash, r.input_hash, r.probability,
                          None if r.interval_low is None else (r.interval_low, r.interval_high),
                          tuple(json.loads(r.contributions)), r.category, r.suggestion, tuple(json.loads(r.rule_ids)),
                          tuple(json.loads(r.flags)), r.recorded_at, r.actor, r.screen, r.actor_subject)

    def predictions(self, assessment_version_id: int) -> list[Prediction]:
        """The predictions stored for one assessment version, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(predictions).where(predictions.c.assessment_id == assessment_version_id)
                                .order_by(predictions.c.id)).all()
        return [self._prediction(r) for r in rows]

    # ------------------------------------------------------------- meetings
    def create_meeting(self, date: dt.date | str, title: str, actor: str | Person, screen: str = "Meetings") -> Meeting:
        actor, subject = _permit(actor, "create_meeting")
        if isinstance(date, dt.datetime):
            date = date.date()
        if isinstance(date, str):
            try:
                date = dt.date.fromisoformat(date.strip()) if len(date.strip()) == 10 else None
            except ValueError:
                date = None
        if not isinstance(date, dt.date):
            raise InvalidEntry("Meeting date must be a date (YYYY-MM-DD, e.g. 2026-12-01); got something else.")
        title = _text("Meeting title", title, required=True, limit=200)
        actor, screen = _who(actor, screen)
        with self._write() as conn:
            now = _now()
            mid = conn.execute(meetings.insert().values(date=date.isoformat(), title=title, created_at=now,
                                                        created_by=actor, created_by_subject=subject)
                               .returning(meetings.c.id)).scalar()
            self._audit(conn, now, actor, subject, screen, "meeting.created", f"meeting of {date.isoformat()} created",
                        meeting_id=mid, rows=[("meetings", mid)])
        return Meeting(mid, date.isoformat(), title, now, actor, 0, 0, subject)

    def _meetings_query(self) -> Select:
        n_cases = (select(func.count()).select_from(meeting_cases).where(meeting_cases.c.meeting_id == meetings.c.id)
                   .scalar_subquery())
        n_decided = (select(func.count(func.distinct(decisions.c.patient_id))).where(decisions.c.meeting_id == meetings.c.id)
                     .scalar_subquery())
        return select(meetings, n_cases.label("n_cases"), n_decided.label("n_decided"))

    @staticmethod
    def _meeting(r) -> Meeting:
        return Meeting(r.id, r.date, r.title, r.created_at, r.created_by, r.n_cases, r.n_decided, r.created_by_subject)

    def meeting(self, meeting_id: int) -> Meeting:
        mid = _meeting_id(meeting_id)
        with self._read() as conn:
            r = conn.execute(self._meetings_query().where(meetings.c.id == mid)).first()
        if r is None:
            raise NotFound(f"No meeting number {mid} in the store.")
        return self._meeting(r)

    def meetings(self) -> list[Meeting]:
        """Every meeting, the latest date first."""
        with self._read() as conn:
            rows = conn.execute(self._meetings_query().order_by(meetings.c.date.desc(), meetings.c.id.desc())).all()
        return [self._meeting(r) for r in rows]

    def add_case(self, meeting_id: int, pseudonym: str, actor: str | Person, screen: str) -> int:
        """Put a stored case on the meeting's list (at the end); returns its position (1, 2, ...).
        A case already on the list keeps its place."""
        actor, subject = _permit(actor, "add_case")
        mid, p = _meeting_id(meeting_id), _pseudonym(pseudonym)
        actor, screen = _who(actor, screen)
        with self._write() as conn:
            m = self._lock_meeting(conn, mid)
            pid, _ = self._lock_patient(conn, p, create=False)
            pos = conn.execute(select(meeting_cases.c.position).where(meeting_cases.c.meeting_id == mid,
                                                                      meeting_cases.c.patient_id == pid)).scalar()
            if pos is not None:
                return pos
            pos = (conn.execute(select(func.max(meeting_cases.c.position)).where(meeting_cases.c.meeting_id == mid)).scalar() or 0) + 1
            now = _now()
            cid = conn.execute(meeting_cases.insert().values(meeting_id=mid, patient_id=pid, position=pos, added_at=now,
                                                             actor=actor, actor_subject=subject, screen=screen)
                               .returning(meeting_cases.c.id)).scalar()
            self._audit(conn, now, actor, subject, screen, "meeting.case_added", f"added to the meeting of {m.date} (case {pos})",
                        pseudonym=p, meeting_id=mid, rows=[("meeting_cases", cid)])
        return pos

    def import_cases(self, meeting_id: int, cohort_csv_bytes: bytes, actor: str | Person, screen: str, *,
                     source: str = "uploaded file") -> ImportReport:
        """Import a cohort CSV into a meeting: every row validated first; nothing written if any row is bad."""
        import io

        from watchwait.validation import frame_to_records, read_cohort, validate_record

        actor, subject = _permit(actor, "import")
        mid = _meeting_id(meeting_id)
        actor, screen = _who(actor, screen)
        if not isinstance(cohort_csv_bytes, bytes | bytearray | memoryview):
            raise InvalidEntry(f"The cohort file must be given as bytes; got {type(cohort_csv_bytes).__name__}.")
        self.meeting(mid)  # NotFound before reading the file
        try:
            frame = read_cohort(io.BytesIO(bytes(cohort_csv_bytes)), source=source)
        except CohortFileError as exc:
            return ImportReport(False, mid, 0, 0, issues=(ImportIssue(None, None, str(exc)),))
        except RecordError as exc:
            rows = len(_count_rows(cohort_csv_bytes))
            return ImportReport(False, mid, rows, 0, issues=tuple(ImportIssue(i.row, i.column, str(i)) for i in exc.issues))
        if len(frame) == 0:
            return ImportReport(False, mid, 0, 0, issues=(ImportIssue(None, None, f"{source}: no patients (a header row only)."),))
        records = []
        issues: list[ImportIssue] = []
        for i, raw in enumerate(frame_to_records(frame)):
            try:
                records.append(validate_record(raw))
            except RecordError as exc:  # the file path and the record path agree; kept as a safety net
                issues += [ImportIssue(i + 2, x.column, f"row {i + 2}, {x.message}") for x in exc.issues]
        if issues:
            return ImportReport(False, mid, len(frame), 0, issues=tuple(issues))
        bodies = {r["patient_id"]: _dumps(r) for r in records}
        ids = list(bodies)
        row_of = {p: i + 2 for i, p in enumerate(ids)}
        with self._write() as conn:
            m = self._lock_meeting(conn, mid)
            now = _now()
            existing = {}
            for chunk in _chunks(ids):
                existing.update(conn.execute(select(patients.c.pseudonym, patients.c.id)
                                             .where(patients.c.pseudonym.in_(chunk))).all())
            new = [p for p in ids if p not in existing]
            created = set()
            if new:
                created = set(self._insert_new(conn, patients, [{"pseudonym": p, "created_at": now} for p in new],
                                               "pseudonym"))
            pid = {}
            for chunk in _chunks(ids):
                pid.update(conn.execute(select(patients.c.pseudonym, patients.c.id).where(patients.c.pseudonym.in_(chunk))
                                        .with_for_update()).all())
            latest = {}  # patient id -> (version, record)
            for chunk in _chunks([pid[p] for p in existing]):
                top = (select(assessments.c.patient_id, func.max(assessments.c.version).label("v"))
                       .where(assessments.c.patient_id.in_(chunk)).group_by(assessments.c.patient_id).subquery())
                for r in conn.execute(select(assessments.c.patient_id, assessments.c.version, assessments.c.record)
                                      .join(top, and_(top.c.patient_id == assessments.c.patient_id,
                                                      top.c.v == assessments.c.version))):
                    latest[r.patient_id] = (r.version, r.record)
            on_meeting = set()
            for chunk in _chunks(list(pid.values())):
                on_meeting.update(conn.execute(select(meeting_cases.c.patient_id).where(
                    meeting_cases.c.meeting_id == mid, meeting_cases.c.patient_id.in_(chunk))).scalars())
            pos = conn.execute(select(func.max(meeting_cases.c.position)).where(meeting_cases.c.meeting_id == mid)).scalar() or 0
            a_rows, c_rows, log, kinds = [], [], [], []  # kinds: per log entry, the row it covers (and the new patient)
            for p in ids:
                i = pid[p]
                v, old = latest.get(i, (0, None))
                if old is None or json.loads(old) != json.loads(bodies[p]):
                    a_rows.append(dict(patient_id=i, version=v + 1, record=bodies[p], saved_at=now, actor=actor,
                                       actor_subject=subject, screen=screen))
                    log.append(dict(at=now, actor=actor, actor_subject=subject, action="assessment.imported", pseudonym=p, meeting_id=mid,
                                    screen=screen, summary=f"assessment version {v + 1} imported from {source} (row {row_of[p]})"
                                    + (" (new case)" if v == 0 else "")))
                    kinds.append(("assessments", len(a_rows) - 1, i if p in created else None))
                if i not in on_meeting:
                    pos += 1
                    c_rows.append(dict(meeting_id=mid, patient_id=i, position=pos, added_at=now, actor=actor,
                                       actor_subject=subject, screen=screen))
                    log.append(dict(at=now, actor=actor, actor_subject=subject, action="meeting.case_added", pseudonym=p, meeting_id=mid,
                                    screen=screen, summary=f"added to the meeting of {m.date} (case {pos}) from {source}"))
                    kinds.append(("meeting_cases", len(c_rows) - 1, None))
            new_ids = {"assessments": [], "meeting_cases": []}
            for table, rows_ in ((assessments, a_rows), (meeting_cases, c_rows)):
                if rows_:
                    new_ids[table.name] = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True),
                                                       rows_).scalars().all()
            covered = [[("patients", patient)] * (patient is not None) + [(table, new_ids[table][n])]
                       for table, n, patient in kinds]
            self._audit_many(conn, log, covered)
        return ImportReport(True, mid, len(ids), len(ids), new_patients=len(new), new_versions=len(a_rows),
                            added_to_meeting=len(c_rows), pseudonyms=tuple(ids))

    def meeting_cases(self, meeting_id: int) -> list[MeetingCase]:
        """The meeting's cases in order, each with its latest assessment and prediction, the decision at this
        meeting, the previous discussion and the changes since it (a fixed number of queries)."""
        mid = _meeting_id(meeting_id)
        with self._read() as conn:
            m = conn.execute(select(meetings).where(meetings.c.id == mid)).first()
            if m is None:
                raise NotFound(f"No meeting number {mid} in the store.")
            cases = conn.execute(select(meeting_cases.c.patient_id, meeting_cases.c.position, patients.c.pseudonym)
                                 .join(patients, patients.c.id == meeting_cases.c.patient_id)
                                 .where(meeting_cases.c.meeting_id == mid).order_by(meeting_cases.c.position)).all()
            pids = [c.patient_id for c in cases]
            names = {c.patient_id: c.pseudonym for c in cases}
            latest = self._latest_assessments(conn, pids)
            decs: dict[int, list[Decision]] = {}
            for chunk in _chunks(pids):
                for r in conn.execute(self._decision_query().where(decisions.c.patient_id.in_(chunk)).order_by(decisions.c.id)):
                    decs.setdefault(r.patient_id, []).append(self._decision(r))
            prev: dict[int, Decision] = {}
            here: dict[int, Decision] = {}
            for i, ds in decs.items():
                for d in ds:
                    if d.meeting_id == mid:
                        here[i] = d
                    elif (d.meeting_date, d.meeting_id) < (m.date, mid):
                        if i not in prev or (d.meeting_date, d.meeting_id, d.id) > (prev[i].meeting_date, prev[i].meeting_id, prev[i].id):
                            prev[i] = d
            old_records = {}
            for i, d in prev.items():
                old_records[(i, d.assessment_version)] = None
            if old_records:
                conds = [and_(assessments.c.patient_id == i, assessments.c.version == v) for i, v in old_records]
                for chunk in _chunks(conds):
                    for r in conn.execute(select(assessments.c.patient_id, assessments.c.version, assessments.c.record)
                                          .where(or_(*chunk))):
                        old_records[(r.patient_id, r.version)] = json.loads(r.record)
            preds = {}
            for chunk in _chunks([a.id for a in latest.values()]):
                for r in conn.execute(select(predictions).where(predictions.c.assessment_id.in_(chunk)).order_by(predictions.c.id)):
                    preds[r.assessment_id] = self._prediction(r)
            fups = self._latest_follow_ups(conn, pids, names)
        out = []
        for c in cases:
            i = c.patient_id
            a = latest.get(i)
            a = None if a is None else AssessmentVersion(a.id, names[i], a.version, a.record, a.saved_at, a.actor, a.screen,
                                                         a.actor_subject)
            pd_ = prev.get(i)
            changes = None if pd_ is None or a is None else _changes(old_records.get((i, pd_.assessment_version)), a.record)
            out.append(MeetingCase(mid, c.position, c.pseudonym, a, None if a is None else preds.get(a.id),
                                   here.get(i), pd_, changes, fups.get(i)))
        return out

    def _latest_assessments(self, conn, pids: list[int] | None) -> dict[int, AssessmentVersion]:
        """patient id -> latest AssessmentVersion (pseudonym left blank; callers fill it). None = every patient."""
        out = {}
        groups = [None] if pids is None else list(_chunks(pids))
        for chunk in groups:
            top = select(assessments.c.patient_id, func.max(assessments.c.version).label("v"))
            if chunk is not None:
                top = top.where(assessments.c.patient_id.in_(chunk))
            top = top.group_by(assessments.c.patient_id).subquery()
            for r in conn.execute(select(assessments).join(top, and_(top.c.patient_id == assessments.c.patient_id,
                                                                     top.c.v == assessments.c.version))):
                out[r.patient_id] = AssessmentVersion(r.id, "", r.version, json.loads(r.record), r.saved_at, r.actor, r.screen,
                                                      r.actor_subject)
        return out

    def _latest_follow_ups(self, conn, pids: list[int] | None, names: Mapping[int, str]) -> dict[int, FollowUp]:
        out = {}
        groups = [None] if pids is None else list(_chunks(pids))
        for chunk in groups:
            top = select(follow_ups.c.patient_id, func.max(follow_ups.c.version).label("v"))
            if chunk is not None:
                top = top.where(follow_ups.c.patient_id.in_(chunk))
            top = top.group_by(follow_ups.c.patient_id).subquery()
            for r in conn.execute(select(follow_ups).join(top, and_(top.c.patient_id == follow_ups.c.patient_id,
                                                                    top.c.v == follow_ups.c.version))):
                out[r.patient_id] = FollowUp(r.id, names.get(r.patient_id, ""), r.version, json.loads(r.data), r.recorded_at,
                                             r.actor, r.screen, r.actor_subject)
        return out

    # ------------------------------------------------------------- decisions
    @staticmethod
    def _decision_query() -> Select:
        return (select(decisions, meetings.c.date.label("meeting_date"), patients.c.pseudonym,
                       assessments.c.version.label("assessment_version"))
                .join(meetings, meetings.c.id == decisions.c.meeting_id)
                .join(patients, patients.c.id == decisions.c.patient_id)
                .join(assessments, assessments.c.id == decisions.c.assessment_id))

    @staticmethod
    def _decision(r) -> Decision:
        return Decision(r.id, r.meeting_id, r.meeting_date, r.pseudonym, r.version, r.assessment_version, r.pathway,
                        pathway_label(r.pathway), bool(r.follows_suggestion), r.suggested_pathway, r.reason_not_followed,
                        r.rationale, tuple(json.loads(r.present)), r.dissent, r.recorded_at, r.actor, r.screen,
                        r.actor_subject)

    def record_decision(self, meeting_id: int, pseudonym: str, *, pathway: str, follows_suggestion: bool,
                        reason_not_followed: str | None = None, rationale: str, present: Sequence[str],
                        dissent: str | None = None, actor: str | Person, screen: str, expected_version: int | None,
                        assessment_version: int | None = None) -> Decision:
        actor, subject = _permit(actor, "decide", None if expected_version is None else "correct a decision")
        mid, p = _meeting_id(meeting_id), _pseudonym(pseudonym)
        expected = _version_arg("The decision version you saw (expected_version)", expected_version)
        seen = _version_arg("The assessment version decided on", assessment_version)
        actor, screen = _who(actor, screen)
        if pathway not in PATHWAYS:
            raise InvalidEntry("The pathway decided must be one of " + ", ".join(pathway_label(c) for c in PATHWAYS)
                               + f" (codes {', '.join(PATHWAYS)}); got {quoted(pathway)} instead.")
        if not isinstance(follows_suggestion, bool | np.bool_):
            raise InvalidEntry(f"Whether the decision follows the suggestion must be yes or no (True/False); got "
                               f"{quoted(follows_suggestion)} instead.")
        follows = bool(follows_suggestion)
        reason = _text("The reason for not following the suggestion", reason_not_followed, required=not follows)
        if follows and reason:
            raise InvalidEntry("A reason for not following the suggestion was given, but the decision follows it; "
                               "leave the reason blank, or record that the decision does not follow the suggestion.")
        rationale = _text("The rationale", rationale, required=True)
        dissent = _text("Dissent", dissent, required=False)
        if isinstance(present, str) or not isinstance(present, Iterable):
            raise InvalidEntry("The people present must be a list of names; got "
                               f"{quoted(present)} instead.")
        people: list[str] = []
        for who in present:
            name = _text("Each person present", who, required=True, limit=MAX_NAME)
            if name not in people:
                people.append(name)  # type: ignore[arg-type]
        if not people:
            raise InvalidEntry("The people present are required: name at least one person at the meeting.")
        if len(people) > MAX_PRESENT:
            raise InvalidEntry(f"At most {MAX_PRESENT} people present can be recorded; got {len(people)}.")
        with self._write() as conn:
            m = conn.execute(select(meetings).where(meetings.c.id == mid)).first()
            if m is None:
                raise NotFound(f"No meeting number {mid} in the store.")
            pid, _ = self._lock_patient(conn, p, create=False)
            on = conn.execute(select(meeting_cases.c.position).where(meeting_cases.c.meeting_id == mid,
                                                                     meeting_cases.c.patient_id == pid)).scalar()
            if on is None:
                raise InvalidEntry(f"Case {p} is not on the list of the meeting of {m.date}; add it to the meeting first.")
            a = conn.execute(select(assessments).where(assessments.c.patient_id == pid)
                             .order_by(assessments.c.version.desc()).limit(1)).first()
            if a is None:
                raise InvalidEntry(f"Case {p} has no assessment; save one before recording a decision.")
            if seen is not None and seen != a.version:
                raise VersionConflict(f"Case {p}: assessment version {a.version} was saved by {a.actor} at {_when(a.saved_at)}, "
                                      f"after version {seen} that the decision was made on; nothing was saved. Reload "
                                      "the case, review the change, then record the decision again.")
            last = conn.execute(select(decisions).where(decisions.c.meeting_id == mid, decisions.c.patient_id == pid)
                                .order_by(decisions.c.version.desc()).limit(1)).first()
            have = last.version if last else None
            if have != expected:
                raise VersionConflict(self._conflict("decision", p, expected, last, "recorded_at",
                                                     where=f" at the meeting of {m.date}"))
            suggested = conn.execute(select(predictions.c.suggestion).where(predictions.c.assessment_id == a.id)
                                     .order_by(predictions.c.id.desc()).limit(1)).scalar()
            now, version = _now(), (have or 0) + 1
            new_id = conn.execute(decisions.insert().values(
                meeting_id=mid, patient_id=pid, version=version, assessment_id=a.id, pathway=pathway,
                follows_suggestion=follows, suggested_pathway=suggested, reason_not_followed=reason, rationale=rationale,
                present=_dumps(people), dissent=dissent, recorded_at=now, actor=actor, actor_subject=subject, screen=screen)
                .returning(decisions.c.id)).scalar()
            self._audit(conn, now, actor, subject, screen, "decision.recorded",
                        f"decision {'recorded' if version == 1 else f'version {version} recorded (correction)'} at the "
                        f"meeting of {m.date}: {pathway_label(pathway)}, "
                        f"{'following' if follows else 'not following'} the suggestion", pseudonym=p, meeting_id=mid,
                        rows=[("decisions", new_id)])
        return Decision(new_id, mid, m.date, p, version, a.version, pathway, pathway_label(pathway), follows, suggested,
                        reason, rationale, tuple(people), dissent, now, actor, screen, subject)

    def decisions(self, pseudonym: str) -> list[Decision]:
        """Every decision recorded for the case, oldest first."""
        p = _pseudonym(pseudonym)
        with self._read() as conn:
            rows = conn.execute(self._decision_query().where(patients.c.pseudonym == p).order_by(decisions.c.id)).all()
        return [self._decision(r) for r in rows]

    # ------------------------------------------------------------- follow-up
    def record_follow_up(self, pseudonym: str, follow_up: Mapping, *, actor: str | Person, screen: str,
                         expected_version: int | None) -> FollowUp:
        actor, subject = _permit(actor, "follow_up")
        p = _pseudonym(pseudonym)
        expected = _version_arg("The follow-up version you opened (expected_version)", expected_version)
        actor, screen = _who(actor, screen)
        data = _validate_follow_up(follow_up)
        with self._write() as conn:
            pid, _ = self._lock_patient(conn, p, create=False)
            last = conn.execute(select(follow_ups).where(follow_ups.c.patient_id == pid)
                                .order_by(follow_ups.c.version.desc()).limit(1)).first()
            have = last.version if last else None
            if have != expected:
                raise VersionConflict(self._conflict("follow-up", p, expected, last, "recorded_at"))
            now, version = _now(), (have or 0) + 1
            new_id = conn.execute(follow_ups.insert().values(patient_id=pid, version=version, data=_dumps(data),
                                                             recorded_at=now, actor=actor, actor_subject=subject,
                                                             screen=screen)
                                  .returning(follow_ups.c.id)).scalar()
            self._audit(conn, now, actor, subject, screen, "follow_up.recorded",
                        f"follow-up version {version} recorded (" + ", ".join(BY_NAME[k].label for k in data) + ")",
                        pseudonym=p, rows=[("follow_ups", new_id)])
        return FollowUp(new_id, p, version, data, now, actor, screen, subject)

    def follow_ups(self, pseudonym: str) -> list[FollowUp]:
        p = _pseudonym(pseudonym)
        with self._read() as conn:
            rows = conn.execute(select(follow_ups).join(patients, patients.c.id == follow_ups.c.patient_id)
                                .where(patients.c.pseudonym == p).order_by(follow_ups.c.version)).all()
        return [FollowUp(r.id, p, r.version, json.loads(r.data), r.recorded_at, r.actor, r.screen, r.actor_subject)
                for r in rows]

    def follow_up_records(self) -> list[FollowUpRecord]:
        """Every case with an assessment: its latest record and latest follow-up (None when none), by pseudonym."""
        with self._read() as conn:
            names = dict(conn.execute(select(patients.c.id, patients.c.pseudonym)).all())
            latest = self._latest_assessments(conn, None)
            fups = self._latest_follow_ups(conn, None, names)
        out = [FollowUpRecord(names[i], a.record, a.version, None if i not in fups else fups[i].data,
                              None if i not in fups else fups[i].version) for i, a in latest.items()]
        return sorted(out, key=lambda r: r.pseudonym)

    # ------------------------------------------------------------- case list
    def list_cases(self, *, search: str | None = None, meeting_id: int | None = None, pathway: str | None = None,
                   pending_follow_up: bool | None = None, page: int = 1, page_size: int = 25) -> CasePage:
        """Cases by pseudonym (A-Z), filtered; one query per page (the total comes with the rows).

        Without a pathway or pending-follow-up filter (the usual first page, a search, a meeting) the page of
        patients is chosen first and only its rows get their latest assessment, decision, follow-up and meeting
        (the cost grows with the page, not with the number of cases); those two filters need the latest
        decision and follow-up of every case, so they are computed for every case before paging."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidEntry(f"Page must be a whole number from 1; got {quoted(page)} instead.")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidEntry(f"Cases per page must be a whole number from 1 to {MAX_PAGE_SIZE}; got {quoted(page_size)} instead.")
        if pathway is not None and pathway not in PATHWAYS:
            raise InvalidEntry("The pathway filter must be one of " + ", ".join(pathway_label(c) for c in PATHWAYS)
                               + f" (codes {', '.join(PATHWAYS)}); got {quoted(pathway)} instead.")
        if search is not None and not isinstance(search, str):
            raise InvalidEntry(f"The search must be text (part of a pseudonym); got {quoted(search)} instead.")
        mid = None if meeting_id is None else _meeting_id(meeting_id)
        conds = []  # on patients only
        if search and search.strip():
            s = search.strip()[:64].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(patients.c.pseudonym.ilike(f"%{s}%", escape="\\"))
        if mid is not None:
            conds.append(select(literal(1)).where(meeting_cases.c.meeting_id == mid,
                                                  meeting_cases.c.patient_id == patients.c.id).exists())
        offset = (page - 1) * page_size
        if pathway is None and pending_follow_up is None:
            q, counted = self._case_page_query(conds, page_size, offset)
        else:
            q, counted = self._case_list_query(conds, pathway, pending_follow_up, page_size, offset)
        with self._read() as conn:
            rows = conn.execute(q).all()
            if rows:
                total = rows[0].total
            elif page == 1:
                total = 0
            else:  # past the last page: the window count came with no row
                total = conn.execute(select(func.count()).select_from(counted.subquery())).scalar()
        items = tuple(CaseSummary(r.pseudonym, r.version, r.saved_at, r.meeting_date, r.pathway,
                                  None if r.pathway is None else pathway_label(r.pathway), r.decided_at,
                                  r.follow_up_version, bool(r.pending)) for r in rows)
        return CasePage(items, total, page, max(1, -(-total // page_size)), page_size)

    @staticmethod
    def _case_page_query(conds: list, limit: int, offset: int) -> tuple[Select, Select]:
        """Page first: the filtered patients by pseudonym, LIMIT/OFFSET (with a window count of all of them), then
        correlated look-ups for just those rows, each on an index: assessments (patient_id, version),
        decisions (patient_id, id), follow_ups (patient_id, version), meeting_cases (patient_id)."""
        counted = select(patients.c.id).where(*conds)
        pg = (select(patients.c.id, patients.c.pseudonym, func.count().over().label("total")).where(*conds)
              .order_by(patients.c.pseudonym).limit(limit).offset(offset).subquery("pg"))

        def latest(col, table):
            return select(func.max(col)).where(table.c.patient_id == pg.c.id).scalar_subquery()

        d = decisions.alias("d")
        fu_at = latest(follow_ups.c.recorded_at, follow_ups)
        meeting_date = (select(func.max(meetings.c.date)).select_from(meeting_cases)
                        .join(meetings, meetings.c.id == meeting_cases.c.meeting_id)
                        .where(meeting_cases.c.patient_id == pg.c.id).scalar_subquery())
        pending = and_(d.c.id.is_not(None), or_(fu_at.is_(None), fu_at < d.c.recorded_at))
        q = (select(pg.c.pseudonym, latest(assessments.c.version, assessments).label("version"),
                    latest(assessments.c.saved_at, assessments).label("saved_at"), meeting_date.label("meeting_date"),
                    d.c.pathway, d.c.recorded_at.label("decided_at"),
                    latest(follow_ups.c.version, follow_ups).label("follow_up_version"), pending.label("pending"),
                    pg.c.total)
             .select_from(pg)
             .outerjoin(d, d.c.id == latest(decisions.c.id, decisions))
             .order_by(pg.c.pseudonym))
        return q, counted

    @staticmethod
    def _case_list_query(conds: list, pathway: str | None, pending_follow_up: bool | None, limit: int,
                         offset: int) -> tuple[Select, Select]:
        """The latest version, decision, follow-up and meeting of every patient, filtered (the pathway and
        pending-follow-up filters need them all), then sorted and paged."""
        la = (select(assessments.c.patient_id, func.max(assessments.c.version).label("version"),
                     func.max(assessments.c.saved_at).label("saved_at")).group_by(assessments.c.patient_id).subquery("la"))
        ld = select(decisions.c.patient_id, func.max(decisions.c.id).label("id")).group_by(decisions.c.patient_id).subquery("ld")
        d = decisions.alias("d")
        lf = (select(follow_ups.c.patient_id, func.max(follow_ups.c.version).label("version"),
                     func.max(follow_ups.c.recorded_at).label("recorded_at")).group_by(follow_ups.c.patient_id).subquery("lf"))
        lm = (select(meeting_cases.c.patient_id, func.max(meetings.c.date).label("date"))
              .join(meetings, meetings.c.id == meeting_cases.c.meeting_id).group_by(meeting_cases.c.patient_id).subquery("lm"))
        pending = and_(d.c.id.is_not(None), or_(lf.c.recorded_at.is_(None), lf.c.recorded_at < d.c.recorded_at))
        q = (select(patients.c.pseudonym, la.c.version, la.c.saved_at, lm.c.date.label("meeting_date"), d.c.pathway,
                    d.c.recorded_at.label("decided_at"), lf.c.version.label("follow_up_version"), pending.label("pending"),
                    func.count().over().label("total"))
             .select_from(patients)
             .outerjoin(la, la.c.patient_id == patients.c.id)
             .outerjoin(ld, ld.c.patient_id == patients.c.id)
             .outerjoin(d, d.c.id == ld.c.id)
             .outerjoin(lf, lf.c.patient_id == patients.c.id)
             .outerjoin(lm, lm.c.patient_id == patients.c.id))
        conds = list(conds)
        if pathway is not None:
            conds.append(d.c.pathway == pathway)
        if pending_follow_up is not None:
            conds.append(pending if pending_follow_up else ~pending)
        if conds:
            q = q.where(and_(*conds))
        return q.order_by(patients.c.pseudonym).limit(limit).offset(offset), q

    # ------------------------------------------------------------- audit and who looked
    @staticmethod
    def _person_filter(table, person: Person | str | None):
        """The rows of one person: a signed-in Person by subject; a typed Person by its name among the typed rows;
        a str is a subject, or a typed name (the rows of a signed-in person with that display name are not
        "typed rows", so a typed "Dr Chair" never lists the signed-in Dr Chair's rows, nor the other way)."""
        subject = table.c.actor_subject
        if isinstance(person, Person):
            return (and_(subject.is_(None), table.c.actor == person.name) if person.typed
                    else subject == person.subject)
        if not isinstance(person, str) or not person.strip() or len(person) > 255:
            raise InvalidEntry(f"The person to filter by must be a Person, a subject or a typed name; got "
                               f"{quoted(person)} instead.")
        return or_(subject == person, and_(subject.is_(None), table.c.actor == person))

    @staticmethod
    def _paging(what: str, limit: object, offset: object) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidEntry(f"The number of {what} must be a whole number from 1; got {quoted(limit)} instead.")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidEntry(f"The number of {what} to skip must be a whole number from 0; got {quoted(offset)} "
                               "instead.")

    def audit(self, pseudonym: str | None = None, limit: int = 200, *, meeting_id: int | None = None,
              person: Person | str | None = None, offset: int = 0, reader: Person | str | None = None) -> list[AuditEntry]:
        """The audit trail, newest first (of one case, one meeting, one person, or everything; filters combine).

        ``person``: see :meth:`_person_filter`. ``reader``: who is reading; a :class:`Person` needs the
        ``read_audit`` permission (the administrator's audit view passes it; a str or None is not checked)."""
        require(reader, "read_audit")
        self._paging("audit entries", limit, offset)
        q = select(audit)
        if pseudonym is not None:
            q = q.where(audit.c.pseudonym == _pseudonym(pseudonym))
        if meeting_id is not None:
            q = q.where(audit.c.meeting_id == _meeting_id(meeting_id))
        if person is not None:
            q = q.where(self._person_filter(audit, person))
        with self._read() as conn:
            rows = conn.execute(q.order_by(audit.c.id.desc()).limit(limit).offset(offset)).all()
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.pseudonym, r.meeting_id, r.screen, r.summary, r.actor_subject)
                for r in rows]

    def record_access(self, actor: Person | str, pseudonym: str, screen: str) -> Access:
        """Who looked: one row (who, their subject, which case, when in UTC, from which screen) each time a stored
        case is opened, in the append-only ``accesses`` table (not in the audit: nothing changed). A Person needs
        the ``read`` permission (a person with no role is refused and nothing is written); a str is a typed name.
        The case need not exist: a look-up of a pseudonym that is not stored is recorded too."""
        actor, subject = _permit(actor, "read")
        p = _pseudonym(pseudonym)
        actor, screen = _who(actor, screen)
        with self._write() as conn:
            now = _now()
            integrity.lock_chain(conn, "accesses")
            row = integrity.chain_entries(conn, [dict(at=now, actor=actor, actor_subject=subject, pseudonym=p,
                                                      screen=screen)], [()], table="accesses")[0]
            new_id = conn.execute(accesses.insert().values(**row).returning(accesses.c.id)).scalar()
        return Access(new_id, now, actor, subject, p, screen)

    def accesses(self, person: Person | str | None = None, pseudonym: str | None = None, limit: int = 200,
                 offset: int = 0, *, reader: Person | str | None = None) -> list[Access]:
        """Who looked, newest first: of one person (as in :meth:`audit`), one case, both, or everyone.
        ``reader``: a :class:`Person` needs the ``read_audit`` permission (a str or None is not checked)."""
        require(reader, "read_audit")
        self._paging("access rows", limit, offset)
        q = select(accesses)
        if pseudonym is not None:
            q = q.where(accesses.c.pseudonym == _pseudonym(pseudonym))
        if person is not None:
            q = q.where(self._person_filter(accesses, person))
        with self._read() as conn:
            rows = conn.execute(q.order_by(accesses.c.id.desc()).limit(limit).offset(offset)).all()
        return [Access(r.id, r.at, r.actor, r.actor_subject, r.pseudonym, r.screen) for r in rows]

    # ------------------------------------------------------------- models
    def register_model(self, version: str, model_hash: str, card_summary: Mapping, *, actor: str | Person = "watchwait",
                       screen: str = "watchwait train") -> SiteModel:
        """Record a model trained at this site (registering the same version and hash again changes nothing)."""
        actor, subject = _permit(actor, "register_model")
        version = _text("Model version", version, required=True, limit=100)
        model_hash = _text("Model hash", model_hash, required=True, limit=64)
        if not isinstance(card_summary, Mapping):
            raise InvalidEntry(f"The model card summary must be a mapping; got {type(card_summary).__name__} instead.")
        summary = _dumps(dict(card_summary))
        actor, screen = _who(actor, screen)
        with self._write() as conn:
            old = conn.execute(select(models).where(models.c.version == version)).first()
            if old is not None:
                if old.model_hash != model_hash:
                    raise InvalidEntry(f"Model {version} is already registered with another hash ({old.model_hash[:12]}..., "
                                       f"not {model_hash[:12]}...); a retrained model gets a new version.")
            else:
                now = _now()
                conn.execute(models.insert().values(version=version, model_hash=model_hash, card_summary=summary,
                                                    registered_at=now, actor=actor, actor_subject=subject))
                self._audit(conn, now, actor, subject, screen, "model.registered", f"model {version} registered",
                            rows=[("models", version)])
        return next(m for m in self.models() if m.version == version)

    def models(self) -> list[SiteModel]:
        """Models registered at this site (newest first), then models used by stored predictions but never registered."""
        with self._read() as conn:
            counts = dict(conn.execute(select(predictions.c.model_version, func.count())
                                       .group_by(predictions.c.model_version)).all())
            rows = conn.execute(select(models).order_by(models.c.registered_at.desc())).all()
        out = [SiteModel(r.version, r.model_hash, json.loads(r.card_summary), r.registered_at, counts.get(r.version, 0))
               for r in rows]
        known = {r.version for r in rows}
        out += [SiteModel(v, None, {}, None, n) for v, n in sorted(counts.items()) if v not in known]
        return out


def _chunks(items: list, size: int = _CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _count_rows(data) -> list:
    """Data rows of a CSV (for the report when validation failed)."""
    import csv
    import io

    try:
        rows = list(csv.reader(io.StringIO(bytes(data).decode("utf-8", errors="replace"))))
    except csv.Error:
        return []
    return rows[1:]
