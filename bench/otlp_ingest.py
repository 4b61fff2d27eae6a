"""OTLP ingest benchmark: spans per second into SQLite and PostgreSQL until queryable, and the
trace-list query over a large store (and Arize Phoenix under the same load, when it installs).

The server runs alone on core 0; the load (pre-built OTLP/HTTP protobuf batches of GenAI
spans, each span with the attributes an instrumented chat call carries) comes from core 1 on
a few keep-alive connections. A row's time runs from the first request to the moment the last
span is counted in the store, so it includes the recorder's queue and writes.

    .venv/bin/python bench/otlp_ingest.py                    # both stores, 1M-span query row
    BENCH_OTLP_SPANS=50000 BENCH_OTLP_QUERY_SPANS=100000 .venv/bin/python bench/otlp_ingest.py
    # before and after a change, side by side: 5 alternating rounds, medians per source
    BENCH_OTLP_SOURCES=before=/tmp/base/src,after=src BENCH_OTLP_ROUNDS=5 \
        BENCH_OTLP_QUERY_SPANS=0 .venv/bin/python bench/otlp_ingest.py

Environment: BENCH_OTLP_SPANS (spans per ingest row, default 200,000), BENCH_OTLP_BATCH (spans
per request, default 500), BENCH_OTLP_CONNECTIONS (default 4), BENCH_OTLP_QUERY_SPANS (store
size for the query row, default 1,000,000; 0 skips it), BENCH_POSTGRES_URL (default the local
test database; empty skips the PostgreSQL row), BENCH_PHOENIX (path of a Python with
arize-phoenix installed; empty skips that row), BENCH_OTLP_PHOENIX_SPANS (spans sent to
Phoenix, default 20,000: it ingests two orders of magnitude slower). The agentdeck rows are
also measured at the Phoenix row's size, so the two are compared at equal load.

Comparing versions: BENCH_OTLP_SOURCES (label=path of a `src` directory, comma-separated; the
server of each runs with that directory first on its PYTHONPATH; default: the installed
agentdeck), BENCH_OTLP_ROUNDS (default 1: the ingest rows of every source are run this many
times, the order of the sources alternating from round to round, and the medians printed),
BENCH_OTLP_STORES (default "sqlite,postgres"; empty runs only the query and Phoenix rows).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from procs import HarnessError, ProcessSet, free_port, process_cpu_s, wait_ready

BIN = Path(sys.executable).parent
SERVER_CORE, LOAD_CORE = "0", "1"
MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.0-flash")


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment."""
    return int(os.environ.get(name, default))


def _value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def genai_span(rng: random.Random, trace_id: bytes, parent: bytes | None, now_ns: int) -> Span:
    """One chat span as an instrumented application sends it (about 15 attributes)."""
    model = rng.choice(MODELS)
    start = now_ns - rng.randrange(0, 3_600_000_000_000)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.usage.input_tokens": rng.randrange(50, 4000),
        "gen_ai.usage.output_tokens": rng.randrange(10, 800),
        "gen_ai.response.finish_reasons": "stop",
        "gen_ai.response.id": "chatcmpl-" + uuid.UUID(int=rng.getrandbits(128)).hex[:24],
        "server.address": "api.openai.com",
        "server.port": 443,
        "session.id": f"session-{rng.randrange(5000)}",
        "user.id": f"user-{rng.randrange(20000)}",
        "http.response.status_code": 200,
    }
    return Span(
        trace_id=trace_id,
        span_id=rng.getrandbits(64).to_bytes(8, "big") or b"\x01" * 8,
        parent_span_id=parent or b"",
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + rng.randrange(200_000_000, 9_000_000_000),
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in attributes.items()],
        status=Status(code=Status.STATUS_CODE_OK),
    )


