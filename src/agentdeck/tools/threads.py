"""The threads that run synchronous Python tools: a bounded set of daemon threads.

Daemon threads, because a tool stuck for good must not keep a stopping server alive (the
threads of `concurrent.futures` are joined at exit). The bound is kept on the event loop: a call
takes one of `size` slots before its job is handed to a thread and gives it back only when the
thread is done, so a slot stays taken while a tool runs on past its caller's timeout. Jobs
therefore never queue behind a busy thread, and a caller that finds every slot taken waits on
the loop (cancellable) and is told so by name when none frees up in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class NoThreadFree(Exception):  # noqa: N818 - reads as a state
    """Every thread stayed busy for as long as the caller could wait."""


class ToolThreads:
    """Runs functions in at most `size` daemon threads, started as needed."""

    def __init__(self, size: int, name: str = "agentdeck-tool") -> None:
        self.size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._idle = 0  # started threads waiting for a job and not yet claimed
        self._slots: asyncio.Semaphore | None = None  # made on the loop, at first use

    async def run(self, function: Callable[[Any], Any], argument: Any, wait_s: float) -> Any:
        """`function(argument)` in a thread, in the caller's context; waits at most `wait_s`
        for a free thread (NoThreadFree), then for the function however long it takes (the
        caller's timeout cancels the wait, not the function)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        slots = self._slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), max(wait_s, 0.0))
            except TimeoutError:
                raise NoThreadFree from None
        else:
            await slots.acquire()  # free: returns at once
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()
        self._claim()
        self._jobs.put((loop, future, lambda: context.run(function, argument)))
        return await future

    def _claim(self) -> None:
        """A thread for the job about to be queued: an idle one, or a new one."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                return
            self._started += 1
            number = self._started - 1
        threading.Thread(target=self._work, name=f"{self._name}_{number}", daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, call = job
            try:
                result, failed = call(), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
                result, failed = None, exc
            with self._lock:  # free before its slot is given back, so threads never exceed slots
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self._settle, future, result, failed)

    def _settle(
        self, future: asyncio.Future[Any], result: Any, failed: BaseException | None
    ) -> None:
        """On the loop: the thread is free again; tell the caller unless it stopped waiting."""
        if self._slots is not None:
            self._slots.release()
        if future.cancelled():
            return
        if failed is not None:
            future.set_exception(failed)
        else:
            future.set_result(result)

    def close(self) -> None:
        """Let idle threads end; busy ones end with their job (daemons: never waited for)."""
        with self._lock:
            count, self._started, self._idle = self._started, 0, 0
        for _ in range(count):
            self._jobs.put(None)
