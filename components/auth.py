"""Who is using the dashboard: the person signed in through the site's OpenID Connect provider, or, in local mode,
the name typed in "Your name".

- **Signed-in mode**: ``[auth]`` is set in ``.streamlit/secrets.toml`` (Streamlit's ``st.login``; never committed).
  :func:`current_person` is a :class:`watchwait.store.identity.Person` built from the identity token's claims:
  ``sub`` (the subject), ``name`` (or ``email``) and the roles mapped from the roles claim (``groups`` by default)
  by the ``[watchwait_auth]`` section of the same file (:func:`settings`). Nothing is typed.
- **Local mode**: no ``[auth]``. :func:`current_person` is ``Person.local(typed name)`` (every role, no subject)
  once a name is typed, else ``None``.

Screens ask :func:`may` before showing a write control; the store checks the same permission again on every write
(``watchwait.store.identity.PERMISSIONS``), so a control that is hidden is also refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st

from components import state

if TYPE_CHECKING:
    from watchwait.store.identity import Person

# watchwait.store.identity is imported inside the functions: importing it runs watchwait/store/__init__.py (SQLAlchemy,
# Alembic), which the first screen must not wait for (tests/unit/test_lazy_start.py).

SETTINGS_SECTION = "watchwait_auth"
DEFAULT_ROLES_CLAIM = "groups"
DEFAULT_IDLE_MINUTES = 15.0


@dataclass(frozen=True)
class Settings:
    """``[watchwait_auth]`` in the secrets file: ``roles_claim`` (the claim holding the person's groups),
    ``idle_minutes`` (sign out after this long without a click), ``roles`` (role -> the provider's group names that
    grant it; a role not listed is granted by a group of its own name)."""

    roles_claim: str = DEFAULT_ROLES_CLAIM
    idle_minutes: float = DEFAULT_IDLE_MINUTES
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def roles_of(self, groups: object) -> frozenset[str]:
        """The roles the provider's groups grant (unknown groups grant nothing)."""
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, (list, tuple, set, frozenset)):
            return frozenset()
        from watchwait.store.identity import ROLES

        have = {str(g) for g in groups}
        return frozenset(r for r in ROLES if have & set(self.roles.get(r, (r,))))


def _secrets() -> Mapping | None:
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        return st.secrets
    except Exception:  # a malformed secrets file: Streamlit reports it itself; here it means "not configured"
        return None


def configured() -> bool:
    """True when an identity provider is configured (``[auth]`` in the secrets file): signed-in mode."""
    s = _secrets()
    return s is not None and "auth" in s


def settings() -> Settings:
    from watchwait.store.identity import ROLES

    s = _secrets()
    raw = dict(s.get(SETTINGS_SECTION, {})) if s is not None else {}
    roles = {str(k): tuple(str(g) for g in (v if isinstance(v, (list, tuple)) else [v]))
             for k, v in dict(raw.get("roles", {})).items() if k in ROLES}
    return Settings(roles_claim=str(raw.get("roles_claim", DEFAULT_ROLES_CLAIM)),
                    idle_minutes=float(raw.get("idle_minutes", DEFAULT_IDLE_MINUTES)), roles=roles)


def person_from_claims(claims: Mapping, conf: Settings | None = None) -> Person | None:
    """The signed-in person from the identity token's claims; None without a subject."""
    from watchwait.store.identity import Person

    conf = conf or settings()
    subject = claims.get("sub")
    if not subject:
        return None
    name = claims.get("name") or claims.get("preferred_username") or claims.get("email") or str(subject)
    return Person(str(subject), str(name), conf.roles_of(claims.get(conf.roles_claim)))


def current_person() -> Person | None:
    """Who is acting now: the signed-in person (signed-in mode), ``Person.local(typed name)`` (local mode, once a
    name is typed), or None."""
    if configured():
        if not st.user.is_logged_in:
            return None
        return person_from_claims(st.user.to_dict())
    from watchwait.store.identity import Person

    name = str(st.session_state.get(state.ACTOR) or "").strip()
    return Person.local(name) if name else None


def may(action: str) -> bool:
    """May the current person do ``action`` (an action of ``watchwait.store.identity.PERMISSIONS``)? Local mode:
    yes (the typed name is asked for where a write needs it). Signed in: by the person's roles."""
    if not configured():
        return True
    p = current_person()
    return p is not None and p.may(action)