def batches(total: int, size: int, seed: int) -> list[bytes]:
    """`total` spans as serialized export requests of `size` spans: traces of 1 root step
    and 4 chat spans under it."""
    rng = random.Random(seed)
    now = time.time_ns()
    bodies: list[bytes] = []
    made = 0
    while made < total:
        spans: list[Span] = []
        while len(spans) < size and made < total:
            trace_id = rng.getrandbits(128).to_bytes(16, "big")
            root = genai_span(rng, trace_id, None, now)
            root.name = "agent step"
            spans.append(root)
            spans.extend(genai_span(rng, trace_id, root.span_id, now) for _ in range(4))
            made += 5
        resource = ResourceSpans(
            scope_spans=[ScopeSpans(spans=spans)],
        )
        resource.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value="bench-app"))
        )
        bodies.append(ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString())
    return bodies


async def send_all(url: str, bodies: list[bytes], connections: int, key: str | None) -> int:
    """POST every body over `connections` keep-alive connections; 503s are retried after
    their Retry-After. The number of retried requests."""
    headers = {"content-type": "application/x-protobuf"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    retried = 0

    async def worker() -> None:
        nonlocal retried
        async with httpx.AsyncClient(timeout=60) as client:
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    answer = await client.post(url, content=body, headers=headers)
                    if answer.status_code == 200:
                        break
                    if answer.status_code in (429, 503):
                        retried += 1
                        await asyncio.sleep(float(answer.headers.get("retry-after", "1")) / 10)
                        continue
                    raise HarnessError(f"{url}: {answer.status_code} {answer.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(connections)))
    return retried


def count_sqlite(path: Path) -> int:
    """Spans stored in a SQLite file."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])


def count_postgres(url: str, schema: str) -> int:
    """Spans stored in a PostgreSQL schema."""
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".spans'))
        finally:
            await conn.close()

    return asyncio.run(count())


def wait_count(count: Any, expected: int, timeout_s: float = 600) -> float:
    """Poll until `count()` reaches `expected`; the monotonic time it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if count() >= expected:
            return time.monotonic()
        time.sleep(0.05)
    raise HarnessError(f"only {count()} of {expected} spans stored after {timeout_s:.0f}s")


def serve_argv(config: Path) -> list[str]:
    """The command line of an agentdeck server."""
    return [str(BIN / "agentdeck"), "serve", "--config", str(config)]


def write_config(directory: Path, port: int, database: str) -> Path:
    """A server config: identity off (development mode), content capture off."""
    path = directory / "agentdeck.yaml"
    path.write_text(
        "log_level: warning\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"database: {database}\n"
        "tracing: {queue_max: 100000}\n"
    )
    return path


def ingest_row(
    procs: ProcessSet, name: str, config: Path, port: int, bodies: list[bytes], spans: int,
    count: Any, connections: int, env: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Start a server, send every body, wait until every span is stored; the row."""
    server = procs.start(name, serve_argv(config), int(SERVER_CORE), port, env=env)
    wait_ready(server, "/readyz", timeout_s=60)
    cpu_before = process_cpu_s(server.pid)
    started = time.monotonic()
    retried = asyncio.run(send_all(f"http://127.0.0.1:{port}/v1/traces", bodies, connections, None))
    sent = time.monotonic()
    stored = wait_count(count, spans)
    cpu = process_cpu_s(server.pid) - cpu_before
    procs.stop(server)
    seconds = stored - started
    return {
        "row": name,
        "spans": spans,
        "seconds": round(seconds, 2),
        "spans_per_s": round(spans / seconds),
        "accepted_per_s": round(spans / (sent - started)),
        "server_cpu_us_per_span": round(cpu * 1e6 / spans, 1),
        "retried_503": retried,
    }


def query_row(
    procs: ProcessSet, directory: Path, size: int, batch: int, connections: int,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Fill a SQLite store with `size` spans through the ingest endpoint, then time the
    trace-list query (newest page, and filtered by model) 100 times each."""
    port = free_port()
    db = directory / "query.db"
    config = write_config(directory, port, f"{{url: 'sqlite+aiosqlite:///{db}'}}")
    server = procs.start("query", serve_argv(config), 0, port, env=env)
    wait_ready(server, "/readyz", timeout_s=60)
    url = f"http://127.0.0.1:{port}"
    chunk = 100_000
    for offset in range(0, size, chunk):
        bodies = batches(min(chunk, size - offset), batch, seed=10_000 + offset)
        asyncio.run(send_all(f"{url}/v1/traces", bodies, connections, None))
    wait_count(lambda: count_sqlite(db), size)
    timings: dict[str, list[float]] = {"traces": [], "traces_by_model": [], "spans_by_session": []}
    paths = {
        "traces": "/api/v1/traces?limit=50",
        "traces_by_model": "/api/v1/traces?limit=50&model=gpt-4.1",
        "spans_by_session": "/api/v1/spans?limit=50&session_id=session-42",
    }
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(100):
            for name, path in paths.items():
                began = time.perf_counter()
                answer = client.get(path)
                timings[name].append((time.perf_counter() - began) * 1000)
                if answer.status_code != 200 or not answer.json()["data"]:
                    raise HarnessError(f"{path}: {answer.status_code} {answer.text[:200]}")
    procs.stop(server)
    row: dict[str, Any] = {"row": "query", "stored_spans": size}
    for name, values in timings.items():
        values.sort()
        row[f"{name}_p50_ms"] = round(statistics.median(values), 1)
        row[f"{name}_p95_ms"] = round(values[94], 1)
    return row


def phoenix_row(
    procs: ProcessSet, python: str, directory: Path, bodies: list[bytes], spans: int,
    connections: int,
) -> dict[str, Any]:  # fmt: skip
    """The same load against Arize Phoenix (SQLite), timed until its spans are counted."""
    port = free_port()
    work = directory / "phoenix"
    work.mkdir()
    env = {
        **os.environ, "PHOENIX_PORT": str(port), "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_GRPC_PORT": str(free_port()),
    }  # fmt: skip
    server = procs.start(
        "phoenix", [python, "-m", "phoenix.server.main", "serve"], 0, port, env=env
    )
    wait_ready(server, "/healthz", timeout_s=180)
    db = next(work.glob("*.db"))
    cpu_before = process_cpu_s(server.pid)
    started = time.monotonic()
    asyncio.run(send_all(f"http://127.0.0.1:{port}/v1/traces", bodies, connections, None))
    stored = wait_count(lambda: count_sqlite(db), spans)
    cpu = process_cpu_s(server.pid) - cpu_before
    procs.stop(server)
    seconds = stored - started
    return {
        "row": "phoenix (sqlite)",
        "spans": spans,
        "seconds": round(seconds, 2),
        "spans_per_s": round(spans / seconds),
        "server_cpu_us_per_span": round(cpu * 1e6 / spans, 1),
    }


def parse_sources(text: str) -> list[tuple[str, dict[str, str] | None]]:
    """(label, server environment) of each `label=path` of BENCH_OTLP_SOURCES; the installed
    agentdeck when there are none."""
    if not text.strip():
        return [("installed", None)]
    sources: list[tuple[str, dict[str, str] | None]] = []
    for item in text.split(","):
        label, _, path = item.partition("=")
        src = Path(path).resolve()
        if not (src / "agentdeck").is_dir():
            raise HarnessError(f"BENCH_OTLP_SOURCES: {src} holds no agentdeck package")
        sources.append((label, {**os.environ, "PYTHONPATH": str(src)}))
    return sources


def store_row(
    procs: ProcessSet, directory: Path, store: str, pg_url: str, bodies: list[bytes], spans: int,
    connections: int, env: dict[str, str] | None,
) -> dict[str, Any]:  # fmt: skip
    """One ingest row into a new, empty store: a SQLite file, or a PostgreSQL schema."""
    port = free_port()
    if store == "sqlite":
        db = directory / f"ingest-{uuid.uuid4().hex[:8]}.db"
        config = write_config(directory, port, f"{{url: 'sqlite+aiosqlite:///{db}'}}")
        try:
            return ingest_row(
                procs, "agentdeck sqlite", config, port, bodies, spans,
                lambda: count_sqlite(db), connections, env,
            )  # fmt: skip
        finally:
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                path.unlink(missing_ok=True)
    if store != "postgres":
        raise HarnessError(f"BENCH_OTLP_STORES: unknown store {store!r}")
    import asyncpg

    async def schema_ddl(sql: str) -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(schema_ddl(f'CREATE SCHEMA "{schema}"'))
    try:
        database = json.dumps({"url": pg_url, "schema_name": schema})
        config = write_config(directory, port, database)
        return ingest_row(
            procs, "agentdeck postgres", config, port, bodies, spans,
            lambda: count_postgres(pg_url, schema), connections, env,
        )  # fmt: skip
    finally:
        asyncio.run(schema_ddl(f'DROP SCHEMA "{schema}" CASCADE'))


def print_medians(rows: list[dict[str, Any]]) -> None:
    """The median of every ingest figure per (row, source), with every round's value."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if "source" in row:
            groups.setdefault((row["row"], row["source"]), []).append(row)
    print("\nmedians over the rounds:")
    for (name, source), found in groups.items():
        rates = [r["spans_per_s"] for r in found]
        cpus = [r["server_cpu_us_per_span"] for r in found]
        print(
            f"  {name:20s} {source:12s} spans/s until stored {statistics.median(rates):8,.0f} "
            f"{rates}  server CPU us/span {statistics.median(cpus):6.1f} {cpus}"
        )


def main() -> int:
    """Run the rows and print them as a table and as JSON."""
    spans = env_int("BENCH_OTLP_SPANS", 200_000)
    batch = env_int("BENCH_OTLP_BATCH", 500)
    connections = env_int("BENCH_OTLP_CONNECTIONS", 4)
    query_spans = env_int("BENCH_OTLP_QUERY_SPANS", 1_000_000)
    pg_url = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    phoenix = os.environ.get("BENCH_PHOENIX", "")
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    directory = Path(tempfile.mkdtemp(prefix="agentdeck-otlp-bench-"))
    procs = ProcessSet(directory)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows: list[dict[str, Any]] = []
    print(f"building {spans} spans in batches of {batch} ...", flush=True)
    bodies = batches(spans, batch, seed=1)
    sources = parse_sources(os.environ.get("BENCH_OTLP_SOURCES", ""))
    stores = [s for s in os.environ.get("BENCH_OTLP_STORES", "sqlite,postgres").split(",") if s]
    rounds = env_int("BENCH_OTLP_ROUNDS", 1)
    try:
        for round_ in range(rounds):
            order = sources if round_ % 2 == 0 else sources[::-1]
            for label, env in order:
                for store in stores:
                    if store == "postgres" and not pg_url:
                        continue
                    row = store_row(procs, directory, store, pg_url, bodies, spans,
                                    connections, env)  # fmt: skip
                    row.update(source=label, round=round_ + 1)
                    rows.append(row)
                    print(row, flush=True)
        if rounds > 1 or len(sources) > 1:
            print_medians(rows)
        if phoenix:
            small = env_int("BENCH_OTLP_PHOENIX_SPANS", 20_000)
            few = batches(small, batch, seed=2)
            port = free_port()
            db_small = directory / "small.db"
            config = write_config(directory, port, f"{{url: 'sqlite+aiosqlite:///{db_small}'}}")
            rows.append(ingest_row(
                procs, "agentdeck sqlite (phoenix load)", config, port, few, small,
                lambda: count_sqlite(db_small), connections, sources[-1][1],
            ))  # fmt: skip
            print(rows[-1], flush=True)
            try:
                rows.append(phoenix_row(procs, phoenix, directory, few, small, connections))
            except (HarnessError, StopIteration, OSError) as exc:
                rows.append({"row": "phoenix (sqlite)", "skipped": str(exc)[:200]})
            print(rows[-1], flush=True)
        if query_spans:
            # The last source (in "before=...,after=...", the change) fills and queries it.
            last = sources[-1][1]
            rows.append(query_row(procs, directory, query_spans, batch, connections, last))
            print(rows[-1], flush=True)
    finally:
        procs.stop_all()
    print(json.dumps(rows, indent=1))
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
