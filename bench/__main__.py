"""``python -m bench``: throughput ratios and SDK latency against one fresh service, one run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import report, sdk, throughput, wrk
from .launcher import Server
from .packages import PackageServer
from .seed import Seeder

HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Throughput of GET version, GET operation status and PUT version as ratios "
        "to a hello-world endpoint on the same server, and the SDK's create-to-Succeeded "
        "latency, against one fresh compute-gallery process.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up per scenario, once")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each scenario")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--put-versions", type=int, default=64, help="versions PUT replaces")
    parser.add_argument("--sdk-count", type=int, default=200, help="versions the SDK creates")
    parser.add_argument(
        "--results", type=Path, default=HERE / "results", help="where to write JSON and markdown"
    )
    parser.add_argument("--skip-setup", action="store_true", help="do not run bench/setup.sh")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any target is missed, not only on errors"
    )
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "wrk": wrk.version(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = wrk.Load(args.connections, args.threads, args.seconds)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "environment": _environment(),
        "load": {
            "connections": load.connections,
            "threads": load.threads,
            "seconds": load.seconds,
            "warmup_seconds": args.warmup,
            "rounds": args.rounds,
        },
    }
    with (
        tempfile.TemporaryDirectory(prefix="compute-gallery-bench-") as temp,
        PackageServer() as package,
    ):
        workdir = Path(temp)
        with Server(workdir / "data") as server:
            _progress(f"service at {server.endpoint} (pid {server.pid}), data in {workdir}")
            seeder = Seeder(server.endpoint, server.ca_cert, package.url)
            fixture = seeder.build(args.put_versions)

            runner = throughput.Runner(server.endpoint, server.pid, workdir, load)
            outcomes = throughput.measure(
                runner,
                throughput.scenarios(fixture),
                args.rounds,
                args.warmup,
                _progress,
            )
            results["throughput"] = {name: o.to_json() for name, o in outcomes.items()}
            # Every replaced version must end Succeeded: the PUTs were stored, not just answered.
            states = _final_states(seeder, fixture.put_versions)
            results["put_versions_final_states"] = sorted(states)
            if states != {"Succeeded"}:
                raise RuntimeError(f"replaced versions ended in {sorted(states)}")

            _progress(f"SDK: creating {args.sdk_count} versions one after another")
            latency = sdk.measure(server.endpoint, server.ca_cert, args.sdk_count, package.url)
            results["sdk"] = latency.to_json()
        results["service_output"] = [line.rstrip() for line in server.output[3:]]
    return results


def _final_states(seeder: Seeder, paths: list[str], timeout: float = 10.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {seeder.provisioning_state(path) for path in paths}
        if states == {"Succeeded"} or time.monotonic() > deadline:
            return states
        time.sleep(0.1)


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = directory / f"bench-{stamp}.json"
    markdown_path = directory / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path.write_text(report.markdown(results))
    (directory / "latest.json").write_text(json_path.read_text())
    (directory / "latest.md").write_text(markdown_path.read_text())
    return json_path, markdown_path


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.skip_setup:
        subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
    results = run(args)
    json_path, markdown_path = write(results, args.results)
    print(report.text(results))
    print(f"\nwrote {json_path} and {markdown_path}")
    verdicts = [o["verdict"] for o in results["throughput"].values()]
    if any(verdict == "FAIL (errors)" for verdict in verdicts):
        return 1
    if args.strict and "FAIL" in [*verdicts, results["sdk"]["verdict"]]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
