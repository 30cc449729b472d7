"""The ``dialer`` command line: simulate, sweep (and serve, migrate: see api/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dialer.errors import DialerError, ScenarioError

if TYPE_CHECKING:
    from dialer.runtime.settings import Settings

__all__ = ["app"]

app = typer.Typer(
    name="dialer",
    help="An asynchronous predictive dialer: service, simulator and pacing tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_BAD_INPUT = 2
MODES = ("preview", "progressive", "power", "predictive", "adaptive")


def _err(message: str) -> None:
    # Escaped: messages quote the user's text ("[at_s, value]", a path, a
    # name), which rich would otherwise read as markup, drop, or choke on.
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )


def _writable(option: str, path: Path, *, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output path that cannot be written before any work is done."""
    problem = None
    if path.is_dir() or not path.name:
        problem = "is a directory"
    elif not path.parent.is_dir():
        problem = f"folder {path.parent} does not exist"
    elif suffixes and path.suffix.lower() not in suffixes:
        problem = f"must end in {' or '.join(suffixes)}"
    if problem is not None:
        _err(f"{option}: {path}: {problem}")
        raise typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path, **overrides: Any) -> Any:
    from simulator.scenario import load_scenario

    try:
        scenario = load_scenario(path)
        if any(v is not None for v in overrides.values()):
            scenario = scenario.with_overrides(**overrides)
    except ScenarioError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    return scenario


def _check_mode(mode: str | None) -> None:
    if mode is not None and mode not in MODES:
        _err(f"--mode: must be one of {', '.join(MODES)} (got {mode!r})")
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def simulate(
    scenario_file: Annotated[Path, typer.Argument(help="scenario TOML file")],
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    mode: Annotated[str | None, typer.Option(help="override the campaign mode")] = None,
    dial_ratio: Annotated[
        float | None, typer.Option("--dial-ratio", help="override the power-mode ratio")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="override the scenario's seed")] = None,
    trace: Annotated[
        Path | None,
        typer.Option(help="write every pacing decision (inputs, prediction) as JSON lines"),
    ] = None,
) -> None:
    """Run one whole shift of SCENARIO_FILE in virtual time and report."""
    from simulator.report import render_report
    from simulator.simulation import simulate as run_simulation
    from simulator.trace import TraceWriter

    _check_mode(mode)
    if dial_ratio is not None and dial_ratio <= 0:
        _err("--dial-ratio: must be positive")
        raise typer.Exit(EXIT_BAD_INPUT)
    scenario = _load(scenario_file, mode=mode, dial_ratio=dial_ratio, seed=seed)
    if dial_ratio is not None and scenario.campaign.mode != "power":
        # Only power mode reads a ratio: the run would have ignored it.
        _err(
            f"--dial-ratio: applies to power mode only (this run is "
            f"{scenario.campaign.mode}; add --mode power)"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if trace is not None:
        _writable("--trace", trace)
    writer = TraceWriter(trace) if trace is not None else None
    try:
        if json_out:
            report = run_simulation(scenario, decision_log=writer)
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
            return
        console = Console()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}% of the shift"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"simulating {scenario.name}", total=scenario.duration_s)
            report = run_simulation(
                scenario,
                decision_log=writer,
                progress=lambda t: progress.update(task, completed=t),
            )
        render_report(report, console)
    finally:
        if writer is not None:
            writer.close()


