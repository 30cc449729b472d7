"""What `dialer serve` writes to its log: never an agent's socket token, no
traceback for a socket it refuses.

The token travels in the socket URL's query string (the contract), and
uvicorn logged each socket's path with it: '"WebSocket
/api/v1/agents/ID/ws?token=..." [accepted]', so whoever could read the log
could take over any agent's softphone. Run as a user runs it: the real
command in its own process, a real socket.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from live_server import served
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

KEY = "log-test-key"


def _socket_url(base: str, agent: dict[str, str]) -> str:
    return f"ws{base[4:]}/api/v1/agents/{agent['id']}/ws?token={agent['token']}"


def test_the_served_log_names_the_socket_but_not_its_token(tmp_path: Path) -> None:
    with served(tmp_path, "serve", api_key=KEY) as base:
        headers = {"Authorization": f"Bearer {KEY}"}
        agent = httpx.post(
            f"{base}/api/v1/agents", json={"name": "ada", "campaign_ids": []}, headers=headers
        ).json()
        with connect(_socket_url(base, agent)) as ws:
            assert '"state"' in str(ws.recv(timeout=5))
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert f"/api/v1/agents/{agent['id']}/ws" in text  # the socket is still logged
    assert agent["token"] not in text
    assert "token=[redacted]" in text


def test_a_socket_refused_for_another_process_logs_no_traceback(tmp_path: Path) -> None:
    """Found with two processes: each 4409 refusal logged 'Cannot call "send"
    once a close message has been sent' (the socket was closed twice)."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    with (
        served(tmp_path, "one", api_key=KEY, db_url=db_url) as one,
        served(tmp_path, "two", api_key=KEY, db_url=db_url) as two,
    ):
        headers = {"Authorization": f"Bearer {KEY}"}
        agent = httpx.post(
            f"{one}/api/v1/agents", json={"name": "cy", "campaign_ids": []}, headers=headers
        ).json()
        with connect(_socket_url(one, agent)) as held:
            held.recv(timeout=5)
            with (
                connect(_socket_url(two, agent)) as refused,
                pytest.raises(ConnectionClosed) as closed,
            ):
                refused.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
            time.sleep(0.3)  # the refusing side's handler runs to its end
    text = (tmp_path / "two.log").read_text(errors="replace")
    assert "Traceback" not in text, text
