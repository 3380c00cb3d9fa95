"""deploy/GUIDE.md stays true to the code it installs (no servers, no browser):

- every ``watchwait db ...`` command it tells the IT team to run exists, with the options it gives;
- its secrets.toml example is valid TOML whose ``[watchwait_auth]`` maps exactly watchwait's four roles, read by
  components.auth as the guide says;
- the files its table names exist, and the placeholders it says to replace are in them.
"""

from __future__ import annotations

import re
import tomllib

from deploy_harness import DEPLOY, ROOT, SHIPPED_CONFIG, SHIPPED_SITE

GUIDE = (DEPLOY / "GUIDE.md").read_text()


def test_every_watchwait_db_command_in_the_guide_exists_with_its_options(cli):
    commands = re.findall(r"watchwait db (\w+)([^\n`;&|]*)", GUIDE)
    assert {c for c, _ in commands} >= {"upgrade", "grant", "verify", "backup", "restore", "current"}
    for sub, rest in commands:
        r = cli("db", sub, "--help")
        assert r.returncode == 0, (sub, r.stderr)
        for option in re.findall(r"(--[a-z][a-z-]*)", rest):
            assert option in r.stdout, f"`watchwait db {sub}` has no {option} (deploy/GUIDE.md)"


def test_the_guides_secrets_example_maps_the_four_roles():
    from components import auth
    from watchwait.store.identity import ROLES

    [block] = re.findall(r"```toml\n(.*?)```", GUIDE, flags=re.S)
    secrets = tomllib.loads(block)
    assert set(secrets["auth"]) == {"redirect_uri", "cookie_secret", "client_id", "client_secret",
                                    "server_metadata_url", "client_kwargs"}
    assert secrets["auth"]["redirect_uri"] == "https://watchwait.hospital.example/oauth2callback"
    section = secrets[auth.SETTINGS_SECTION]
    assert set(section["roles"]) == set(ROLES)
    assert section["roles_claim"] in secrets["auth"]["client_kwargs"]["scope"].split()
    settings = auth.Settings(roles_claim=section["roles_claim"], idle_minutes=float(section["idle_minutes"]),
                             roles={k: tuple(v) for k, v in section["roles"].items()})
    assert settings.roles_of(["mdt-chair"]) == frozenset({"chair"})
    assert settings.roles_of(["library-staff"]) == frozenset()


def test_the_files_and_placeholders_the_guide_names_exist():
    paths = re.findall(r"\| `((?:nginx|systemd|streamlit)/[^`]+)` \|", GUIDE)
    assert len(paths) == 3, paths
    for path in paths:
        assert (DEPLOY / path).is_file(), path
    assert "watchwait.hospital.example" in SHIPPED_SITE.read_text()
    assert 'allowedHosts = ["watchwait.hospital.example"]' in SHIPPED_CONFIG.read_text()
    assert (ROOT / "benchmarks" / "bench_failover.py").is_file()
