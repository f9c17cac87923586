"""``python -m bench.instances``: PUT and GET version on PostgreSQL, one instance and two, as
ratios to SQLite measured in the same run.

Three set-ups run side by side: one instance on SQLite (the baseline), and two instances on
one PostgreSQL database (a local server with fsync on, as in production). "PostgreSQL, one
instance" sends every request to the first of the two; "two instances" splits the
connections between both, a wrk process for each, as a load balancer would. Each round runs
every scenario on every set-up in turn, so that noise from the machine falls on all three;
the ratio of a round is its rate over the SQLite rate of the same round, and the median over
rounds is the figure reported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.postgres import PostgresServer

from . import report, wrk
from .launcher import Server
from .packages import PackageServer
from .seed import Fixture, Seeder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINE = "sqlite"
SETUPS = {
    "sqlite": "SQLite, one instance",
    "postgres-1": "PostgreSQL, one instance",
    "postgres-2": "PostgreSQL, two instances",
}


@dataclass
class Scenario:
    name: str
    title: str
    method: str
    # The paths each instance is sent: one list per instance of the set-up.
    paths: list[list[str]]
    body: bytes | None = None


@dataclass
class Outcome:
    """Every run of one scenario on one set-up: total rates and the ratio to SQLite's."""

    rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    failed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_median": round(statistics.median(self.rates), 1),
            "rates": [round(rate, 1) for rate in self.rates],
            "ratio_median": round(statistics.median(self.ratios), 4) if self.ratios else None,
            "ratios": [round(ratio, 4) for ratio in self.ratios],
            "failed_requests": self.failed,
        }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instances",
        description="PUT and GET version throughput on PostgreSQL with one instance and with "
        "two, as ratios to one SQLite instance measured in the same run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each scenario and set-up")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections in all")
    parser.add_argument("--put-versions", type=int, default=64, help="versions PUT replaces")
    parser.add_argument(
        "--pool-size", type=int, default=10, help="--database-pool-size of each instance"
    )
    parser.add_argument(
        "--results", type=Path, default=HERE / "results", help="where to write JSON and markdown"
    )
    parser.add_argument("--skip-setup", action="store_true", help="install neither wrk nor PG")
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _split(paths: list[str], parts: int) -> list[list[str]]:
    """Every ``parts``-th path to each instance, so that no two write the same version."""
    return [paths[index::parts] for index in range(parts)]


def scenarios(fixture: Fixture, instances: int) -> list[Scenario]:
    return [
        Scenario("get_version", "GET version", "GET", [[fixture.read_version]] * instances),
        Scenario(
            "put_version",
            f"PUT version (replace 1 of {len(fixture.put_versions)})",
            "PUT",
            _split(fixture.put_versions, instances),
            fixture.put_body,
        ),
    ]


def run_split(
    endpoints: list[str], scenario: Scenario, workdir: Path, load: wrk.Load
) -> tuple[float, int]:
    """One wrk per endpoint, all at once, the connections shared out; total rate, failures."""
    body_file = None
    if scenario.body is not None:
        body_file = workdir / f"{scenario.name}.json"
        body_file.write_bytes(scenario.body)
    share = wrk.Load(max(1, load.connections // len(endpoints)), load.threads, load.seconds)
    results: list[wrk.WrkResult | BaseException] = [RuntimeError("wrk did not run")] * len(
        endpoints
    )

    def drive(index: int) -> None:
        paths_file = workdir / f"{scenario.name}-{index}.paths"
        paths_file.write_text("\n".join(scenario.paths[index]) + "\n")
        try:
            results[index] = wrk.run(
                endpoints[index], scenario.method, paths_file, body_file, share
            )
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=drive, args=(index,)) for index in range(len(endpoints))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total, failed = 0.0, 0
    for result in results:
        if isinstance(result, BaseException):
            raise result
        total += result.rate
        failed += result.failed
    return total, failed


def _final_states(seeder: Seeder, paths: list[str], timeout: float = 30.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {seeder.provisioning_state(path) for path in paths}
        if states == {"Succeeded"} or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = wrk.Load(args.connections, 1, args.seconds)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "environment": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "loadavg_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
            "wrk": wrk.version(),
        },
        "load": {"connections": load.connections, "seconds": load.seconds, "rounds": args.rounds},
    }
    database = PostgresServer(durable=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="compute-gallery-bench-") as temp:
            workdir = Path(temp)
            url = database.create_database("bench")
            results["postgres"] = database.execute(url, "SHOW server_version")[0][0]
            pg = ["--database-url", url, "--database-pool-size", str(args.pool_size)]
            with contextlib.ExitStack() as running:
                package = running.enter_context(PackageServer())
                sqlite = running.enter_context(Server(workdir / "sqlite"))
                first = running.enter_context(Server(workdir / "pg-1", serve_args=pg))
                # Each instance has a data directory of its own (its staging files and
                # replicas), and the first's certificates: behind one load balancer the two
                # must present the same.
                shutil.copytree(workdir / "pg-1" / "tls", workdir / "pg-2" / "tls")
                second = running.enter_context(Server(workdir / "pg-2", serve_args=pg))
                _progress(
                    f"SQLite at {sqlite.endpoint}; PostgreSQL instances at "
                    f"{first.endpoint} and {second.endpoint} ({results['postgres']})"
                )
                fixtures = {}
                for name, server in (("sqlite", sqlite), ("postgres", first)):
                    seeder = Seeder(server.endpoint, server.ca_cert, package.url)
                    fixtures[name] = (seeder, seeder.build(args.put_versions))
                setups = {
                    "sqlite": ([sqlite.endpoint], fixtures["sqlite"][1]),
                    "postgres-1": ([first.endpoint], fixtures["postgres"][1]),
                    "postgres-2": ([first.endpoint, second.endpoint], fixtures["postgres"][1]),
                }
                outcomes = _measure(setups, workdir, load, args.rounds)
                for name, (seeder, fixture) in fixtures.items():
                    states = _final_states(seeder, fixture.put_versions)
                    if states != {"Succeeded"}:
                        raise RuntimeError(f"{name}: replaced versions ended in {sorted(states)}")
                results["throughput"] = {
                    scenario: {setup: outcome.to_json() for setup, outcome in by_setup.items()}
                    for scenario, by_setup in outcomes.items()
                }
                results["service_output"] = [
                    line.rstrip()
                    for server in (sqlite, first, second)
                    for line in server.output[3:]
                ]
    finally:
        database.remove()
    return results


