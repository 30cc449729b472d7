"""The service as a user runs it, for tests that need a real process or port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

__all__ = ["free_port", "served"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(
    folder: Path,
    name: str,
    *,
    api_key: str,
    db_url: str | None = None,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A real `dialer serve` in its own process, its output in ``folder/name.log``;
    yields its base URL once it answers. Stopped with SIGTERM, as a supervisor
    does: it drains for DIALER_DRAIN_S (0 unless ``env`` says) first."""
    port = free_port()
    environ = {**os.environ, "DIALER_API_KEY": api_key, "DIALER_DRAIN_S": "0", **(env or {})}
    if db_url is not None:
        environ["DIALER_DATABASE_URL"] = db_url
    with (folder / f"{name}.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dialer"), "serve", "--port", str(port), *args],
            cwd=folder,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                log = (folder / f"{name}.log").read_text(errors="replace")
                raise AssertionError(f"dialer serve exited with {proc.returncode}:\n{log}")
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
