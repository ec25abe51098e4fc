"""examples/persistence_demo.py runs offline and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "persistence_demo.py"


@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_demo_runs(backend: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_RUNTIME_GLOBAL_DIR"}
    env["HOME"] = str(tmp_path / "home")  # the demo must not write here
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLE), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "memory user_name: Alice (this project)" in result.stdout
    assert "ready after fetch: ['Clean data', 'Write report']" in result.stdout
    assert list(tmp_path.iterdir()) == []
