"""``python -m bench.profile SCENARIO``: where the service's time goes under one load."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import throughput, wrk
from .launcher import Server
from .packages import PackageServer
from .seed import Seeder

HERE = Path(__file__).resolve().parent

DESCRIPTION = """\
Starts a fresh service, seeds it as the benchmark does, and runs wrk on one scenario while
py-spy samples the service process (all threads; threads asleep are left out, threads
blocked in a disk write such as fsync are not). Prints the functions with the most samples
of their own (self) and in total (inclusive), and keeps the collapsed stacks (for flamegraph
tools) under bench/results/. Needs py-spy (.venv/bin/pip install py-spy); sampling slows the
service a little, so the rates it prints are not the benchmark's figures.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=DESCRIPTION)
    parser.add_argument(
        "scenario",
        choices=("hello_world", "get_version", "get_operation", "put_version"),
        help="the scenario to load the service with",
    )
    parser.add_argument("--seconds", type=int, default=10, help="how long to sample")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL: Python's own work, without the waits "
        "and the C code (SQLite, TLS, fsync) that runs with the GIL released",
    )
    parser.add_argument(
        "--native", action="store_true", help="include C frames (SQLite, OpenSSL, the kernel call)"
    )
    parser.add_argument("--put-versions", type=int, default=64, help="versions PUT replaces")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    return parser


def _frame(frame: str) -> str:
    """``handler (compute_gallery/app.py:97)`` without the line, so a function is one row."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3."):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{name} ({file})"


def summarise(collapsed: Path, top: int) -> str:
    """Self and inclusive sample counts per function from py-spy's collapsed (raw) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        # With --threads the first frame names the thread: "thread (12068): MainThread".
        threads[frames[0].rpartition("): ")[2]] += count
        functions = [_frame(frame) for frame in frames[1:]]
        total += count
        if functions:
            own[functions[-1]] += count
        for function in set(functions):
            inclusive[function] += count

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"{title} (% of {total} active samples)"]
        rows += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
        return rows

    lines = [*table("threads", threads), "", *table("self", own), ""]
    return "\n".join([*lines, *table("inclusive", inclusive)])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is missing: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kind = ("gil-" if args.gil else "") + ("native-" if args.native else "")
    collapsed = args.results / f"profile-{kind}{args.scenario}-{stamp}.txt"

    with (
        tempfile.TemporaryDirectory(prefix="compute-gallery-profile-") as temp,
        PackageServer() as package,
    ):
        workdir = Path(temp)
        with Server(workdir / "data") as server:
            fixture = Seeder(server.endpoint, server.ca_cert, package.url).build(args.put_versions)
            scenario = next(s for s in throughput.scenarios(fixture) if s.name == args.scenario)
            runner = throughput.Runner(server.endpoint, server.pid, workdir, wrk.Load())
            runner.run(scenario, 1)
            sampler = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(args.seconds + 1),
                    "--format",
                    "raw",
                    "--threads",
                    # Native unwinding needs the process paused for each sample.
                    *([] if args.native else ["--nonblocking"]),
                    *(["--gil"] if args.gil else []),
                    *(["--native"] if args.native else []),
                    "--output",
                    str(collapsed),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.5)
            run = runner.run(scenario, args.seconds)
            _, errors = sampler.communicate(timeout=args.seconds + 60)
            if sampler.returncode != 0 or not collapsed.exists():
                print(f"py-spy failed:\n{errors}", file=sys.stderr)
                return 1

    print(
        f"{scenario.title}: {run.rate:.0f} req/s under sampling, "
        f"{run.cpu_us_per_request:.0f} us of service CPU per request, "
        f"{run.load.failed} failed"
    )
    print(summarise(collapsed, args.top))
    print(f"\ncollapsed stacks in {collapsed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
