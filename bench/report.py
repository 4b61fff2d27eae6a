"""Turn the runs into the printed tables, the PASS/MISS verdicts and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from loadgen import WrkResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CONCURRENCIES = (1, 64)


@dataclass
class RowResult:
    """Everything measured for one row (bare, agentdeck, litellm, upstream)."""

    name: str
    note: str = ""
    skipped: str | None = None
    fault: str = ""  # a functional check of the row failed: its target is a MISS
    warmup_errors: int = 0  # failed requests in the unmeasured warm-ups, all concurrencies
    ready_first_s: float | None = None
    ready_restart_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    runs: dict[int, list[WrkResult]] = field(default_factory=dict)

    def median(self, c: int, attr: str) -> float | None:
        """Median of one WrkResult field over the rounds at concurrency `c`."""
        values = [getattr(r, attr) for r in self.runs.get(c, [])]
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    def median_cpu(self, c: int, core: str) -> float | None:
        """Median busy share of one core (`cpu0`, `cpu1`) over the rounds at concurrency `c`."""
        values = [r.cpu_busy[core] for r in self.runs.get(c, []) if core in r.cpu_busy]
        return statistics.median(values) if values else None

    def errors(self, c: int) -> int:
        """Failed or non-2xx requests over all rounds at concurrency `c`."""
        return sum(r.errors for r in self.runs.get(c, []))

    @property
    def ready_s(self) -> float | None:
        """The slower of the first start and the median restart: what the target is judged on."""
        values = [v for v in (self.ready_first_s, self.median_restart) if v is not None]
        return max(values) if values else None

    @property
    def median_restart(self) -> float | None:
        """Median start-to-ready time over restarts (existing database)."""
        return statistics.median(self.ready_restart_s) if self.ready_restart_s else None

    @property
    def last_rss(self) -> float | None:
        """RSS after the last c=64 run."""
        return self.rss_mib[-1] if self.rss_mib else None


@dataclass
class Target:
    """One judged figure."""

    name: str
    value: float | None
    limit: float
    higher_is_better: bool
    unit: str
    note: str = ""

    @property
    def verdict(self) -> str:
        """PASS, MISS, or N/A when a figure could not be measured."""
        if self.value is None:
            return "N/A"
        ok = self.value >= self.limit if self.higher_is_better else self.value <= self.limit
        return "PASS" if ok and not self.note else "MISS"


def ratio_to_bare(rows: dict[str, RowResult], name: str) -> float | None:
    """A row's median req/s at c=64 as % of the bare row's; None when either is missing."""
    row = rows.get(name)
    bare_rps = rows["bare"].median(64, "rps")
    row_rps = row.median(64, "rps") if row is not None and not row.skipped else None
    return 100 * row_rps / bare_rps if bare_rps and row_rps is not None else None


def _failures(row: RowResult | None, *concurrencies: int) -> str:
    """Why a row's throughput cannot pass whatever its figure: errors or a failed check."""
    if row is None:
        return ""
    errors = sum(row.errors(c) for c in concurrencies)
    found = [f"{errors} failed requests"] if errors else []
    return "; ".join([*found, *([row.fault] if row.fault else [])])


def targets(rows: dict[str, RowResult]) -> list[Target]:
    """The targets agentdeck is judged on, relative to the bare row where they say so."""
    bare, deck = rows["bare"], rows["agentdeck"]
    ratio = ratio_to_bare(rows, "agentdeck")
    bare_p50, deck_p50 = bare.median(1, "p50_ms"), deck.median(1, "p50_ms")
    overhead = deck_p50 - bare_p50 if bare_p50 is not None and deck_p50 is not None else None
    errors = deck.errors(1) + deck.errors(64)
    # A gateway that answered errors under load has not met a throughput or latency target.
    note = f"{errors} failed requests" if errors else ""
    return [
        Target("agentdeck req/s at c=64 as % of bare", ratio, 50.0, True, "%", note),
        Target(
            "4-deployment weighted alias req/s at c=64 as % of bare",
            ratio_to_bare(rows, "agentdeck-4w"),
            50.0,
            True,
            "%",
        ),
        Target(
            "agentdeck + key + rate limit + budget (in-process kv) req/s at c=64 as % of bare",
            ratio_to_bare(rows, "agentdeck-limits"),
            50.0,
            True,
            "%",
            _failures(rows.get("agentdeck-limits"), 64),
        ),
        Target("agentdeck p50 - bare p50 at c=1", overhead, 0.5, False, "ms", note),
        Target("agentdeck RSS after c=64", deck.last_rss, 150.0, False, "MiB"),
        Target("agentdeck start to /readyz 200", deck.ready_s, 2.0, False, "s"),
    ]


def _fmt(value: float | None, digits: int) -> str:
    """A number for the table, or '-' when there is none."""
    return "-" if value is None else f"{value:,.{digits}f}"


