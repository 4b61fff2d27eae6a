"""The span recorder: spans leave the request path through a bounded queue and are written in
batches. Under overload spans are dropped and counted, never waited for; a normal stop writes
everything queued. A span received twice (an exporter retrying a batch) is stored once.

Batches are written in the driver's own terms, in as few round trips as the driver allows:
every round trip waits while the event loop decodes requests, so their number, more than the
SQL, set how many spans a second reach the store under load (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.db.batch_writer import BatchWriter
from agentdeck.tracing.spans import ROW_COLUMNS, Span
from agentdeck.tracing.tables import spans

Row = tuple[Any, ...]
Store = Callable[[AsyncConnection, list[Row]], Awaitable[None]]
# Writes in flight at once on PostgreSQL, each on its own connection of the pool. SQLite takes
# one writer at a time.
POSTGRES_WRITES = 2


class SpanRecorder:
    """Queues spans and writes them to the `spans` table in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_queue: int = 50_000,
        batch: int = 1000,
        interval_s: float = 0.2,
        on_drop: Callable[[int], None] | None = None,
        on_written: Callable[[list[Span]], None] | None = None,
    ) -> None:
        self._engine = engine
        # Told of every batch once it is stored (the OTLP exporter); must not wait.
        self._on_written = on_written
        driver = engine.dialect.driver
        self._store: Store = _STORES.get(driver) or _portable_store(engine)
        # Connections kept between batches while more spans are queued: taking one from the
        # pool costs a ping and a reset, several round trips each.
        self._idle: list[AsyncConnection] = []
        self.writer: BatchWriter[Span] = BatchWriter(
            "span recorder", self._write, max_queue, batch, interval_s, on_drop,
            concurrency=POSTGRES_WRITES if driver == "asyncpg" else 1,
        )  # fmt: skip

    def record(self, span: Span) -> None:
        """Queue a span; never waits (a full queue drops it, counted)."""
        self.writer.add(span)

    def record_all(self, batch: list[Span]) -> bool:
        """Queue every span of `batch`, or none when they do not fit (False)."""
        return self.writer.add_many(batch)

    async def start(self) -> None:
        """Begin writing in the background."""
        await self.writer.start()

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        try:
            await self.writer.stop()
        finally:
            idle, self._idle = self._idle, []
            for conn in idle:
                await conn.close()

    async def _write(self, batch: list[Span]) -> None:
        rows = [span.values() for span in batch]
        conn = self._idle.pop() if self._idle else await self._engine.connect()
        try:
            await self._store(conn, rows)
        except BaseException:
            # Whatever state a failed write left the connection in, it is not reused.
            await _discard(conn)
            raise
        if self._on_written is not None:
            self._on_written(batch)
        if self.writer.queued:
            self._idle.append(conn)
        else:
            await conn.close()


async def _discard(conn: AsyncConnection) -> None:
    # It is being thrown away: a failure to end it cleanly changes nothing.
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


# --- SQLite: executemany through the driver --------------------------------------------------

# The span writer's own connection settings. Spans of random trace ids land at random places
# of the indexes, so each batch dirties thousands of pages: a page cache that holds the
# indexes of a few hundred thousand spans, and a checkpoint every 20,000 WAL pages instead of
# every 1,000, so that a page written by many batches is copied into the database once
# (measured: 31-39 down to 23 µs of SQLite CPU a span over 200,000 spans; docs/performance.md).
_SQLITE_WRITER_PRAGMAS = ("PRAGMA cache_size=-65536", "PRAGMA wal_autocheckpoint=20000")
_SQLITE_TUNED = "agentdeck_span_writer"


async def _write_sqlite(conn: AsyncConnection, rows: list[Row]) -> None:
    """A batch in two calls to the aiosqlite thread: the INSERTs, then the commit. (One
    statement of many rows steps once where `executemany` steps once a row, but measured
    slower: it cost more CPU than the handing over of the GIL it saves.)"""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        if not raw.info.get(_SQLITE_TUNED):
            for pragma in _SQLITE_WRITER_PRAGMAS:
                await driver.execute(pragma)
            raw.info[_SQLITE_TUNED] = True
        await driver.executemany(_SQLITE_INSERT, rows)
        await driver.commit()
    except sqlite3.Error as exc:
        raise _sqlite_error(exc) from exc


