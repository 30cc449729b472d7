"""Do-not-call scrub: 1,000,000 leads against a 50,000,000-number national registry.

    .venv/bin/python benchmarks/dnc_scrub.py [--registry N] [--leads M] [--repeat R]
        [--sorted-file] [--store] [--postgres URL] [--data DIR]

Generates, seeded and reproducibly, a registry file of 10-digit US numbers
(one a line, in random order, as a worst case: the registries publish theirs
sorted, which ``--sorted-file`` measures) and a file of E.164 leads, a share
of which are on the registry. Both are cached in ``--data`` (default: the
system temp folder) and never belong in git.

Each measurement runs in a fresh process, so its peak memory (ru_maxrss) is
its own:

- scrub: read the registry file from disk in 8 MB blocks and parse it
  (dialer.compliance.registry.RegistryParser), sort and de-duplicate it
  (``finish``), then scrub the leads: E.164 strings to int64 and one
  vectorised search. Reading the leads file into a list of strings is timed
  apart: the service gets them parsed already. Then, in the same process,
  other ways to scrub (searchsorted with sorted keys, np.isin) and the cost
  of one lookup (``phone in registry``, what the gate pays before each dial).
- store (``--store``): write the parsed copy through the storage repository
  (dialer.storage.dnc_registry) to a fresh SQLite file, and with
  ``--postgres URL`` to a fresh database on that server (dropped after),
  then read it back as a restarting service does; then, through a whole
  DialerService on SQLite, load the file as an upload would arrive (64 KB
  pieces) while watching its event loop's lag, and restart it.

Figures go to stdout as JSON lines and a summary; benchmarks/RESULTS.md
records a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

# benchmarks/ holds pacing.py and simulator.py, named like the packages the
# service imports: keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from dialer.compliance.registry import RegistryNumbers, phones_to_ints  # noqa: E402
from dialer.compliance.registry_file import RegistryParser  # noqa: E402

READ_BYTES = 8 << 20
GEN_BLOCK = 5_000_000


# ------------------------------------------------------------------ data
def _nanp(rng: np.random.Generator, count: int) -> np.ndarray:
    """Valid 10-digit NANP numbers: area and exchange codes from 200 to 999."""
    area = rng.integers(200, 1000, count, dtype=np.int64)
    exchange = rng.integers(200, 1000, count, dtype=np.int64)
    line = rng.integers(0, 10_000, count, dtype=np.int64)
    return area * 10_000_000 + exchange * 10_000 + line


def _ten_digit_lines(values: np.ndarray) -> bytes:
    rows = np.empty((values.size, 11), dtype=np.uint8)
    rest = values.copy()
    for col in range(9, -1, -1):
        rows[:, col] = rest % 10 + 48
        rest //= 10
    rows[:, 10] = 10
    return rows.tobytes()


def registry_path(data: Path, count: int, seed: int, sorted_file: bool) -> Path:
    return data / f"registry-{count}-{seed}{'-sorted' if sorted_file else ''}.txt"


def leads_path(data: Path, count: int, registry: int, seed: int, shared: float) -> Path:
    return data / f"leads-{count}-of-{registry}-{seed}-{shared:g}.txt"


def generate(args: argparse.Namespace) -> tuple[Path, Path]:
    """The registry and leads files, made once per parameters and then reused."""
    args.data.mkdir(parents=True, exist_ok=True)
    reg = registry_path(args.data, args.registry, args.seed, args.sorted_file)
    leads = leads_path(args.data, args.leads, args.registry, args.seed, args.shared)
    rng = np.random.default_rng(args.seed)
    # The registry's numbers are drawn in blocks; the leads' shared part is
    # sampled from those blocks as they go by, so nothing holds 50M at once
    # unless the file is to be sorted.
    shared_count = int(args.leads * args.shared)
    per_block = max(1, -(-shared_count // max(1, -(-args.registry // GEN_BLOCK))))
    shared: list[np.ndarray] = []
    if not reg.exists() or not leads.exists():
        started = time.perf_counter()
        tmp = reg.with_suffix(".tmp")
        blocks: list[np.ndarray] = []
        with tmp.open("wb") as out:
            for start in range(0, args.registry, GEN_BLOCK):
                values = _nanp(rng, min(GEN_BLOCK, args.registry - start))
                shared.append(rng.choice(values, min(per_block, values.size), replace=False))
                if args.sorted_file:
                    blocks.append(values)
                else:
                    out.write(_ten_digit_lines(values))
            if args.sorted_file:
                everything = np.sort(np.concatenate(blocks))
                blocks.clear()
                for start in range(0, everything.size, GEN_BLOCK):
                    out.write(_ten_digit_lines(everything[start : start + GEN_BLOCK]))
        tmp.replace(reg)
        own = np.concatenate(shared)[:shared_count] + 10**10
        fresh = _nanp(rng, args.leads - own.size) + 10**10
        mixed = np.concatenate([own, fresh])
        rng.shuffle(mixed)
        leads.write_text("".join(f"+{v}\n" for v in mixed.tolist()))
        took = time.perf_counter() - started
        print(f"# generated {reg.name} and {leads.name} in {took:.1f} s", file=sys.stderr)
    return reg, leads


# ------------------------------------------------------------ measurements
def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_s() -> float:
    """This process's CPU time, every thread: what the wall time would be, alone on a core."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Stopwatch:
    """Wall and CPU seconds of consecutive phases."""

    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures
        self.wall, self.cpu = time.perf_counter(), _cpu_s()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), _cpu_s()
        self.figures[f"{name}_s"] = wall - self.wall
        self.figures[f"{name}_cpu_s"] = cpu - self.cpu
        self.wall, self.cpu = wall, cpu


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def child_scrub(registry_file: Path, leads_file: Path, with_isin: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "phase": "scrub",
        "registry_file_mb": registry_file.stat().st_size / 1e6,
    }
    watch = _Stopwatch(figures)
    parser = RegistryParser()
    with registry_file.open("rb") as f:
        while block := f.read(READ_BYTES):
            parser.feed(block)
    watch.lap("read_parse")
    parsed = parser.finish()
    registry = RegistryNumbers(parsed.numbers)
    watch.lap("sort_dedupe")
    figures["numbers"] = len(registry)
    figures["duplicates"] = parsed.duplicates
    figures["bad_lines"] = parsed.bad_count
    figures["peak_mb_after_build"] = _peak_mb()

    phones = leads_file.read_text().split()
    figures["leads"] = len(phones)
    watch.lap("leads_read")  # not part of the scrub: the service has them parsed
    values = phones_to_ints(phones)
    watch.lap("leads_to_int64")
    listed = registry.contains_ints(values)
    watch.lap("search")
    figures["hits"] = int(listed.sum())
    for suffix in ("_s", "_cpu_s"):
        scrub = figures[f"leads_to_int64{suffix}"] + figures[f"search{suffix}"]
        figures[f"scrub{suffix}"] = scrub
        figures[f"total{suffix}"] = (
            figures[f"read_parse{suffix}"] + figures[f"sort_dedupe{suffix}"] + scrub
        )
    figures["peak_mb"] = _peak_mb()

    # Other ways to search, in this same process, on the same int64 leads:
    # probing in the leads' own order, and numpy's set membership.
    numbers = registry.array

    def lead_order() -> np.ndarray:
        at = np.minimum(np.searchsorted(numbers, values), numbers.size - 1)
        found: np.ndarray = numbers[at] == values
        return found

    figures["search_again_s"], again = _best(lambda: registry.contains_ints(values), 3)
    figures["search_lead_order_s"], by_order = _best(lead_order, 3)
    others = [again, by_order]
    if with_isin:
        figures["isin_s"], by_isin = _best(lambda: np.isin(values, numbers), 1)
        others.append(by_isin)
    for other in others:
        assert np.array_equal(other, listed), "the approaches disagree"

    # One number at a time, as the gate asks just before each dial.
    sample = phones[:100_000]
    started = time.perf_counter()
    hits = sum(1 for p in sample if p in registry)
    figures["one_lookup_us"] = (time.perf_counter() - started) / len(sample) * 1e6
    assert hits == int(listed[: len(sample)].sum())
    figures["peak_mb_end"] = _peak_mb()
    return figures