def print_report(rows: dict[str, RowResult], judged: list[Target], rounds: int) -> None:
    """The throughput/latency table, the memory/startup table, then the verdicts."""
    print(
        f"\nthroughput and latency (median of {rounds} round(s); server on core 0, "
        "wrk and fake upstream on core 1)"
    )
    w = max(11, *(len(name) + 1 for name in rows))
    header = f"{'row':<{w}}{'c':>4}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
    print(header + f"{'errors':>8}{'core0 %':>9}{'core1 %':>9}{'cpu us/req':>12}")
    for row in rows.values():
        if row.skipped:
            print(f"{row.name:<{w}}  skipped: {row.skipped}")
            continue
        for c in CONCURRENCIES:
            if c not in row.runs:
                continue  # a row measured at c=64 only
            cores = [row.median_cpu(c, core) for core in ("cpu0", "cpu1")]
            print(
                f"{row.name:<{w}}{c:>4}{_fmt(row.median(c, 'rps'), 0):>10}"
                f"{_fmt(row.median(c, 'p50_ms'), 3):>10}{_fmt(row.median(c, 'p99_ms'), 3):>10}"
                f"{row.errors(c):>8}{_fmt(cores[0], 0):>9}{_fmt(cores[1], 0):>9}"
                f"{_fmt(row.median(c, 'server_cpu_us_per_req'), 0):>12}"
            )
    print("\nstartup and memory")
    print(f"{'row':<{w}}{'ready first s':>14}{'ready restart s':>17}{'RSS MiB':>9}")
    for row in rows.values():
        if row.skipped or row.name == "upstream":
            continue
        print(
            f"{row.name:<{w}}{_fmt(row.ready_first_s, 2):>14}{_fmt(row.median_restart, 2):>17}"
            f"{_fmt(row.last_rss, 1):>9}"
        )
    print("\ntargets")
    for t in judged:
        sign = ">=" if t.higher_is_better else "<="
        extra = f"  ({t.note})" if t.note else ""
        print(
            f"  {t.verdict:<5} {t.name}: {_fmt(t.value, 2)} {t.unit} "
            f"(target {sign} {t.limit:g} {t.unit}){extra}"
        )
    checks = cross_checks(rows)
    print("\nratios to bare at c=64 (median; per round; from server CPU time per request)")
    for name, ratios in checks["ratios_to_bare_c64_pct"].items():
        paired = ", ".join(_fmt(v, 0) for v in ratios["per_round"])
        print(
            f"  {name:<{w}}{_fmt(ratios['median'], 1):>6} %   rounds {paired} %   "
            f"cpu {_fmt(ratios['cpu_normalized'], 1)} %"
        )
    _print_notes(rows)


def _print_notes(rows: dict[str, RowResult]) -> None:
    """What each row is, and what went wrong beside the judged figures."""
    for row in rows.values():
        if row.note:
            print(f"note: {row.name}: {row.note}")
        if row.fault:
            print(f"FAULT: {row.name}: {row.fault}")
        if row.warmup_errors:
            print(f"WARNING: {row.name}: {row.warmup_errors} failed requests in warm-ups")


def cross_checks(rows: dict[str, RowResult]) -> dict[str, Any]:
    """Ratios that other tenants on the server core disturb less than the judged median."""
    bare = rows["bare"].runs.get(64, [])
    bare_cpu = rows["bare"].median(64, "server_cpu_us_per_req")
    ratios = {}
    for name, row in rows.items():
        if name in ("bare", "upstream") or row.skipped or not row.runs.get(64):
            continue
        # Runs of the same round were back to back, so their ratio shares that round's noise.
        runs = row.runs[64]
        paired = [100 * r.rps / b.rps for b, r in zip(bare, runs, strict=False) if b.rps]
        row_cpu = row.median(64, "server_cpu_us_per_req")
        ratios[name] = {
            "median": ratio_to_bare(rows, name),
            "per_round": paired,
            "cpu_normalized": 100 * bare_cpu / row_cpu if bare_cpu and row_cpu else None,
        }
    deck = ratios.get("agentdeck", {})
    return {
        "paired_ratios_c64_pct": deck.get("per_round", []),
        "cpu_normalized_ratio_c64_pct": deck.get("cpu_normalized"),
        "ratios_to_bare_c64_pct": ratios,
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes (they were measured too)."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        """Output of one git command in the repository, '' when git is unavailable."""
        try:
            done = subprocess.run(
                ["git", *argv], cwd=root, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "src_dirty": bool(git("status", "--porcelain", "src")),
    }


def write_json(
    rows: dict[str, RowResult], judged: list[Target], settings: dict[str, Any], code: dict[str, Any]
) -> Path:
    """Write the results to bench/results/<timestamp>.json and return the path."""
    now = datetime.now().astimezone()
    document = {
        "date": now.isoformat(timespec="seconds"),
        "machine": machine(),
        # Taken before the servers start: they import src/ then, whatever changes later.
        "code": code,
        "settings": settings,
        "rows": {
            name: {
                "skipped": row.skipped,
                "note": row.note or None,
                "fault": row.fault or None,
                "warmup_errors": row.warmup_errors,
                "ready_first_s": row.ready_first_s,
                "ready_restart_s": row.ready_restart_s,
                "rss_mib_after_c64": row.rss_mib,
                **{
                    f"c{c}": {
                        "median": {
                            a: row.median(c, a)
                            for a in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_req")
                        },
                        "errors": row.errors(c),
                        "runs": [r.as_dict() for r in row.runs.get(c, [])],
                    }
                    for c in CONCURRENCIES
                },
            }
            for name, row in rows.items()
        },
        "cross_checks": cross_checks(rows),
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "limit": t.limit,
                "unit": t.unit,
                "verdict": t.verdict,
                "note": t.note or None,
            }
            for t in judged
        ],
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{now.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
