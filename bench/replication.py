"""``python -m bench.replication``: a large package replicated to several regions, as a ratio to
a plain copy of the same bytes on the same disk, and the server's peak memory growth.

One run: Azurite (from ``node_modules``, its blobs on disk) holds a package of random bytes;
a fresh ``compute-gallery serve`` on the same disk creates a version whose ``mediaLink`` is
that blob with a SAS, targeting N regions with one replica each, and is timed from the PUT to
the operation's Succeeded. The baseline copies the package file to N new files on the same
disk, each fsynced (as replicas are), timed before and after the replication; their mean is
the yardstick. Every replica is checked byte for byte (by sha256) against the package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.azurite import Azurite

from .launcher import Server

HERE = Path(__file__).resolve().parent
SUBSCRIPTION = "00000000-0000-0000-0000-0000000be4c5"
API_VERSION = "2025-03-03"
REGIONS = ["eastus2", "westus", "westeurope", "northeurope", "southcentralus"]
CHUNK = 8 * 1024 * 1024
MIB = 1024 * 1024
TARGET_RATIO = 0.5
TARGET_GROWTH_MIB = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replication",
        description=__doc__.split("\n\n", 1)[0].replace("``", ""),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="package size in MiB")
    parser.add_argument(
        "--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1), help="regions"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the package, Azurite's blobs, the copies and the service's data go "
        "(default: a new temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--results", type=Path, default=HERE / "results", help="where to write JSON and markdown"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed, not only on errors"
    )
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_package(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with path.open("wb") as file:
        remaining = size
        while remaining:
            chunk = os.urandom(min(CHUNK, remaining))
            hasher.update(chunk)
            file.write(chunk)
            remaining -= len(chunk)
        file.flush()
        os.fsync(file.fileno())
    return hasher.hexdigest()


def _copy_baseline(package: Path, directory: Path, count: int) -> float:
    """Seconds to copy ``package`` to ``count`` new files, each fsynced; the files go after."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index in range(count):
        target = directory / f"copy-{index}"
        shutil.copyfile(package, target)
        with target.open("rb+") as file:
            os.fsync(file.fileno())
    elapsed = time.perf_counter() - started
    shutil.rmtree(directory)
    return elapsed


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Arm:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = server.ca_cert
        self.session.headers["Authorization"] = "Bearer bench-token"

    def put(self, path: str, body: dict[str, Any], api_version: str = API_VERSION) -> Any:
        response = self.session.put(
            f"{self.server.endpoint}{path}",
            params={"api-version": api_version},
            json=body,
            timeout=60,
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"PUT {path}: {response.status_code} {response.text}")
        return response

    def wait(self, response: Any, poll: float = 0.2, timeout: float = 3600.0) -> dict[str, Any]:
        url = response.headers.get("Azure-AsyncOperation")
        if url is None:
            return {"status": "Succeeded"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status: dict[str, Any] = self.session.get(url, timeout=60).json()
            if status["status"] != "InProgress":
                return status
            time.sleep(poll)
        raise RuntimeError(f"operation {url} did not finish in {timeout} s")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    size = args.size_mib * MIB
    regions = REGIONS[: args.regions]
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "package_bytes": size,
        "regions": regions,
        "loadavg_before": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    package = workdir / "package.bin"
    _progress(f"writing a {args.size_mib} MiB package of random bytes to {package}")
    digest = _write_package(package, size)

    azurite = Azurite(location=workdir / "azurite").start()
    try:
        _progress("uploading it to Azurite")
        with azurite.client() as client:
            container = client.get_container_client("packages")
            container.create_container()
            with package.open("rb") as data:
                container.upload_blob("package.bin", data, length=size, max_concurrency=4)
        url = azurite.sas_url("packages", "package.bin")

        _progress(f"baseline: copying the package to {len(regions)} files")
        before = _copy_baseline(package, workdir / "copies", len(regions))

        with Server(workdir / "data") as server:
            arm = _Arm(server)
            group = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/bench-replication"
            arm.wait(arm.put(group, {"location": "eastus2"}, "2025-04-01"))
            gallery = f"{group}/providers/Microsoft.Compute/galleries/benchgallery"
            arm.wait(arm.put(gallery, {"location": "eastus2"}))
            application = f"{gallery}/applications/benchapp"
            arm.put(
                application, {"location": "eastus2", "properties": {"supportedOSType": "Linux"}}
            )
            body = {
                "location": "eastus2",
                "properties": {
                    "publishingProfile": {
                        "source": {"mediaLink": url},
                        "manageActions": {"install": "sh package.bin", "remove": "true"},
                        "targetRegions": [{"name": region} for region in regions],
                    }
                },
            }
            memory_before = _proc_status(server.pid)
            cpu_before = _cpu_seconds(server.pid)
            # Reset the peak to the current size, so that VmHWM measures this run alone.
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")

            _progress(f"replicating it to {', '.join(regions)}")
            started = time.perf_counter()
            status = arm.wait(arm.put(f"{application}/versions/1.0.0", body))
            elapsed = time.perf_counter() - started
            memory_after = _proc_status(server.pid)
            cpu = _cpu_seconds(server.pid) - cpu_before
            if status["status"] != "Succeeded":
                raise RuntimeError(f"the replication ended {status}")

            _progress("checking every replica against the package")
            replicas = sorted((workdir / "data" / "replication" / "replicas").glob("*/*/content/*"))
            checked = [_sha256(path) for path in replicas]
            if len(replicas) != len(regions) or set(checked) != {digest}:
                raise RuntimeError(f"replicas {replicas} do not match the package")
            service_output = [line.rstrip() for line in server.output[3:]]

        _progress(f"baseline: copying the package to {len(regions)} files again")
        after = _copy_baseline(package, workdir / "copies", len(regions))
    finally:
        azurite.stop()

    moved = size * len(regions)
    baseline = (before + after) / 2
    growth = memory_after["VmHWM"] - memory_before["VmRSS"]
    results.update(
        {
            "replication_seconds": round(elapsed, 3),
            "replication_mib_per_s": round(moved / elapsed / MIB, 1),
            "baseline_seconds": [round(before, 3), round(after, 3)],
            "baseline_mib_per_s": round(moved / baseline / MIB, 1),
            "ratio": round(baseline / elapsed, 3),
            "target_ratio": TARGET_RATIO,
            "server_rss_before_mib": round(memory_before["VmRSS"] / MIB, 1),
            "server_peak_mib": round(memory_after["VmHWM"] / MIB, 1),
            "server_peak_growth_mib": round(growth / MIB, 1),
            "target_growth_mib": TARGET_GROWTH_MIB,
            "server_cpu_seconds": round(cpu, 2),
            "loadavg_after": " ".join(f"{value:.2f}" for value in os.getloadavg()),
            "service_output": service_output,
        }
    )
    results["verdict"] = (
        "PASS" if results["ratio"] >= TARGET_RATIO and growth / MIB < TARGET_GROWTH_MIB else "FAIL"
    )
    return results


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def markdown(results: dict[str, Any]) -> str:
    regions = len(results["regions"])
    size = results["package_bytes"] // MIB
    before, after = results["baseline_seconds"]
    growth = results["server_peak_growth_mib"]
    return "\n".join(
        [
            f"Replication of a {size} MiB package to {regions} regions "
            f"({', '.join(results['regions'])}), run of {results['started']}:",
            "",
            "| measure | value | target | verdict |",
            "|---|---|---|---|",
            f"| PUT to Succeeded | {results['replication_seconds']:.1f} s "
            f"({results['replication_mib_per_s']:.0f} MiB/s into replicas) | - | - |",
            f"| baseline: {regions} fsynced file copies | {before:.1f} s before, {after:.1f} s "
            f"after ({results['baseline_mib_per_s']:.0f} MiB/s) | - | - |",
            f"| throughput ratio (baseline time / replication time) | "
            f"{results['ratio'] * 100:.0f}% | >= {TARGET_RATIO * 100:.0f}% | "
            f"{'PASS' if results['ratio'] >= TARGET_RATIO else 'FAIL'} |",
            f"| server peak memory growth (VmHWM - VmRSS before) | {growth:.1f} MiB (RSS "
            f"{results['server_rss_before_mib']:.0f} -> peak {results['server_peak_mib']:.0f} "
            f"MiB) | < {TARGET_GROWTH_MIB} MiB | "
            f"{'PASS' if growth < TARGET_GROWTH_MIB else 'FAIL'} |",
            f"| server CPU during the replication | {results['server_cpu_seconds']:.1f} s "
            "| - | - |",
            "",
            f"Load average before {results['loadavg_before']}, after {results['loadavg_after']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="compute-gallery-bench-replication-") as temp:
            results = run(args, Path(temp))
    else:
        args.dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-replication-", dir=args.dir))
        try:
            results = run(args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.results / f"replication-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (args.results / f"replication-{stamp}.md").write_text(text)
    (args.results / "latest-replication.md").write_text(text)
    print(text)
    if args.strict and results["verdict"] != "PASS":
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