def _sqlite_error(exc: sqlite3.Error) -> Exception:
    """The SQLAlchemy error the batch writer sorts by: the store busy or away, or the batch
    refused."""
    statement = "INSERT INTO spans"
    if isinstance(exc, sqlite3.IntegrityError):
        return sa.exc.IntegrityError(statement, None, exc)
    if isinstance(exc, sqlite3.OperationalError):  # locked, busy, disk full, I/O
        return sa.exc.OperationalError(statement, None, exc)
    if isinstance(exc, (sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return sa.exc.DataError(statement, None, exc)  # a value SQLite does not take
    return sa.exc.DatabaseError(statement, None, exc)


# --- PostgreSQL: COPY, and a merge through a staging table when a span is already stored ------

_STAGE = "agentdeck_spans_in"
_BEGIN_AND_STAGE = (
    f"BEGIN; CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    f"(LIKE {spans.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
# The merge and the commit go as one simple query: one round trip.
_MERGE_AND_COMMIT = (
    f"INSERT INTO {spans.name} ({', '.join(ROW_COLUMNS)}) "  # noqa: S608 (fixed names only)
    f"SELECT {', '.join(ROW_COLUMNS)} FROM {_STAGE} ON CONFLICT DO NOTHING; COMMIT"
)
_UNIQUE_VIOLATION = "23505"
# Error classes of PostgreSQL (SQLSTATE's first two characters) that mean the store is away,
# busy or lost a race (a deadlock between two batches holding the same span): retried.
_TRANSIENT = frozenset({"08", "40", "53", "57", "58"})


async def _write_postgres(conn: AsyncConnection, rows: list[Row]) -> None:
    """A batch by one `COPY` into the table: a single statement, so atomic, in one round
    trip. When a span of the batch is already stored (an exporter's retry) the COPY fails
    whole, and the batch goes through a transaction-local staging table instead: COPY into
    it, then one INSERT ... SELECT that skips the spans already stored (three round trips,
    and twice the work for PostgreSQL). Both are several times faster than a bound INSERT
    per row."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        try:
            await driver.copy_records_to_table(spans.name, records=rows, columns=ROW_COLUMNS)
            return
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
        await driver.execute("BEGIN" if raw.info.get(_STAGE) else _BEGIN_AND_STAGE)
        await driver.copy_records_to_table(_STAGE, records=rows, columns=ROW_COLUMNS)
        await driver.execute(_MERGE_AND_COMMIT)
    except Exception as exc:
        raise _postgres_error(exc) from exc
    raw.info[_STAGE] = True  # the staging table lives as long as the connection


def _postgres_error(exc: Exception) -> Exception:
    """An asyncpg error as the SQLAlchemy error the batch writer sorts by."""
    if not type(exc).__module__.startswith("asyncpg"):
        return exc  # OSError and the like are sorted as they are
    statement = "COPY spans"
    state = str(getattr(exc, "sqlstate", None) or "")
    if state.startswith("23"):
        return sa.exc.IntegrityError(statement, None, exc)
    if state.startswith("22") or (not state and isinstance(exc, ValueError)):
        return sa.exc.DataError(statement, None, exc)  # refused by the server or the driver
    if not state or state[:2] in _TRANSIENT:  # the connection is gone, or a transient state
        return sa.exc.OperationalError(statement, None, exc)
    return sa.exc.DatabaseError(statement, None, exc)


_STORES: dict[str, Store] = {"aiosqlite": _write_sqlite, "asyncpg": _write_postgres}


# --- any other driver: its executemany ---------------------------------------------------------


def _portable_store(engine: AsyncEngine) -> Store:
    insert = _insert_ignoring_duplicates(engine.dialect.paramstyle)

    async def store(conn: AsyncConnection, rows: list[Row]) -> None:
        await conn.exec_driver_sql(insert, rows)
        await conn.commit()

    return store


def _insert_ignoring_duplicates(style: str) -> str:
    """The driver's INSERT of one span row that skips a span already stored (same tenant,
    trace and span id; a duplicate later in the same batch too: the first one received is
    kept). Spans are written in the driver's own terms: compiling and binding 35 columns a
    row through SQL expressions cost more than storing them."""
    if style == "qmark":
        marks = ", ".join("?" for _ in ROW_COLUMNS)
    elif style == "numeric_dollar":
        marks = ", ".join(f"${n}" for n in range(1, len(ROW_COLUMNS) + 1))
    elif style == "format":
        marks = ", ".join("%s" for _ in ROW_COLUMNS)
    else:
        raise ValueError(f"span recorder: unsupported driver parameter style {style!r}")
    columns = ", ".join(ROW_COLUMNS)
    # Built from the table's own column names only; every value is a bound parameter.
    return f"INSERT INTO {spans.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608


_SQLITE_INSERT = _insert_ignoring_duplicates("qmark")
