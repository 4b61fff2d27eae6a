"""Processes the benchmark starts: pinned to a core, probed until ready, always stopped."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class HarnessError(Exception):
    """The benchmark itself cannot go on (as opposed to a target being missed)."""


@dataclass
class Server:
    """One started process: how to reach it and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float
    ready_s: float | None = None
    paused: bool = field(default=False)

    @property
    def pid(self) -> int:
        """The server's pid (taskset execs the command, so this is the server itself)."""
        return self.proc.pid

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the process wrote, to explain a failure."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class ProcessSet:
    """Every process the run starts; `stop_all` ends them whatever happened."""

    def __init__(self, log_dir: Path) -> None:
        """Nothing started yet; logs go to `log_dir`."""
        self.log_dir = log_dir
        self.servers: list[Server] = []

    def start(
        self,
        name: str,
        argv: list[str],
        core: int,
        port: int,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Server:
        """Start `argv` pinned to `core`, output to a log file, in its own process group."""
        log_path = self.log_dir / f"{name}.log"
        started_at = time.monotonic()
        with log_path.open("ab") as log:
            # A new session lets us signal the whole group, and keeps the terminal's Ctrl-C
            # away from the servers so that shutdown happens in our order.
            proc = subprocess.Popen(
                ["taskset", "-c", str(core), *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        server = Server(name, proc, port, log_path, started_at)
        self.servers.append(server)
        return server

    def pause(self, server: Server) -> None:
        """SIGSTOP a server so an idle one cannot take CPU from the one under load."""
        if server.proc.poll() is None and not server.paused:
            os.killpg(server.pid, signal.SIGSTOP)
            server.paused = True

    def resume(self, server: Server) -> None:
        """SIGCONT a paused server."""
        if server.proc.poll() is None and server.paused:
            os.killpg(server.pid, signal.SIGCONT)
            server.paused = False

    def stop(self, server: Server, grace_s: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL it if it outlives the grace period."""
        if server.proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                _signal_group(server.pid, sig)
            try:
                server.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(server.pid, signal.SIGKILL)
                server.proc.wait(timeout=grace_s)
        # Children that outlived their leader (a worker, say) still carry the group id.
        _signal_group(server.pid, signal.SIGKILL)
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        """Stop every process still known, newest first."""
        for server in reversed(list(self.servers)):
            try:
                self.stop(server)
            except Exception as exc:
                print(f"warning: could not stop {server.name} (pid {server.pid}): {exc}")


def _signal_group(pgid: int, sig: int) -> None:
    """Signal a process group we created; it may be gone already."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str, timeout_s: float = 1.0) -> int | None:
    """GET http://127.0.0.1:port/path and return the status, or None when unreachable."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(server: Server, path: str, timeout_s: float, poll_s: float = 0.01) -> float:
    """Poll `path` until it answers 200; seconds since the process started."""
    deadline = server.started_at + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise HarnessError(
                f"{server.name} exited with {server.proc.returncode} before it was ready:\n"
                + server.log_tail()
            )
        if http_status(server.port, path) == 200:
            server.ready_s = time.monotonic() - server.started_at
            return server.ready_s
        time.sleep(poll_s)
    raise HarnessError(
        f"{server.name} not ready on {path} after {timeout_s:.0f}s:\n" + server.log_tail()
    )


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants, found through /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo and len(found) < 1000:  # bounded: a fork bomb must not hang the report
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def rss_mib(pid: int) -> float | None:
    """Resident memory (VmRSS) of `pid` and its descendants, in MiB."""
    total_kb, seen = 0, False
    for member in tree_pids(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                seen = True
    return total_kb / 1024 if seen else None


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and its descendants."""
    ticks = 0
    for member in tree_pids(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, quiet_s: float = 0.1, timeout_s: float = 3.0) -> float:
    """Wait until `pid` has used no CPU for `quiet_s` (its in-flight requests are done), at
    most `timeout_s`; the seconds waited. A server stopped with requests in flight finds their
    timers expired when it is resumed, as if the upstream had hung: they fail, and the failures
    open its circuit breaker for the next row's turn."""
    started = time.monotonic()
    last = process_cpu_s(pid)
    while time.monotonic() - started < timeout_s:
        time.sleep(quiet_s)
        now = process_cpu_s(pid)
        if now == last:
            break
        last = now
    return time.monotonic() - started


def cpu_times() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies per cpuN from /proc/stat, to tell which core was saturated."""
    times: dict[str, tuple[int, int]] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *rest = line.split()
        if name.startswith("cpu") and name != "cpu":
            values = [int(v) for v in rest]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            times[name] = (sum(values) - idle, sum(values))
    return times


def busy_percent(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """Per-core busy share between two `cpu_times` samples."""
    result = {}
    for name, (busy_after, total_after) in after.items():
        busy_before, total_before = before.get(name, (0, 0))
        total = total_after - total_before
        result[name] = round(100 * (busy_after - busy_before) / total, 1) if total else 0.0
    return result
