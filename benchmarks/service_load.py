"""Service load: N agent bots over real WebSockets against `dialer serve` on PostgreSQL.

    .venv/bin/python benchmarks/service_load.py --agents 100 300 1000 [--seconds 60]
        [--database-url postgresql+asyncpg://...]   # default: a throwaway cluster

The service runs in its own process (as in production) with fast simulated
callees; this process plays the agents. For each floor size it reports:

- answer-to-bridge latency p50/p99, from the call records (bridged_at - answered_at);
- event-loop lag p50/p99 of the service (its 50 ms sleeper's lateness, from /metrics);
- calls per second ended, and the service process's CPU (% of one core).

The targets (issue 4): at 1,000 agents on 2 cores, answer-to-bridge p99 under
100 ms and loop lag p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "load-test-key"

FAST_CALLEES = """
name = "load"
seed = 1
duration_s = 3600
[agents]
count = 1
talk_s = { dist = "uniform", low = TALK_LOW, high = TALK_HIGH }
wrap_s = { dist = "fixed", value = 1.0 }
[callees]
human = 0.45
machine = 0.10
busy = 0.25
invalid = 0.20
answer_delay_s = { dist = "uniform", low = 0.5, high = 3.0 }
fail_delay_s = { dist = "uniform", low = 0.2, high = 1.0 }
machine_talk_s = { dist = "fixed", value = 1.0 }
[campaign]
mode = "predictive"
leads = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def _buckets(text: str, name: str) -> dict[float, float]:
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_quantile(after: str, before: str, name: str, q: float) -> float:
    """q-quantile of a Prometheus histogram over the run (after - before, all labels)."""
    start = _buckets(before, name)
    buckets = {b: c - start.get(b, 0.0) for b, c in _buckets(after, name).items()}
    if not buckets:
        return float("nan")
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return float("nan")
    target = q * total
    prev_bound, prev_count = 0.0, 0.0
    for b in bounds:
        c = buckets[b]
        if c >= target:
            if b == float("inf"):
                return prev_bound
            frac = (target - prev_count) / max(c - prev_count, 1e-9)
            return prev_bound + (b - prev_bound) * frac
        prev_bound, prev_count = b, c
    return bounds[-1]


class Bot:
    def __init__(self, url: str, rng: random.Random) -> None:
        self.url = url
        self.rng = rng
        self.calls = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(self.url, max_queue=None) as ws:
            await ws.send('{"type": "ready"}')
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                msg = json.loads(raw)
                if msg["type"] == "call":
                    self.calls += 1
                elif msg["type"] == "call_ended":
                    await asyncio.sleep(self.rng.uniform(0.2, 1.0))  # after-call work
                    await ws.send(
                        json.dumps({"type": "disposition", "call_id": msg["call_id"], "code": "ok"})
                    )


