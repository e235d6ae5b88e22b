"""The dependency rule, beside the import-linter contracts: what the workflow code may import, exactly."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_ALLOWED = {"temporalio", "pydantic", "workflows", "__future__"}


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_workflows_import_only_temporal_the_standard_library_pydantic_and_their_own_modules():
    """Every import in workflows/ is Temporal, pydantic, the standard library or another workflows module."""
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "workflows").glob("*.py"))
        for name in _imported_top_levels(path)
        if name not in WORKFLOW_ALLOWED and name not in sys.stdlib_module_names
    }
    assert offenders == set()


def test_workflow_limits_import_only_the_standard_library():
    """Agora's limits are imported by the REST client and inside the sandbox, so they need nothing installed."""
    names = _imported_top_levels(ROOT / "workflows" / "limits.py") - {"__future__"}
    assert names <= set(sys.stdlib_module_names), names


def test_nothing_imports_the_worker_script():
    """worker.py is a thin script; code and tests import recorder.worker instead."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("agora", "emulator", "workflows", "activities", "recorder", "bench", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "worker" in _imported_top_levels(path)
    ]
    assert offenders == []
