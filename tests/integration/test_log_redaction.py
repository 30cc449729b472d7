"""`dialer serve` never writes an agent's socket token to its log.

The token travels in the socket URL's query string (the contract), and
uvicorn logged each socket's path with it: '"WebSocket
/api/v1/agents/ID/ws?token=..." [accepted]', so whoever could read the log
could take over any agent's softphone. Run as a user runs it: the real
command in its own process, a real socket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

KEY = "log-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_served_log_names_the_socket_but_not_its_token(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "DIALER_API_KEY": KEY}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "dialer"), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
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
            time.sleep(0.05)
        headers = {"Authorization": f"Bearer {KEY}"}
        agent = httpx.post(
            f"{base}/api/v1/agents", json={"name": "ada", "campaign_ids": []}, headers=headers
        ).json()
        url = f"ws://127.0.0.1:{port}/api/v1/agents/{agent['id']}/ws?token={agent['token']}"
        with connect(url) as ws:
            assert '"state"' in str(ws.recv(timeout=5))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text(errors="replace")
    assert f"/api/v1/agents/{agent['id']}/ws" in text  # the socket is still logged
    assert agent["token"] not in text
    assert "token=[redacted]" in text
