"""Load from wrk on the load core: one run, its exact percentiles, and which core was busy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from procs import HarnessError, busy_percent, cpu_times, process_cpu_s

LUA_SCRIPT = Path(__file__).resolve().parent / "chat.lua"
_MARKER = "BENCH_JSON "


@dataclass
class WrkResult:
    """One wrk run, reduced to what the report needs."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    requests: int
    errors: int
    status_errors: int
    cpu_busy: dict[str, float]
    # CPU time the server spent per request: unlike req/s, hardly moved by other tenants
    # taking turns on the server's core.
    server_cpu_us_per_req: float | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return asdict(self)


def check_wrk() -> str:
    """Path of wrk, or a HarnessError saying how to get it."""
    path = shutil.which("wrk")
    if path is None:
        raise HarnessError("wrk is not installed: apt-get install -y wrk (or run `make bench`)")
    return path


def run_wrk(
    port: int,
    model: str,
    connections: int,
    threads: int,
    duration_s: int,
    core: int,
    server_pid: int | None = None,
    key: str | None = None,
    script: Path = LUA_SCRIPT,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    """Run wrk pinned to `core` against 127.0.0.1:port; `server_pid`'s CPU time is sampled.
    A `key` is sent as a bearer token (through the environment, not the command line);
    `script` (with `script_args` after the model) is the Lua load, `chat.lua` by default."""
    argv = [
        "taskset",
        "-c",
        str(core),
        check_wrk(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        model,
        *script_args,
    ]
    env = {**os.environ, "BENCH_API_KEY": key or ""}
    before = cpu_times()
    server_before = process_cpu_s(server_pid) if server_pid else 0.0
    try:
        done = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=duration_s + 60, env=env
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"wrk did not finish within {duration_s + 60}s") from exc
    busy = busy_percent(before, cpu_times())
    server_cpu = process_cpu_s(server_pid) - server_before if server_pid else None
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARKER)), None)
    if done.returncode != 0 or line is None:
        raise HarnessError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
    data = json.loads(line.removeprefix(_MARKER))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    seconds = data["duration_us"] / 1e6
    return WrkResult(
        rps=round(data["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=round(data["mean_us"] / 1000, 3),
        max_ms=data["max_us"] / 1000,
        requests=data["requests"],
        errors=errors + data["status_errors"],
        status_errors=data["status_errors"],
        cpu_busy=busy,
        server_cpu_us_per_req=(
            round(server_cpu * 1e6 / data["requests"], 1)
            if server_cpu is not None and data["requests"]
            else None
        ),
    )
