"""Throughput scenarios, each run interleaved with the hello-world baseline and rated by ratio."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import wrk
from .seed import Fixture

BASELINE = "hello_world"
# Lets a PUT run's last provisioning jobs finish before the next run starts.
_SETTLE_SECONDS = 0.3
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    """One request mix: a method, the paths it cycles through, and its body."""

    name: str
    title: str
    method: str
    paths: list[str]
    body: bytes | None = None
    # The least ratio to the baseline the scenario must reach; None reports without a target.
    target_ratio: float | None = None


@dataclass(frozen=True)
class Run:
    """One wrk run, and the CPU time the service process (all its threads) spent meanwhile.

    ``client_cpu_seconds`` is wrk's own; ``others_cores`` is how many cores everything else on
    the machine kept busy on average meanwhile, the noise the ratios have to see through.
    """

    load: wrk.WrkResult
    cpu_seconds: float
    client_cpu_seconds: float = 0.0
    others_cores: float = 0.0

    @property
    def rate(self) -> float:
        return self.load.rate

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds * 1e6 / self.load.requests if self.load.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **self.load.to_json(),
            "server_cpu_seconds": round(self.cpu_seconds, 2),
            "server_cpu_us_per_request": round(self.cpu_us_per_request, 1),
            "client_cpu_seconds": round(self.client_cpu_seconds, 2),
            "others_cores": round(self.others_cores, 2),
        }


@dataclass
class Outcome:
    """Every run of one scenario, with the ratio of each to its neighbouring baselines.

    ``ratios`` compare requests per second; ``cpu_ratios`` compare the service's CPU time per
    request (baseline over scenario), which other processes on the machine disturb far less.
    """

    scenario: Scenario
    runs: list[Run] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(run.rate for run in self.runs)

    @property
    def cpu_us_per_request(self) -> float:
        return statistics.median(run.cpu_us_per_request for run in self.runs)

    @property
    def cpu_ratio(self) -> float | None:
        return statistics.median(self.cpu_ratios) if self.cpu_ratios else None

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def failed(self) -> int:
        return sum(run.load.failed for run in self.runs)

    @property
    def verdict(self) -> str:
        if self.failed:
            return "FAIL (errors)"
        if self.scenario.target_ratio is None or self.ratio is None:
            return "-"
        return "PASS" if self.ratio >= self.scenario.target_ratio else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.scenario.title,
            "method": self.scenario.method,
            "distinct_paths": len(self.scenario.paths),
            "rate_median": round(self.rate, 1),
            "ratio_median": round(self.ratio, 4) if self.ratio is not None else None,
            "ratios": [round(ratio, 4) for ratio in self.ratios],
            "server_cpu_us_per_request_median": round(self.cpu_us_per_request, 1),
            "cpu_ratio_median": round(self.cpu_ratio, 4) if self.cpu_ratio is not None else None,
            "cpu_ratios": [round(ratio, 4) for ratio in self.cpu_ratios],
            "target_ratio": self.scenario.target_ratio,
            "verdict": self.verdict,
            "failed_requests": self.failed,
            "runs": [run.to_json() for run in self.runs],
        }


def scenarios(fixture: Fixture) -> list[Scenario]:
    return [
        Scenario(BASELINE, "hello-world (GET /_emulator/ping)", "GET", ["/_emulator/ping"]),
        Scenario(
            "get_version",
            "GET version",
            "GET",
            [fixture.read_version],
            target_ratio=0.40,
        ),
        Scenario(
            "get_operation",
            "GET operation status",
            "GET",
            [fixture.operation_status],
            target_ratio=0.40,
        ),
        Scenario(
            "put_version",
            f"PUT version (replace 1 of {len(fixture.put_versions)})",
            "PUT",
            fixture.put_versions,
            body=fixture.put_body,
            target_ratio=0.20,
        ),
    ]


class Runner:
    """Runs scenarios with wrk against one endpoint, keeping the request files in ``workdir``."""

    def __init__(self, endpoint: str, server_pid: int, workdir: Path, load: wrk.Load) -> None:
        self.endpoint = endpoint
        self.server_pid = server_pid
        self.workdir = workdir
        self.load = load

    def run(self, scenario: Scenario, seconds: int | None = None) -> Run:
        paths_file = self.workdir / f"{scenario.name}.paths"
        paths_file.write_text("\n".join(scenario.paths) + "\n")
        body_file = None
        if scenario.body is not None:
            body_file = self.workdir / f"{scenario.name}.json"
            body_file.write_bytes(scenario.body)
        load = self.load
        if seconds is not None:
            load = wrk.Load(load.connections, load.threads, seconds)
        server_before = process_cpu_seconds(self.server_pid)
        client_before = _children_cpu_seconds()
        machine_before = machine_busy_seconds()
        started = time.monotonic()
        result = wrk.run(self.endpoint, scenario.method, paths_file, body_file, load)
        # The settling time counts: a PUT's provisioning job is part of what the PUT costs.
        time.sleep(_SETTLE_SECONDS)
        server = process_cpu_seconds(self.server_pid) - server_before
        client = _children_cpu_seconds() - client_before
        machine = machine_busy_seconds() - machine_before
        others = max(0.0, machine - server - client) / (time.monotonic() - started)
        return Run(result, server, client, others)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its descendants, all threads (``/proc``).

    The service's SQLite store commits through a child process: its CPU is the service's.
    Descendants that ended count once their parent has waited for them.
    """
    # The command name may hold spaces; the fields after its closing parenthesis do not.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, and cutime, cstime: the descendants it waited for.
    total = sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
    for child in _children(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += process_cpu_seconds(child)
    return total


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from each process's ``stat``."""
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            if int(parent) == pid:
                children.append(int(entry.name))
    return children


def machine_busy_seconds() -> float:
    """CPU time all cores together spent neither idle nor waiting for I/O (``/proc/stat``)."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    # guest and guest_nice (the last two) are already counted in user and nice.
    return (sum(ticks[:8]) - idle - iowait) / _CLOCK_TICKS


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    runner: Runner,
    all_scenarios: list[Scenario],
    rounds: int,
    warmup_seconds: int,
    progress: Callable[[str], None],
) -> dict[str, Outcome]:
    """Warm every scenario up once, then run the interleaved schedule; outcomes by name.

    The schedule for R rounds is ``ping A ping B ping C ping | A ping B ...``: every scenario
    run sits between two baseline runs, and its ratio is its rate over the mean of those two.
    Noise that slows the machine for a few seconds thus slows both sides of a ratio; the
    median over rounds is the figure reported.
    """
    baseline = next(s for s in all_scenarios if s.name == BASELINE)
    measured = [s for s in all_scenarios if s.name != BASELINE]
    outcomes = {s.name: Outcome(s) for s in all_scenarios}

    if warmup_seconds > 0:
        for scenario in all_scenarios:
            runner.run(scenario, warmup_seconds)

    def run_baseline() -> Run:
        result = runner.run(baseline)
        outcomes[BASELINE].runs.append(result)
        progress(
            f"  {baseline.title:<40} {result.rate:>9.0f} req/s"
            f" {result.cpu_us_per_request:>7.0f} us CPU/request"
            f"  (others: {result.others_cores:.2f} cores)"
        )
        return result

    previous = run_baseline()
    for round_number in range(1, rounds + 1):
        progress(f"round {round_number}/{rounds}")
        for scenario in measured:
            result = runner.run(scenario)
            outcomes[scenario.name].runs.append(result)
            progress(
                f"  {scenario.title:<40} {result.rate:>9.0f} req/s"
                f" {result.cpu_us_per_request:>7.0f} us CPU/request"
                f"  (others: {result.others_cores:.2f} cores)"
                + (f"  {result.load.failed} FAILED" if result.load.failed else "")
            )
            after = run_baseline()
            outcome = outcomes[scenario.name]
            outcome.ratios.append(_ratio(result.rate, (previous.rate + after.rate) / 2))
            cpu_reference = (previous.cpu_us_per_request + after.cpu_us_per_request) / 2
            outcome.cpu_ratios.append(_ratio(cpu_reference, result.cpu_us_per_request))
            previous = after
    return outcomes


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0
