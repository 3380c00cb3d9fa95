"""Who is acting on the case store: a :class:`Person` (signed in through the site's identity provider, or a typed
name in local mode) and the one table of what each role may do (:data:`PERMISSIONS`).

Roles (:data:`ROLES`)
    ``viewer``         reads: opens cases, meetings and decisions.
    ``clinician``      assesses (stores a prediction), saves cases (assessment versions), records follow-up.
    ``chair``          creates and runs meetings (puts cases on the list), imports cohorts, records decisions and
                       their corrections.
    ``administrator``  registers site models, reads the audit trail and who looked, runs ``watchwait db`` commands.

Does a higher role include a lower one?
    Not by rank: :data:`PERMISSIONS` below names, for every action, every role that may do it, and nothing else
    grants anything. It is written so that every role reads; a chair may also do everything a clinician may (a
    chair who could not save an assessment during the meeting would be odd); an administrator is not a clinician:
    an administrator reads, registers models, reads the audit and changes the schema, but never saves a clinical
    record or a decision. A person holding several roles (several groups at the provider) may do what any of them
    allows. A person with no role may do nothing, not even read.

Local mode
    A plain ``str`` actor (the typed name of local mode) is not checked: every write is allowed, as before
    sign-in existed, and its rows carry no subject (``actor_subject`` NULL: a typed name). ``Person.local(name)``
    is the same as a Person (every role, ``typed=True``, no subject).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from watchwait.store.entities import InvalidEntry, NotPermitted

VIEWER, CLINICIAN, CHAIR, ADMINISTRATOR = "viewer", "clinician", "chair", "administrator"
#: Every role, in the order they are shown.
ROLES: tuple[str, ...] = (VIEWER, CLINICIAN, CHAIR, ADMINISTRATOR)

#: action -> the roles that may do it. The one source of truth: the Store, its tests and the README's
#: role x action table all come from here.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({VIEWER, CLINICIAN, CHAIR, ADMINISTRATOR}),  # Store.record_access (opening a case)
    "assess": frozenset({CLINICIAN, CHAIR}),  # Store.record_prediction
    "save": frozenset({CLINICIAN, CHAIR}),  # Store.save_assessment
    "follow_up": frozenset({CLINICIAN, CHAIR}),  # Store.record_follow_up
    "create_meeting": frozenset({CHAIR}),  # Store.create_meeting
    "add_case": frozenset({CHAIR}),  # Store.add_case
    "import": frozenset({CHAIR}),  # Store.import_cases
    "decide": frozenset({CHAIR}),  # Store.record_decision (a correction too)
    "register_model": frozenset({ADMINISTRATOR}),  # Store.register_model
    "read_audit": frozenset({ADMINISTRATOR}),  # Store.audit(reader=...), Store.accesses(reader=...)
    "administer_db": frozenset({ADMINISTRATOR}),  # migrate.upgrade / migrate.downgrade (watchwait db)
}

#: What each action is called in a refusal: "... may not <this>: ...".
DOING: dict[str, str] = {
    "read": "open a case",
    "assess": "store an assessment's prediction",
    "save": "save an assessment",
    "follow_up": "record follow-up",
    "create_meeting": "create a meeting",
    "add_case": "add a case to a meeting",
    "import": "import cases",
    "decide": "record a decision",
    "register_model": "register a site model",
    "read_audit": "read the audit trail",
    "administer_db": "change the case store's schema",
}

MAX_NAME = 200
MAX_SUBJECT = 255


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


@dataclass(frozen=True)
class Person:
    """Who acts: ``subject`` (the identity provider's stable id of the person; ``None`` for a typed name),
    ``name`` (the display name shown in the audit), ``roles`` (a subset of :data:`ROLES`) and ``typed``
    (True: the name was typed in local mode, not given by a provider)."""

    subject: str | None
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    typed: bool = False

    def __post_init__(self):
        name = " ".join(self.name.split()) if isinstance(self.name, str) else None
        if not name:
            raise InvalidEntry(f"A person needs a display name; got {self.name!r} instead.")
        if len(name) > MAX_NAME:
            raise InvalidEntry(f"A person's display name must be at most {MAX_NAME} characters; got {len(name):,}.")
        if isinstance(self.roles, str) or not isinstance(self.roles, Iterable):
            raise InvalidEntry(f"A person's roles must be a set of role names ({', '.join(ROLES)}); got "
                               f"{self.roles!r} instead.")
        roles = frozenset(self.roles)
        unknown = sorted(str(r) for r in roles - set(ROLES))
        if unknown:
            raise InvalidEntry(f"Unknown role {', '.join(repr(r) for r in unknown)} for {name}; the roles are "
                               f"{', '.join(ROLES)}.")
        if self.typed:
            if self.subject is not None:
                raise InvalidEntry(f"A typed name ({name}) has no subject at an identity provider; got {self.subject!r}.")
        elif not isinstance(self.subject, str) or not self.subject.strip() or len(self.subject) > MAX_SUBJECT:
            raise InvalidEntry(f"A signed-in person ({name}) needs the identity provider's subject (1-{MAX_SUBJECT} "
                               f"characters); got {self.subject!r} instead.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "typed", bool(self.typed))

    @classmethod
    def local(cls, name: str) -> Person:
        """Local mode's typed name as a Person: every role, no subject."""
        return cls(None, name, frozenset(ROLES), typed=True)

    @property
    def role_text(self) -> str:
        """'viewer', 'clinician, chair', 'no role' (in the order of :data:`ROLES`)."""
        return ", ".join(r for r in ROLES if r in self.roles) or "no role"

    def may(self, action: str) -> bool:
        return bool(self.roles & PERMISSIONS[action])


def allowed(actor: Person | str, action: str) -> bool:
    """May ``actor`` do ``action``? A plain str (local mode's typed name) may do everything."""
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}; the actions are {', '.join(PERMISSIONS)}")
    return not isinstance(actor, Person) or actor.may(action)


def refusal(person: Person, action: str, doing: str | None = None) -> str:
    """'Dr V. Viewer (viewer) may not record a decision: that needs the chair role.'"""
    needed = [r for r in ROLES if r in PERMISSIONS[action]]
    return (f"{person.name} ({person.role_text}) may not {doing or DOING[action]}: that needs the "
            f"{_or(needed)} role.")


def require(actor: object, action: str, doing: str | None = None) -> None:
    """Raise :class:`NotPermitted` when ``actor`` is a :class:`Person` without a role that may do ``action``."""
    if not allowed(actor, action):  # type: ignore[arg-type]
        raise NotPermitted(refusal(actor, action, doing))  # type: ignore[arg-type]


def who(actor: object) -> tuple[object, str | None]:
    """(the name to store, the subject to store): a Person's display name and subject (None when typed); a str
    as it is (checked by the caller, as before) with no subject."""
    if isinstance(actor, Person):
        return actor.name, actor.subject
    return actor, None
