import pytest

from apptest_helpers import new_app


@pytest.fixture
def app():
    """A fresh app session (Patient screen, empty record)."""
    return new_app()