@app.command()
def sweep(
    scenario_file: Annotated[Path, typer.Argument(help="scenario TOML file")],
    ratios: Annotated[
        str, typer.Option(help="start:stop:step (stop included) or a comma list")
    ] = "1.0:4.0:0.25",
    seeds: Annotated[int, typer.Option(help="seeds per ratio (scenario seed, +1, ...)")] = 3,
    plot: Annotated[Path | None, typer.Option(help="write a PNG plot here")] = None,
    workers: Annotated[int | None, typer.Option(help="processes (default: all cores)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the table as JSON")] = False,
) -> None:
    """Power mode over a grid of dial ratios; names the hindsight-best fixed ratio."""
    from simulator.sweep import parse_ratios, plot_sweep
    from simulator.sweep import sweep as run_sweep

    try:
        grid = parse_ratios(ratios)
    except ValueError as exc:
        _err(f"--ratios: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if plot is not None:
        _writable("--plot", plot, suffixes=(".png",))
    if seeds < 1:
        _err("--seeds: must be at least 1")
        raise typer.Exit(EXIT_BAD_INPUT)
    if workers is not None and workers < 1:
        _err("--workers: must be at least 1 (omit it for all cores)")
        raise typer.Exit(EXIT_BAD_INPUT)
    scenario = _load(scenario_file)
    seed_list = [scenario.seed + i for i in range(seeds)]
    console = Console(stderr=json_out)
    with Progress(
        TextColumn("[bold]sweeping {task.fields[name]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("sweep", total=len(grid) * len(seed_list), name=scenario.name)
        result = run_sweep(
            scenario, grid, seed_list, workers=workers, on_done=lambda: progress.advance(task)
        )
    best = result.best
    if json_out:
        out = {
            "scenario": result.scenario,
            "cap": result.cap,
            "seeds": seed_list,
            "occupancy_limit": result.occupancy_limit,
            "best_ratio": best.ratio if best else None,
            "points": [
                {
                    "ratio": p.ratio,
                    "occupancy": p.occupancy,
                    "abandon_rate_mean": p.abandon_mean,
                    "abandon_rate_max": p.abandon_max,
                    "connects_per_agent_hour": p.connects_per_agent_hour,
                    "mean_agent_wait_s": p.mean_agent_wait_s,
                    "within_cap": p.within_cap(result.cap),
                }
                for p in result.points
            ],
        }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        table = Table(title=f"{escape(result.scenario)}: power mode, seeds {seed_list}")
        for col in (
            "ratio",
            "occupancy",
            "abandon mean",
            "abandon max",
            "connects/agent h",
            "agent wait s",
        ):
            table.add_column(col, justify="right")
        for p in result.points:
            ok = p.within_cap(result.cap)
            style = "bold green" if best is p else ("" if ok else "dim red")
            table.add_row(
                f"{p.ratio:g}",
                f"{p.occupancy:.1%}",
                f"{p.abandon_mean:.2%}",
                f"{p.abandon_max:.2%}",
                f"{p.connects_per_agent_hour:.1f}",
                f"{p.mean_agent_wait_s:.1f}",
                style=style,
            )
        console.print(table)
        if best is None:
            console.print(f"No ratio kept abandonment under {result.cap:.0%} on every seed.")
        else:
            console.print(
                f"Hindsight-best fixed ratio: [bold]{best.ratio:g}[/] "
                f"(occupancy {best.occupancy:.1%}, abandonment max {best.abandon_max:.2%} "
                f"<= cap {result.cap:.0%} on all {len(seed_list)} seeds; "
                f"occupancy limit {result.occupancy_limit:.1%})"
            )
    if plot is not None:
        plot_sweep(result, plot)
        if not json_out:
            console.print(f"plot written to {escape(str(plot))}")


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except DialerError as exc:
        _err(str(exc))
        raise SystemExit(EXIT_BAD_INPUT) from None


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="DIALER_DATABASE_URL",
        help="SQLAlchemy URL; default: an SQLite file under ./var",
    ),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    database_url: DatabaseUrl = None,
    telephony: Annotated[str, typer.Option(help="telephony adapter")] = "simulated",
    scenario: Annotated[
        Path | None,
        typer.Option(help="simulated telephony: callee behaviour from this scenario file"),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="also create a demo campaign, leads and simulated agents")
    ] = False,
    time_scale: Annotated[
        float, typer.Option(help="simulated telephony: multiply every delay by this")
    ] = 1.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP/WebSocket service (SQLite and simulated telephony by default)."""
    import uvicorn

    from api.app import create_app
    from api.server import DrainingServer
    from dialer.runtime.service import DialerService

    if telephony != "simulated":
        _err(f"--telephony: unknown adapter {telephony!r} (available: simulated)")
        raise typer.Exit(EXIT_BAD_INPUT)
    if scenario is not None:
        _load(scenario)  # refuse a bad file before anything starts
    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "telephony": telephony,
        "scenario": scenario,
        "demo": demo,
        "time_scale": time_scale,
    }
    if database_url:
        overrides["database_url"] = database_url
    settings = _settings(**overrides)
    service = DialerService(settings)
    config = uvicorn.Config(
        create_app(settings, service=service), host=host, port=port, log_level=log_level
    )
    DrainingServer(config, service).run()


def _settings(**overrides: Any) -> Settings:
    """The service's settings, or exit 2 naming each bad one and its variable."""
    from pydantic import ValidationError

    from api.schemas.base import error_text
    from dialer.runtime.settings import Settings as Loaded

    try:
        return Loaded(**overrides)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            message = error_text(error)
            _err(f"setting {name} (DIALER_{name.upper()} or its option): {message}")
        raise typer.Exit(EXIT_BAD_INPUT) from None


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema to the latest version."""
    from sqlalchemy.exc import SQLAlchemyError

    from dialer.storage.migrate import upgrade

    settings = _settings(database_url=database_url) if database_url else _settings()
    try:
        upgrade(settings.database_url)
    except DialerError as exc:
        _err(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (SQLAlchemyError, OSError) as exc:
        _err(f"--database-url: cannot migrate {settings.database_url}: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    Console().print(f"database at {escape(settings.database_url)} is up to date")
