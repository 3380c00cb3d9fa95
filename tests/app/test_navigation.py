"""app.py registers every page; a page file that is not listed fails here."""

import ast

from apptest_helpers import ROOT, goto, new_app, texts


def _registered() -> set[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Page":
            out.add(node.args[0].value)
    return out


def test_every_page_file_is_registered_in_app_py():
    files = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    assert files and files == _registered()


def test_every_page_without_a_patient_says_so_and_raises_nothing():
    at = new_app()
    assert "Empty record" in texts(at)
    for page in ("assessment", "what_if", "trajectories", "evidence", "options"):
        goto(at, page)
        assert "No patient yet" in texts(at), page
        assert not at.metric and not at.get("plotly_chart"), page
    goto(at, "about_model")
    assert "fused-" in texts(at)


def test_presentation_mode_is_kept_across_screens():
    at = new_app()
    at.toggle(key="presentation_toggle").set_value(True).run()
    assert at.session_state["presentation_mode"] is True
    goto(at, "about_model")
    assert at.toggle(key="presentation_toggle").value is True
    at.toggle(key="presentation_toggle").set_value(False).run()
    assert at.session_state["presentation_mode"] is False
