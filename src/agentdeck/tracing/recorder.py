"""The span recorder: spans leave the request path through a bounded queue and are written in
batches. Under overload spans are dropped and counted, never waited for; a normal stop writes
everything queued. A span received twice (an exporter retrying a batch) is stored once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agentdeck.db.batch_writer import BatchWriter
from agentdeck.tracing.spans import ROW_COLUMNS, Span
from agentdeck.tracing.tables import spans


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
        self._insert = _insert_ignoring_duplicates(engine)
        self.writer: BatchWriter[Span] = BatchWriter(
            "span recorder", self._write, max_queue, batch, interval_s, on_drop
        )

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
        await self.writer.stop()

    async def _write(self, batch: list[Span]) -> None:
        rows = [span.values() for span in batch]
        async with self._engine.begin() as conn:
            if self._engine.dialect.driver == "asyncpg" and len(rows) > 1:
                await _copy_into_postgres(conn, rows)
            else:
                await conn.exec_driver_sql(self._insert, rows)
        if self._on_written is not None:
            self._on_written(batch)


_STAGE = "agentdeck_spans_in"
_MERGE = (
    f"INSERT INTO {spans.name} ({', '.join(ROW_COLUMNS)}) "  # noqa: S608 (fixed names only)
    f"SELECT {', '.join(ROW_COLUMNS)} FROM {_STAGE} ON CONFLICT DO NOTHING"
)


async def _copy_into_postgres(conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
    """A batch into PostgreSQL by COPY into a transaction-local staging table, then one
    INSERT ... SELECT that skips spans already stored: several times faster than a bound
    INSERT per row (docs/performance.md)."""
    await conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
        f"(LIKE {spans.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(_STAGE, records=rows, columns=ROW_COLUMNS)
    await conn.exec_driver_sql(_MERGE)


def _insert_ignoring_duplicates(engine: AsyncEngine) -> str:
    """The driver's INSERT of one span row that skips a span already stored (same tenant,
    trace and span id). Spans are written in the driver's own terms: compiling and binding
    35 columns a row through SQL expressions cost more than storing them."""
    style = engine.dialect.paramstyle
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
