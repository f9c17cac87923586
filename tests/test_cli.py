"""The command line: help, refusals with a clear message, and the start-up banner."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .support import ServiceProcess


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compute_gallery", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_commands_and_flags() -> None:
    top = _run("--help")
    serve = _run("serve", "--help")

    assert top.returncode == 0 and "serve" in top.stdout and "migrate" in top.stdout
    assert serve.returncode == 0
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--in-memory",
        "--http",
        "--database-url",
        "--operation-seconds",
        "--lro-mode",
        "--blob-replicas",
        "--blob-container-prefix",
        "--max-transfers",
        "--bandwidth",
        "--replication-seconds",
        "--allow-file-sources",
        "--source-host",
        "--source-ca",
        "--source-timeout",
        "--max-package-size",
        "--max-config-size",
        "--database-pool-size",
        "--database-wait-seconds",
        "--operation-lease-seconds",
    ):
        assert flag in serve.stdout


def test_version_prints_the_package_version() -> None:
    from compute_gallery import __version__

    result = _run("--version")
    assert result.stdout.strip() == f"compute-gallery {__version__}"


def test_serve_refuses_a_database_url_that_is_not_postgresql(tmp_path: Path) -> None:
    result = _run("serve", "--data-dir", str(tmp_path), "--database-url", "mysql://u:pw@x/y")
    assert result.returncode == 2
    assert "--database-url" in result.stderr and "postgresql://" in result.stderr
    assert "pw" not in result.stderr


def test_serve_refuses_database_url_with_in_memory(tmp_path: Path) -> None:
    result = _run(
        "serve", "--data-dir", str(tmp_path), "--in-memory", "--database-url", "postgresql://x/y"
    )
    assert result.returncode == 2
    assert "--in-memory" in result.stderr and "--database-url" in result.stderr


def test_serve_refuses_a_pool_of_one(tmp_path: Path) -> None:
    result = _run(
        "serve",
        "--data-dir",
        str(tmp_path),
        "--database-url",
        "postgresql://x/y",
        "--database-pool-size",
        "1",
    )
    assert result.returncode == 2
    assert "--database-pool-size must be at least 2" in result.stderr


def test_migrate_help_names_its_flags() -> None:
    result = _run("migrate", "--help")
    assert result.returncode == 0
    assert "--database-url" in result.stdout and "--database-wait-seconds" in result.stdout


def test_migrate_without_database_url_is_refused() -> None:
    result = _run("migrate")
    assert result.returncode == 2
    assert "--database-url" in result.stderr


def test_serve_refuses_negative_operation_seconds(tmp_path: Path) -> None:
    result = _run("serve", "--data-dir", str(tmp_path), "--operation-seconds", "-1")
    assert result.returncode == 2
    assert "must not be negative" in result.stderr


def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("serve", "--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "--port" in result.stderr


def test_banner_prints_endpoint_and_ca(fresh_service: ServiceProcess) -> None:
    fresh_service.start()
    assert fresh_service.endpoint.startswith("https://127.0.0.1:")
    assert fresh_service.ca_cert == str(fresh_service.data_dir / "tls" / "ca.pem")


def test_http_mode_serves_plain_http(fresh_service: ServiceProcess) -> None:
    fresh_service.args = ["--http"]
    fresh_service.start()

    response = requests.get(f"{fresh_service.endpoint}/_emulator/health", timeout=5)

    assert fresh_service.endpoint.startswith("http://")
    assert fresh_service.ca_cert is None
    assert response.json()["status"] == "ok"


def test_info_logs_one_line_per_request(fresh_service: ServiceProcess) -> None:
    fresh_service.args = ["--log-level", "info"]
    fresh_service.start()
    before = len(fresh_service.output)

    response = requests.get(
        f"{fresh_service.endpoint}/subscriptions/x/resourcegroups?api-version=2025-04-01",
        verify=fresh_service.verify,
        headers={"x-ms-client-request-id": "ignored"},
        timeout=5,
    )
    fresh_service.stop()

    request_id = response.headers["x-ms-request-id"]
    lines = [line for line in fresh_service.output[before:] if request_id in line]
    assert len(lines) == 1
    assert "INFO" in lines[0]
    assert "GET /subscriptions/x/resourcegroups 401" in lines[0]
    assert lines[0].rstrip().endswith(request_id)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--bandwidth", "fast"], "--bandwidth: 'fast' is not a size"),
        (["--max-package-size", "0"], "--max-package-size must be at least one byte"),
        (["--max-transfers", "0"], "--max-transfers must be at least 1"),
        (["--replication-seconds", "-2"], "--replication-seconds must not be negative"),
        (["--source-timeout", "0"], "--source-timeout must be positive"),
        (["--blob-container-prefix", "Replicas_"], "--blob-container-prefix must be lower-case"),
        (["--source-ca", "no-such-ca.pem"], "--source-ca: no file no-such-ca.pem"),
    ],
)
def test_serve_refuses_bad_replication_flags(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    result = _run("serve", "--data-dir", str(tmp_path), *flags)

    assert result.returncode == 2
    assert message in result.stderr


def test_serve_refuses_a_data_directory_another_service_uses(
    sqlite_service: ServiceProcess,
) -> None:
    sqlite_service.start()
    assert sqlite_service.process is not None

    second = _run("serve", "--data-dir", str(sqlite_service.data_dir), "--port", "0")

    # 3: uvicorn's exit status when the application cannot start.
    assert second.returncode == 3
    assert f"in use by another compute-gallery process (pid {sqlite_service.process.pid})" in (
        second.stderr
    )
    assert "--data-dir" in second.stderr
    # The first service goes on answering, and a restart on the directory takes it over.
    sqlite_service.restart()
