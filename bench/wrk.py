"""Runs wrk with ``scenario.lua`` and reads back the JSON line the script prints."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("scenario.lua")
_MARKER = "wrk-json "


@dataclass(frozen=True)
class Load:
    """How hard to push: connections, wrk threads, and whole seconds per run (wrk's unit)."""

    connections: int = 16
    threads: int = 1
    seconds: int = 3


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. ``failed`` counts responses >= 400 plus socket errors and timeouts."""

    requests: int
    seconds: float
    failed: int
    latency_p50_ms: float
    latency_p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rate": round(self.rate, 1)}


def version() -> str:
    """``wrk debian/4.1.0-3+b2 [epoll]``: the banner's first line without the copyright."""
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (completed.stdout or completed.stderr).splitlines()[0]
    return first.split(" Copyright")[0].strip()


def run(
    endpoint: str, method: str, paths_file: Path, body_file: Path | None, load: Load
) -> WrkResult:
    """One run of wrk against ``endpoint``; raises if wrk fails or prints no result."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed; run bench/setup.sh")
    command = [
        wrk,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        endpoint,
        "--",
        method,
        str(paths_file),
    ]
    if body_file is not None:
        command.append(str(body_file))
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=load.seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            data = json.loads(line[len(_MARKER) :])
            errors = data["errors"]
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                failed=sum(errors.values()),
                latency_p50_ms=data["latency_us"]["p50"] / 1000,
                latency_p99_ms=data["latency_us"]["p99"] / 1000,
            )
    raise RuntimeError(
        f"wrk exited {completed.returncode} without a result:\n{completed.stdout}\n"
        f"{completed.stderr}"
    )
