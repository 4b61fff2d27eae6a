"""`agentdeck serve` and `agentdeck fake-upstream`."""

from __future__ import annotations

import gc
import signal
from pathlib import Path
from typing import Any

import typer

from agentdeck.cli.common import ConfigOption, configure_logging, console, settings_or_exit

GC_THRESHOLDS = (50_000, 20, 100)


def _run(app: Any, host: str, port: int, drain_s: float, log_level: str, access_log: bool) -> None:
    import uvicorn

    # uvicorn re-raises the signal that stopped it once it has drained; with the default
    # handler that kills the process (status -15). A drained SIGTERM is a clean exit: 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=drain_s,  # type: ignore[arg-type]  # float works
        server_header=False,
        date_header=False,
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(
    config: Path | None = ConfigOption,
    host: str | None = typer.Option(None, help="address to listen on (default 127.0.0.1)"),
    port: int | None = typer.Option(None, help="port to listen on (default 8080)"),
) -> None:
    """Run the agentdeck server."""
    server: dict[str, Any] = {}
    if host is not None:
        server["host"] = host
    if port is not None:
        server["port"] = port
    settings = settings_or_exit(config, **({"server": server} if server else {}))
    configure_logging(settings.log_level)
    from agentdeck.app import create_app
    from agentdeck.errors import AgentdeckError

    # Each request allocates a few hundred short-lived objects; at the default gen-0 threshold
    # (700) the collector ran every couple of requests and took ~20% of the server's CPU
    # under load (docs/decisions/0004-gc-threshold.md).
    gc.set_threshold(*GC_THRESHOLDS)

    try:
        app = create_app(settings)
    except AgentdeckError as exc:
        console.print(f"[red]cannot start:[/red] {exc.message}", highlight=False)
        raise typer.Exit(2) from exc
    _run(
        app,
        settings.server.host,
        settings.server.port,
        settings.server.drain_timeout_s,
        settings.log_level,
        settings.server.access_log,
    )


def fake_upstream(
    config: Path | None = ConfigOption,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(9090, help="port to listen on"),
) -> None:
    """Serve the fake models (`fake` and the config's `fake_models`) as an OpenAI-compatible API."""
    settings = settings_or_exit(config)
    configure_logging(settings.log_level)
    from agentdeck.gateway.fake_upstream import FakeUpstreamApp

    _run(FakeUpstreamApp(settings.fake_models), host, port, 1.0, "warning", False)