async def _store_and_read(url: str, numbers: np.ndarray) -> dict[str, float]:
    from sqlalchemy import text

    from dialer.compliance.registry import Registry
    from dialer.storage import Database, dnc_registry, upgrade_async

    await upgrade_async(url)
    db = Database(url)
    figures: dict[str, float] = {}
    try:
        started = time.perf_counter()
        async with db.transaction() as s:
            await dnc_registry.replace_registry(
                s,
                registry=Registry.US,
                numbers=numbers,
                name="benchmark",
                published_on=date.today(),
            )
        figures["store_s"] = time.perf_counter() - started
        if db.dialect == "postgresql":
            async with db.transaction() as s:
                size = await s.scalar(text("SELECT pg_total_relation_size('dnc_registry_chunks')"))
            figures["db_mb"] = float(size or 0) / 1e6
    finally:
        await db.dispose()
    db = Database(url)  # a restarting process: new connections, nothing cached
    try:
        started = time.perf_counter()
        async with db.transaction() as s:
            [load] = await dnc_registry.current_loads(s)
            read = await dnc_registry.read_numbers(s, load=load)
        figures["read_back_s"] = time.perf_counter() - started
    finally:
        await db.dispose()
    assert read.numbers is not None and np.array_equal(read.numbers, numbers)
    return figures


