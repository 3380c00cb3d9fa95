import pytest

from apptest_helpers import new_app


@pytest.fixture
def app():
    """A fresh app session (Patient screen, empty record)."""
    return new_app()


@pytest.fixture(autouse=True)
def own_case_store(tmp_path, monkeypatch):
    """Every app test has a case store of its own (a test may still set or delete WATCHWAIT_DATABASE_URL itself):
    no test creates or reads the default var/watchwait.db."""
    monkeypatch.setenv("WATCHWAIT_DATABASE_URL", f"sqlite:///{tmp_path / 'watchwait.db'}")
