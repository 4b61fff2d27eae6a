"""Gateway benchmark: agentdeck against a bare Python pass-through (and LiteLLM if installable).

The server under test runs alone on core 0; wrk and the fake upstream share core 1. The rows
are measured in alternating rounds in one run, because the machine is shared and noisy, and
the medians are reported. Two more agentdeck servers require a key and apply a rate limit and
a budget on every request, one with the in-process kv and one with Redis. See
docs/performance.md.

    .venv/bin/python bench/run.py                 # full run (about 6 minutes)
    .venv/bin/python bench/run.py --quick         # smoke run (about 1 minute)
    BENCH_DURATION=5 BENCH_ROUNDS=1 .venv/bin/python bench/run.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import limits_row
import litellm_row
from loadgen import check_wrk, run_wrk
from procs import HarnessError, ProcessSet, Server, free_port, rss_mib, wait_idle, wait_ready
from report import CONCURRENCIES, RowResult, code_version, print_report, targets, write_json

BENCH_DIR = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SERVER_CORE, LOAD_CORE = 0, 1
LIMITS_ROWS = ("agentdeck-limits", "agentdeck-limits-redis")


class Load(NamedTuple):
    """What one row puts load on: the server (None: the upstream itself), its port, the model,
    the key to send, and the concurrencies it is measured at."""

    server: Server | None
    port: int
    model: str
    key: str | None = None
    concurrencies: tuple[int, ...] = CONCURRENCIES


class LimitsServer(NamedTuple):
    """A started server with identity on, and what its checks need."""

    server: Server
    key: str
    tenant_id: str
    cost_micros: int


def parse_args() -> argparse.Namespace:
    """Command line, with BENCH_* environment variables as defaults."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=int,
        default=int(env("BENCH_DURATION", "10")),
        help="seconds per measured wrk run (BENCH_DURATION, default 10)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=int(env("BENCH_WARMUP", "2")),
        help="seconds of unmeasured load before each run (BENCH_WARMUP)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(env("BENCH_ROUNDS", "3")),
        help="alternating rounds; medians are reported (BENCH_ROUNDS)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(env("BENCH_WRK_THREADS", "1")),
        help="wrk threads at c=64 (BENCH_WRK_THREADS, default 1)",
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=int(env("BENCH_RESTARTS", "3")),
        help="extra starts to time readiness with an existing database",
    )
    parser.add_argument(
        "--no-litellm",
        action="store_true",
        default=env("BENCH_LITELLM", "1") == "0",
        help="skip the LiteLLM row",
    )
    parser.add_argument(
        "--litellm-install-timeout",
        type=float,
        default=float(env("BENCH_LITELLM_INSTALL_TIMEOUT", "600")),
    )
    parser.add_argument(
        "--redis-url",
        default=env("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
        help="Redis database for the agentdeck-limits-redis row, flushed first; empty: skip "
        "the row (BENCH_REDIS_URL, default redis://127.0.0.1:6379/7)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 s runs, 1 s warm-up, one round, one restart"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.rounds, args.restarts = 3, 1, 1, 1
    if args.duration < 1 or args.warmup < 0 or args.rounds < 1 or args.restarts < 0:
        parser.error("duration >= 1, warmup >= 0, rounds >= 1, restarts >= 0")
    return args


def check_machine() -> None:
    """Two cores and taskset are needed to keep load and server apart."""
    check_wrk()
    if shutil.which("taskset") is None:
        raise HarnessError("taskset is missing (util-linux)")
    cores = os.sched_getaffinity(0)
    if not {SERVER_CORE, LOAD_CORE} <= cores:
        raise HarnessError(f"needs cores {SERVER_CORE} and {LOAD_CORE}; allowed: {sorted(cores)}")


def agentdeck_config(directory: Path, upstream_port: int, port: int, extra: str = "") -> Path:
    """A config with two aliases routed through the openai provider to the upstream: `bench`
    (one deployment) and `bench4` (four deployments, weighted 1:1:1:7). Retries, breakers and
    routing stay at their defaults, i.e. on. `extra` is more top-level YAML (identity, kv)."""

    def deployment(name: str, weight: int) -> str:
        return (
            f"{{id: {name}, provider: openai, model: fake, base_url: "
            f"'http://127.0.0.1:{upstream_port}/v1', input_price: 1.0, output_price: 2.0, "
            f"weight: {weight}}}"
        )

    weighted = "\n".join(
        "      - " + deployment(f"w{n}", weight) for n, weight in enumerate((1, 1, 1, 7), start=1)
    )
    path = directory / "agentdeck.yaml"
    path.write_text(
        "log_level: warning\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"database: {{url: 'sqlite+aiosqlite:///{directory}/bench.db'}}\n" + extra + "models:\n"
        "  bench:\n"
        "    deployments:\n"
        "      - " + deployment("single", 1) + "\n"
        "  bench4:\n"
        "    strategy: weighted\n"
        "    deployments:\n" + weighted + "\n"
    )
    return path


def timed_starts(
    procs: ProcessSet,
    name: str,
    argv: list[str],
    port: int,
    restarts: int,
    result: RowResult,
    **start: Any,
) -> Server:
    """Start the server 1 + `restarts` times, timing each to /readyz; keep the last one up."""
    server = procs.start(name, argv, SERVER_CORE, port, **start)
    result.ready_first_s = wait_ready(server, "/readyz", timeout_s=60)
    for _ in range(restarts):
        procs.stop(server)
        server = procs.start(name, argv, SERVER_CORE, port, **start)
        result.ready_restart_s.append(wait_ready(server, "/readyz", timeout_s=60))
    return server


def start_litellm(
    procs: ProcessSet,
    args: argparse.Namespace,
    work: Path,
    upstream_port: int,
    result: RowResult,
) -> Server | None:
    """Start the LiteLLM proxy if it can be installed and started; else record why not."""
    if args.no_litellm:
        result.skipped = "disabled (--no-litellm / BENCH_LITELLM=0)"
        return None
    server = None
    try:
        cli = litellm_row.ensure_installed(args.litellm_install_timeout)
        port = free_port()
        config = litellm_row.write_config(work, upstream_port)
        argv = litellm_row.command(cli, config, port)
        server = procs.start(
            "litellm", argv, SERVER_CORE, port, cwd=work, env=litellm_row.environment()
        )
        result.ready_first_s = wait_ready(server, litellm_row.READY_PATH, timeout_s=180)
        result.note = "readiness is GET /health/readiness; one uvicorn worker, no database"
        return server
    except (litellm_row.RowSkippedError, HarnessError, OSError) as exc:
        result.skipped = str(exc).splitlines()[0][:160]
        if server is not None:
            print(f"litellm log tail:\n{server.log_tail()}")
            procs.stop(server)
        return None


def start_limits(
    procs: ProcessSet,
    work: Path,
    upstream_port: int,
    result: RowResult,
    redis_url: str | None,
) -> LimitsServer | None:
    """Start an agentdeck server that requires a key, install the owner key, a rate limit and
    a budget; None (and the reason on the row) when Redis is unreachable or a check fails."""
    server = None
    try:
        if redis_url is not None:
            limits_row.flush_redis(redis_url)
        directory = work / result.name
        directory.mkdir()
        port = free_port()
        config = agentdeck_config(
            directory, upstream_port, port, limits_row.config_lines(redis_url)
        )
        key = limits_row.new_owner_key()
        argv = [str(BIN / "agentdeck"), "serve", "--config", str(config)]
        server = procs.start(
            result.name,
            argv,
            SERVER_CORE,
            port,
            cwd=directory,
            env=limits_row.environment(key),
        )
        result.ready_first_s = wait_ready(server, "/readyz", timeout_s=60)
        tenant_id, cost = limits_row.install_limits(port, key, "bench")
    except (limits_row.RowSkippedError, limits_row.CheckFailedError, OSError) as exc:
        result.skipped = str(exc).splitlines()[0][:200]
        if server is not None:
            print(f"{result.name} log tail:\n{server.log_tail()}")
            procs.stop(server)
        return None
    return LimitsServer(server, key, tenant_id, cost)


def check_limits(procs: ProcessSet, started: LimitsServer, result: RowResult) -> None:
    """After the load, the budget must have settled every answered request and released every
    reservation; a failure is kept as the row's fault."""
    measured = sum(r.requests - r.status_errors for r in result.runs.get(64, []))
    procs.resume(started.server)
    try:
        result.note += "; " + limits_row.check_budget(
            started.server.port, started.key, started.tenant_id, started.cost_micros, measured
        )
    except (limits_row.CheckFailedError, OSError) as exc:
        result.fault = str(exc).splitlines()[0][:200]
    finally:
        procs.pause(started.server)


def measure(
    procs: ProcessSet,
    rows: dict[str, RowResult],
    loads: dict[str, Load],
    args: argparse.Namespace,
) -> None:
    """Alternating rounds: at each concurrency every row in turn, the others paused."""
    names = list(loads)
    for index in range(args.rounds):
        # Rotate the order each round so no row always follows the same neighbour.
        order = names[index % len(names) :] + names[: index % len(names)]
        for c in CONCURRENCIES:
            threads = 1 if c == 1 else args.threads
            for name in order:
                server, port, model, key, concurrencies = loads[name]
                if c not in concurrencies:
                    continue
                if server is not None:
                    procs.resume(server)
                try:
                    if args.warmup:
                        warmup = run_wrk(port, model, c, threads, args.warmup, LOAD_CORE, key=key)
                        rows[name].warmup_errors += warmup.errors
                    pid = server.pid if server is not None else None
                    result = run_wrk(
                        port, model, c, threads, args.duration, LOAD_CORE, pid, key=key
                    )
                    if server is not None and c == 64:
                        rss = rss_mib(server.pid)
                        if rss is not None:
                            rows[name].rss_mib.append(round(rss, 1))
                finally:
                    if server is not None:
                        wait_idle(server.pid)
                        procs.pause(server)
                rows[name].runs.setdefault(c, []).append(result)
                print(
                    f"  round {index + 1}/{args.rounds} c={c:<3} {name:<22} "
                    f"{result.rps:>9,.0f} req/s  p50 {result.p50_ms:.3f} ms  "
                    f"p99 {result.p99_ms:.3f} ms  errors {result.errors}"
                    + _cpu_note(result.server_cpu_us_per_req),
                    flush=True,
                )


def _cpu_note(us_per_req: float | None) -> str:
    """The server CPU time per request for the progress line, when there is a server."""
    return "" if us_per_req is None else f"  server cpu {us_per_req:.0f} us/req"


def run(args: argparse.Namespace, procs: ProcessSet, work: Path) -> dict[str, RowResult]:
    """Start everything, measure, and return the results per row."""
    names = (
        "bare",
        "agentdeck",
        "agentdeck-untraced",
        "agentdeck-4w",
        *LIMITS_ROWS,
        "litellm",
        "upstream",
    )
    rows = {name: RowResult(name) for name in names}
    rows[
        "agentdeck-untraced"
    ].note = "the agentdeck server with tracing.enabled: false (no span per call); c=64 only"
    rows["agentdeck-4w"].note = "the agentdeck server, alias of 4 deployments weighted 1:1:1:7"
    rows[
        "agentdeck-limits"
    ].note = "agentdeck + key + rate limit + budget, in-process kv; measured at c=64 only"
    rows["agentdeck-limits-redis"].note = (
        f"agentdeck + key + rate limit + budget, kv on Redis {args.redis_url or '-'} "
        "(the Redis server is not pinned and its CPU is not in cpu us/req); c=64 only"
    )
    rows["upstream"].note = "wrk straight at the fake upstream, both on core 1: the load ceiling"
    upstream_port = free_port()
    upstream = procs.start(
        "upstream",
        [str(BIN / "agentdeck"), "fake-upstream", "--port", str(upstream_port)],
        LOAD_CORE,
        upstream_port,
        cwd=work,
    )
    wait_ready(upstream, "/v1/models", timeout_s=60)
    print(f"fake upstream ready on :{upstream_port} (core {LOAD_CORE})")

    bare_port = free_port()
    bare_argv = [
        sys.executable,
        str(BENCH_DIR / "bare_proxy.py"),
        "--port",
        str(bare_port),
        "--upstream",
        f"http://127.0.0.1:{upstream_port}",
    ]
    bare = timed_starts(procs, "bare", bare_argv, bare_port, args.restarts, rows["bare"], cwd=work)
    print(f"bare proxy ready in {rows['bare'].ready_first_s:.2f}s")

    deck_port = free_port()
    config = agentdeck_config(work, upstream_port, deck_port)
    deck_argv = [str(BIN / "agentdeck"), "serve", "--config", str(config)]
    deck = timed_starts(
        procs, "agentdeck", deck_argv, deck_port, args.restarts, rows["agentdeck"], cwd=work
    )
    print(
        f"agentdeck ready in {rows['agentdeck'].ready_first_s:.2f}s (new database), "
        f"restarts {rows['agentdeck'].ready_restart_s}"
    )

    untraced_dir = work / "untraced"
    untraced_dir.mkdir()
    untraced_port = free_port()
    untraced_config = agentdeck_config(
        untraced_dir, upstream_port, untraced_port, "tracing: {enabled: false}\n"
    )
    untraced = procs.start(
        "agentdeck-untraced",
        [str(BIN / "agentdeck"), "serve", "--config", str(untraced_config)],
        SERVER_CORE,
        untraced_port,
        cwd=untraced_dir,
    )
    rows["agentdeck-untraced"].ready_first_s = wait_ready(untraced, "/readyz", timeout_s=60)

    limited: dict[str, LimitsServer] = {}
    for name, redis_url in zip(LIMITS_ROWS, (None, args.redis_url or None), strict=True):
        if name.endswith("redis") and redis_url is None:
            rows[name].skipped = "no Redis URL (--redis-url / BENCH_REDIS_URL empty)"
            continue
        started = start_limits(procs, work, upstream_port, rows[name], redis_url)
        if started is None:
            print(f"{name} skipped: {rows[name].skipped}")
            continue
        limited[name] = started
        print(
            f"{name} ready in {rows[name].ready_first_s:.2f}s (new database); key, rate limit "
            f"and budget installed, {started.cost_micros} micro-dollars per request"
        )

    litellm = start_litellm(procs, args, work, upstream_port, rows["litellm"])
    if litellm is not None:
        print(f"litellm ready in {rows['litellm'].ready_first_s:.2f}s")
    else:
        print(f"litellm skipped: {rows['litellm'].skipped}")

    plan = {
        "bare": Load(bare, bare_port, "fake"),
        "agentdeck": Load(deck, deck_port, "bench"),
        "agentdeck-untraced": Load(untraced, untraced_port, "bench", None, (64,)),
        "agentdeck-4w": Load(deck, deck_port, "bench4"),
    }
    for name, started in limited.items():
        plan[name] = Load(started.server, started.server.port, "bench", started.key, (64,))
    if litellm is not None:
        plan["litellm"] = Load(litellm, litellm.port, litellm_row.MODEL)
    plan["upstream"] = Load(None, upstream_port, "fake")
    for load in plan.values():
        if load.server is not None:
            procs.pause(load.server)
    measure(procs, rows, plan, args)
    for name, started in limited.items():
        check_limits(procs, started, rows[name])
    return rows


def _terminate(signum: int, frame: object) -> None:
    """Turn SIGINT/SIGTERM/SIGHUP into KeyboardInterrupt so the cleanup in main() runs."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    """Run the benchmark; 0 whatever the verdicts, 1 when the harness fails, 130 on Ctrl-C."""
    args = parse_args()
    # SIGINT too: a shell starts background jobs with it ignored, and Python then keeps it so.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    work = Path(tempfile.mkdtemp(prefix="agentdeck-bench-"))
    procs = ProcessSet(work)
    failed = True
    try:
        check_machine()
        # The harness itself (polling, parsing) belongs on the load core too.
        os.sched_setaffinity(0, {LOAD_CORE})
        code = code_version()
        dirty = " + uncommitted changes in src/" if code["src_dirty"] else ""
        print(f"agentdeck at commit {code['commit'][:12] or '?'}{dirty}")
        print(
            f"duration {args.duration}s, warm-up {args.warmup}s, rounds {args.rounds}, "
            f"wrk threads at c=64: {args.threads}; logs in {work}"
        )
        rows = run(args, procs, work)
        judged = targets(rows)
        print_report(rows, judged, args.rounds)
        settings = {k: v for k, v in vars(args).items() if k != "litellm_install_timeout"}
        print(f"\nresults written to {write_json(rows, judged, settings, code)}")
        failed = False
        return 0
    except HarnessError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave servers behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        procs.stop_all()
        if failed:
            print(f"server logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