async def _postgres_database(url: str, name: str, *, create: bool) -> str:
    """A database ``name`` next to ``url``'s (created, or dropped), so the benchmark leaves none."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def child_store(registry_file: Path, url: str) -> dict[str, Any]:
    parser = RegistryParser()
    with registry_file.open("rb") as f:
        while block := f.read(READ_BYTES):
            parser.feed(block)
    numbers = parser.finish().numbers
    backend = url.split(":", 1)[0]
    figures: dict[str, Any] = {"phase": f"store-{backend}", "numbers": int(numbers.size)}
    if backend.startswith("postgresql"):
        name = f"dialer_dnc_bench_{os.getpid()}"
        own = asyncio.run(_postgres_database(url, name, create=True))
        try:
            figures.update(asyncio.run(_store_and_read(own, numbers)))
        finally:
            asyncio.run(_postgres_database(url, name, create=False))
    else:
        figures.update(asyncio.run(_store_and_read(url, numbers)))
        path = Path(url.split("///", 1)[1])
        figures["db_mb"] = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    figures["peak_mb"] = _peak_mb()
    return figures


async def _upload_and_restart(registry_file: Path, url: str) -> dict[str, Any]:
    from dialer.runtime.service import DialerService
    from dialer.runtime.settings import Settings

    settings = Settings(database_url=url, api_key="bench")
    figures: dict[str, Any] = {}
    lag = {"max": 0.0}

    async def watch_loop() -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.01)
            lag["max"] = max(lag["max"], loop.time() - started - 0.01)

    async def body() -> Any:
        # As an HTTP server hands a request body over: 64 KB at a time.
        with registry_file.open("rb") as f:
            while piece := f.read(64 << 10):
                yield piece

    service = DialerService(settings)
    await service.start()
    watcher = asyncio.create_task(watch_loop())
    try:
        started = time.perf_counter()
        result = await service.load_registry("us", body())
        figures["upload_s"] = time.perf_counter() - started
        figures["numbers"] = result.load.count
        figures["loop_lag_max_ms"] = lag["max"] * 1000
    finally:
        watcher.cancel()
        await service.stop()
    figures["peak_mb_after_upload"] = _peak_mb()
    del service  # its copy would count twice in the restart's peak
    again = DialerService(settings)
    started = time.perf_counter()
    await again.start()
    try:
        figures["restart_s"] = time.perf_counter() - started
        figures["restart_blocks"] = (await again.lookup_dnc(_any_listed(registry_file))).listed
    finally:
        await again.stop()
    return figures


def _any_listed(registry_file: Path) -> str:
    with registry_file.open("rb") as f:
        return "+1" + f.readline().decode().strip()


def child_upload(registry_file: Path, url: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"phase": "service-upload"}
    figures.update(asyncio.run(_upload_and_restart(registry_file, url)))
    figures["peak_mb"] = _peak_mb()
    return figures


def _in_child(*argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *argv], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child {argv[0]} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
        f"{np.__version__}, {datetime.now(UTC):%Y-%m-%d}, load average {load[0]:.2f} at start"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", type=int, default=50_000_000)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--shared", type=float, default=0.1, help="share of leads on the registry")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes; best time kept")
    ap.add_argument("--sorted-file", action="store_true", help="the registry file in order")
    ap.add_argument("--no-isin", action="store_true", help="skip np.isin (minutes at 50M)")
    ap.add_argument("--store", action="store_true", help="also time storing and reading back")
    ap.add_argument("--postgres", default=None, help="postgresql+asyncpg:// URL for --store")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "dialer-dnc-bench")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "scrub":
            figures = child_scrub(Path(rest[0]), Path(rest[1]), rest[2] == "isin")
        elif kind == "upload":
            figures = child_upload(Path(rest[0]), rest[1])
        else:
            figures = child_store(Path(rest[0]), rest[1])
        print(json.dumps(figures))
        return

    print(f"# {_machine()}")
    reg, leads = generate(args)
    # np.isin takes minutes at this size: once is enough for its ratio.
    isin = ["no-isin" if args.no_isin or i else "isin" for i in range(args.repeat)]
    runs = [_in_child("scrub", str(reg), str(leads), flag) for flag in isin]
    for run in runs:
        print(json.dumps(run))
    best = min(runs, key=lambda r: r["total_s"])
    compared = next((r for r in runs if "isin_s" in r), best)
    order = ", sorted" if args.sorted_file else ", random order"
    totals = ", ".join(f"{r['total_s']:.2f}" for r in runs)
    print(f"# total wall s of each run: {totals}")
    print(
        f"# {best['leads']:,} leads against {best['numbers']:,} numbers"
        f" ({best['registry_file_mb']:.0f} MB file{order}),"
        f" wall s (CPU s): read+parse {best['read_parse_s']:.2f} ({best['read_parse_cpu_s']:.2f}),"
        f" sort+dedupe {best['sort_dedupe_s']:.2f} ({best['sort_dedupe_cpu_s']:.2f}),"
        f" scrub {best['scrub_s']:.3f} ({best['scrub_cpu_s']:.3f}) [to int64"
        f" {best['leads_to_int64_s']:.3f}, search {best['search_s']:.3f}];"
        f" total {best['total_s']:.2f} ({best['total_cpu_s']:.2f});"
        f" peak {max(r['peak_mb'] for r in runs):,.0f} MB; {best['hits']:,} hits"
    )
    print(
        f"# search alone: sorted keys (contains_ints) {best['search_again_s']:.3f} s,"
        f" keys in lead order {best['search_lead_order_s']:.3f} s"
        f" ({best['search_lead_order_s'] / best['search_again_s']:.1f}x),"
        + (
            f" np.isin {compared['isin_s']:.3f} s"
            f" ({compared['isin_s'] / compared['search_again_s']:.1f}x in its run);"
            if "isin_s" in compared
            else ""
        )
        + f" one lookup {best['one_lookup_us']:.2f} us"
    )
    if args.store:
        with tempfile.TemporaryDirectory() as tmp:
            urls = [f"sqlite+aiosqlite:///{tmp}/bench.db"]
            if args.postgres:
                urls.append(args.postgres)
            for url in urls:
                stored = _in_child("store", str(reg), url)
                print(json.dumps(stored))
                print(
                    f"# {stored['phase']}: store {stored['store_s']:.2f} s, read back"
                    f" {stored['read_back_s']:.2f} s, peak {stored['peak_mb']:,.0f} MB"
                    + (f", file {stored['db_mb']:,.0f} MB" if "db_mb" in stored else "")
                )
            up = _in_child("upload", str(reg), f"sqlite+aiosqlite:///{tmp}/service.db")
            print(json.dumps(up))
            print(
                f"# service on SQLite: load_registry of the file in 64 KB pieces"
                f" {up['upload_s']:.2f} s, event loop lag at most {up['loop_lag_max_ms']:.0f} ms;"
                f" restart with the copy in force {up['restart_s']:.2f} s"
                f" (blocks: {up['restart_blocks']}); peak {up['peak_mb_after_upload']:,.0f} MB"
                f" loading, {up['peak_mb']:,.0f} MB after the restart"
            )


if __name__ == "__main__":
    main()