def _measure(
    setups: dict[str, tuple[list[str], Fixture]], workdir: Path, load: wrk.Load, rounds: int
) -> dict[str, dict[str, Outcome]]:
    titles = {s.name: s.title for s in scenarios(setups[BASELINE][1], 1)}
    outcomes = {name: {setup: Outcome() for setup in setups} for name in titles}
    for endpoints, fixture in setups.values():
        for scenario in scenarios(fixture, len(endpoints)):
            run_split(endpoints, scenario, workdir, wrk.Load(load.connections, 1, 1))
    for round_number in range(1, rounds + 1):
        _progress(f"round {round_number}/{rounds}")
        for name, title in titles.items():
            baseline = 0.0
            for setup, (endpoints, fixture) in setups.items():
                scenario = next(s for s in scenarios(fixture, len(endpoints)) if s.name == name)
                rate, failed = run_split(endpoints, scenario, workdir, load)
                # A PUT run's last provisioning jobs finish before the next run starts.
                time.sleep(0.3)
                outcome = outcomes[name][setup]
                outcome.rates.append(rate)
                outcome.failed += failed
                if setup == BASELINE:
                    baseline = rate
                elif baseline:
                    outcome.ratios.append(rate / baseline)
                _progress(
                    f"  {title:<32} {SETUPS[setup]:<28} {rate:>8.0f} req/s"
                    + (f"  {failed} FAILED" if failed else "")
                )
    return outcomes


HEADER = ["scenario", "set-up", "req/s (median)", "ratio to SQLite (median)", "ratio per round"]


def rows(results: dict[str, Any]) -> list[list[str]]:
    table = []
    for name, by_setup in results["throughput"].items():
        for setup, outcome in by_setup.items():
            ratios = ", ".join(f"{ratio * 100:.0f}%" for ratio in outcome["ratios"]) or "-"
            median = outcome["ratio_median"]
            table.append(
                [
                    name.replace("_", " "),
                    SETUPS[setup],
                    f"{outcome['rate_median']:,.0f}",
                    "-" if median is None else f"{median * 100:.1f}%",
                    ratios,
                ]
            )
    return table


def describe(results: dict[str, Any]) -> str:
    env, load = results["environment"], results["load"]
    return (
        f"{results['started']}, {env['cpus']} CPUs, load average {env['loadavg_before']} "
        f"before the run; PostgreSQL {results['postgres']} (fsync on) on the same machine; "
        f"{env['wrk']}, {load['connections']} connections in all, {load['seconds']} s per run, "
        f"{load['rounds']} rounds; Python {env['python']}"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.skip_setup:
        subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
        subprocess.run(["bash", str(ROOT / "tools" / "setup-postgres.sh")], check=True)
    results = run(args)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = args.results / f"instances-{stamp}.json"
    markdown_path = args.results / f"instances-{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path.write_text(
        f"Run of {describe(results)}.\n\n" + report.markdown_table(HEADER, rows(results)) + "\n"
    )
    print(describe(results) + "\n\n" + report.text_table(HEADER, rows(results)))
    print(f"\nwrote {json_path} and {markdown_path}")
    failed = sum(
        outcome["failed_requests"]
        for by_setup in results["throughput"].values()
        for outcome in by_setup.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
