import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_domain_package_never_imports_streamlit():
    offenders = []
    for path in (ROOT / "watchwait").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "streamlit" for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
