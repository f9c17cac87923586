"""A real Azurite blob service (the npm package ``make setup`` installs) on a free port.

The tests keep its data in memory; the replication benchmark gives it a directory.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

ROOT = Path(__file__).resolve().parent.parent
EXECUTABLE = ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's documented development account key: public, and valid only against Azurite.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT = 60.0
_LISTENING = re.compile(r"listens on (http://[\d.]+:(\d+))")


@dataclass
class Azurite:
    """One ``azurite-blob`` process on a port it picked."""

    # Where Azurite keeps blobs; None: in memory.
    location: Path | None = None
    process: subprocess.Popen[str] | None = None
    endpoint: str = ""
    output: list[str] = field(default_factory=list)
    _drain: threading.Thread | None = None

    def start(self) -> Azurite:
        if not EXECUTABLE.exists():
            raise RuntimeError(f"{EXECUTABLE} is missing: run `make setup` to install Azurite")
        if self.location is None:
            storage = ["--inMemoryPersistence", "--extentMemoryLimit", "1024"]
        else:
            storage = ["--location", str(self.location)]
        self.process = subprocess.Popen(
            [
                str(EXECUTABLE),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                *storage,
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("Azurite exited during start:\n" + "".join(self.output))
            self.output.append(line)
            match = _LISTENING.search(line)
            if match:
                self.endpoint = f"{match.group(1)}/{ACCOUNT}"
                break
        else:
            raise RuntimeError("Azurite did not start:\n" + "".join(self.output))
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        return self

    def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.process = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def client(self) -> BlobServiceClient:
        return BlobServiceClient.from_connection_string(self.connection_string)

    def upload(self, container: str, name: str, data: bytes) -> str:
        """Store a block blob (creating its container); return its URL without a SAS."""
        with self.client() as client:
            container_client = client.get_container_client(container)
            if not container_client.exists():
                container_client.create_container()
            container_client.upload_blob(name, data, overwrite=True, max_concurrency=4)
        return f"{self.endpoint}/{container}/{name}"

    def append(self, container: str, name: str, data: bytes) -> None:
        """Store an append blob, a type Compute does not accept as a source."""
        with self.client() as client:
            blob = client.get_blob_client(container, name)
            blob.create_append_blob()
            blob.append_block(data)

    def delete(self, container: str, name: str) -> None:
        with self.client() as client:
            client.get_blob_client(container, name).delete_blob()

    def sas_url(self, container: str, name: str, *, hours: float = 24, read: bool = True) -> str:
        """The blob's URL with a service SAS, signed by ``azure-storage-blob``."""
        token = generate_blob_sas(
            ACCOUNT,
            container,
            name,
            account_key=KEY,
            permission=BlobSasPermissions(read=read, write=not read),
            expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=hours),
        )
        return f"{self.endpoint}/{container}/{name}?{token}"
