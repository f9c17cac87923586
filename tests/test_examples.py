"""The README's quick start runs as written against a real service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .support import ServiceProcess

EXAMPLE = Path(__file__).parent.parent / "examples" / "quickstart.py"


def test_quickstart_creates_a_version(fresh_service: ServiceProcess) -> None:
    fresh_service.start()
    env = dict(
        os.environ,
        COMPUTE_GALLERY_ENDPOINT=fresh_service.endpoint,
        COMPUTE_GALLERY_CA=str(fresh_service.ca_cert),
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "1.0.0 Succeeded",
        "  East US 2: 1 x Standard_ZRS",
        "  West Europe: 2 x Standard_ZRS",
    ]