async def run_floor(
    base: str, ws_base: str, agents: int, seconds: float, numbers: list[str], server_pid: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
        r = await http.post(
            "/api/v1/campaigns",
            json={
                "name": f"load-{agents}-{uuid.uuid4().hex[:6]}",
                "mode": "predictive",
                "ring_timeout_s": 15,
                "safe_harbor_message": "This was the load test; call us back on 555-0100.",
                # Made-up numbers, no national registry copy: a latency benchmark.
                "scrub_national_registry": False,
            },
        )
        r.raise_for_status()
        cid = r.json()["id"]
        for i in range(0, len(numbers), 20_000):
            chunk = numbers[i : i + 20_000]
            r = await http.post(
                f"/api/v1/campaigns/{cid}/leads", json={"leads": [{"phone": n} for n in chunk]}
            )
            r.raise_for_status()
        bots = []
        for i in range(agents):
            r = await http.post("/api/v1/agents", json={"name": f"bot{i}", "campaign_ids": [cid]})
            r.raise_for_status()
            a = r.json()
            bots.append(
                Bot(f"{ws_base}/api/v1/agents/{a['id']}/ws?token={a['token']}", random.Random(i))
            )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(b.run(stop)) for b in bots]
        await asyncio.sleep(2.0)
        before = (await http.get("/metrics")).text
        proc = psutil.Process(server_pid)
        proc.cpu_percent(None)
        started = datetime.now().astimezone()
        t0 = time.monotonic()
        (await http.post(f"/api/v1/campaigns/{cid}/start")).raise_for_status()
        await asyncio.sleep(seconds)
        cpu = proc.cpu_percent(None)
        elapsed = time.monotonic() - t0
        after = (await http.get("/metrics")).text
        (await http.post(f"/api/v1/campaigns/{cid}/stop")).raise_for_status()
        stats = (await http.get(f"/api/v1/campaigns/{cid}/stats")).json()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        delays: list[float] = []
        ended = 0
        cursor = None
        while True:
            params: dict[str, Any] = {
                "campaign_id": cid,
                "limit": 1000,
                "since": started.isoformat(),
            }
            if cursor:
                params["cursor"] = cursor
            page = (await http.get("/api/v1/calls", params=params)).json()
            for rec in page["items"]:
                if rec["ended_at"]:
                    ended += 1
                if rec["answered_at"] and rec["bridged_at"]:
                    a = datetime.fromisoformat(rec["answered_at"])
                    b = datetime.fromisoformat(rec["bridged_at"])
                    delays.append((b - a).total_seconds())
            cursor = page.get("next_cursor")
            if not cursor:
                break

    def lag_count(text: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("dialer_event_loop_lag_seconds_count")
        )

    return {
        "agents": agents,
        "seconds": round(elapsed, 1),
        "calls_ended": ended,
        "calls_per_s": round(ended / elapsed, 1),
        "bridged": len(delays),
        "bridge_p50_ms": round(percentile(delays, 50) * 1000, 1),
        "bridge_p99_ms": round(percentile(delays, 99) * 1000, 1),
        "event_to_bridge_p50_ms": round(
            histogram_quantile(after, before, "dialer_bridge_latency_seconds", 0.5) * 1000, 2
        ),
        "event_to_bridge_p99_ms": round(
            histogram_quantile(after, before, "dialer_bridge_latency_seconds", 0.99) * 1000, 2
        ),
        "loop_lag_p50_ms": round(
            histogram_quantile(after, before, "dialer_event_loop_lag_seconds", 0.5) * 1000, 2
        ),
        "loop_lag_p99_ms": round(
            histogram_quantile(after, before, "dialer_event_loop_lag_seconds", 0.99) * 1000, 2
        ),
        "lag_samples": int(lag_count(after) - lag_count(before)),
        "server_cpu_pct": round(cpu, 1),
        "abandon_rate": stats.get("abandon_rate_24h"),
    }


def start_postgres() -> str:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/start-postgres.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--talk-mean",
        type=float,
        default=30.0,
        help="mean talk seconds of the simulated people (uniform over +-50%%); real floors"
        " talk about 180 s, so 30 s is six times a real floor's call rate",
    )
    args = parser.parse_args()

    from dialer.runtime.demo import demo_numbers

    own_pg = args.database_url is None
    url = start_postgres() if own_pg else args.database_url
    workdir = Path(tempfile.mkdtemp(prefix="dialer-load-"))
    scenario = workdir / "fast.toml"
    scenario.write_text(
        FAST_CALLEES.replace("TALK_LOW", str(args.talk_mean * 0.5)).replace(
            "TALK_HIGH", str(args.talk_mean * 1.5)
        )
    )
    results = []
    try:
        for agents in args.agents:
            port = free_port()
            # No drain at the end: the bots are gone by then, nothing to wait for.
            env = {**os.environ, "DIALER_API_KEY": KEY, "DIALER_DRAIN_S": "0"}
            server = subprocess.Popen(
                [
                    str(BIN / "dialer"),
                    "serve",
                    "--port",
                    str(port),
                    "--database-url",
                    url,
                    "--scenario",
                    str(scenario),
                    "--log-level",
                    "warning",
                ],
                cwd=workdir,
                env=env,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{base}/healthz").status_code == 200:
                            break
                    time.sleep(0.1)
                numbers = demo_numbers(max(20_000, agents * 60), time.time(), seed=agents)
                res = asyncio.run(
                    run_floor(
                        base, f"ws://127.0.0.1:{port}", agents, args.seconds, numbers, server.pid
                    )
                )
                results.append(res)
                print(json.dumps(res) if args.json else res, flush=True)
            finally:
                server.terminate()
                server.wait(30)
    finally:
        if own_pg:
            subprocess.run(
                ["bash", str(ROOT / "scripts/stop-postgres.sh")], check=False, capture_output=True
            )
    print(
        f"\n# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()},"
        f" talk mean {args.talk_mean:g} s, {args.seconds:g} s per floor"
    )
    cols = [
        "agents",
        "calls_per_s",
        "event_to_bridge_p50_ms",
        "event_to_bridge_p99_ms",
        "bridge_p50_ms",
        "bridge_p99_ms",
        "loop_lag_p50_ms",
        "loop_lag_p99_ms",
        "server_cpu_pct",
        "calls_ended",
        "abandon_rate",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
