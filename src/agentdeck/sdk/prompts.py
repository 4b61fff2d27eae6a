"""`get_prompt`: prompts fetched from agentdeck's registry, cached, refreshed in the background,
and rendered locally (so a warm application keeps working while the server is unreachable).

Cache rules, per (project, name, label or version, sticky key):
- younger than `ttl_s`: served from memory;
- older: served from memory at once, and refreshed by one background fetch;
- the server unreachable (no answer, timeout, 5xx, 429): the cached copy is served (stale) with
  a logged warning; with nothing cached, `fallback` is used when given, else
  `PromptUnavailableError` is raised;
- any other error (404 unknown prompt or deleted label, 401, 403) is the server's deliberate
  answer: it is raised, and a background refresh that meets it drops the cached copy, so the
  next call raises it too. Neither a stale copy nor `fallback` hides a deleted label or a typo.
At most one fetch per key is in flight; callers that need the same cold key wait for that one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from agentdeck.errors import InvalidRequestError
from agentdeck.prompts.render import render_content
from agentdeck.sdk.client import (
    DEFAULT_URL,
    AgentdeckAPIError,
    ApiClient,
    AsyncApiClient,
    prompt_path,
)

log = logging.getLogger("agentdeck.sdk.prompts")
DEFAULT_LABEL = "production"
Fallback = str | Mapping[str, Any] | None
CacheKey = tuple[str | None, str, str, str | None]


class PromptUnavailableError(AgentdeckAPIError):
    """The server could not be reached and no copy of the prompt was cached or given."""


class PromptRenderError(ValueError):
    """The variables do not fit the prompt (missing, unknown, wrong type) or a template failed;
    `param` names the variable (`variables.city`) or the template (`messages.0.content`)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def content_type(content: Mapping[str, Any]) -> str:
    """The content's `type`, or `chat` when it has messages and `text` otherwise."""
    given = content.get("type")
    if isinstance(given, str):
        return given
    return "chat" if content.get("messages") is not None else "text"


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt as the server served it (or a `fallback`, version 0)."""

    name: str
    version: int
    type: str
    content: Mapping[str, Any]
    project: str | None = None
    content_hash: str | None = None
    label: str | None = None
    is_fallback: bool = False

    @classmethod
    def from_version(cls, body: Mapping[str, Any], label: str | None = None) -> Prompt:
        """A Prompt from the API's Version object."""
        content = body.get("content") or {}
        return cls(
            name=str(body["name"]),
            version=int(body["version"]),
            type=str(body.get("type") or content_type(content)),
            content=content,
            project=body.get("project"),
            content_hash=body.get("content_hash"),
            label=label,
        )

    @classmethod
    def from_fallback(cls, name: str, fallback: str | Mapping[str, Any]) -> Prompt:
        """A Prompt from a fallback: a text template, or a mapping of content fields."""
        content: Mapping[str, Any] = (
            {"type": "text", "template": fallback} if isinstance(fallback, str) else fallback
        )
        return cls(name, 0, content_type(content), content, is_fallback=True)

    @property
    def params(self) -> dict[str, Any]:
        """Model parameters (temperature, max_tokens, ...)."""
        return dict(self.content.get("params") or {})

    @property
    def model(self) -> str | None:
        """The model alias the prompt names, if any."""
        model = self.content.get("model")
        return model if isinstance(model, str) else None

    @property
    def tools(self) -> list[Any] | None:
        """The OpenAI tool objects the prompt carries, if any."""
        tools = self.content.get("tools")
        return list(tools) if tools else None

    def render(self, variables: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Chat messages with the variables filled in (a text prompt: one user message), by
        the server's own renderer: the same sandbox, variable rules and errors."""
        content = {**self.content, "type": self.type}
        try:
            return render_content(content, variables or {}, self.content_hash).messages
        except InvalidRequestError as exc:
            raise PromptRenderError(exc.message, exc.param) from None

    def render_text(self, variables: Mapping[str, Any] | None = None) -> str:
        """A text prompt's text with the variables filled in."""
        if self.type == "chat":
            raise TypeError(f"prompt {self.name!r} is a chat prompt: use render()")
        return str(self.render(variables)[0]["content"])


@dataclass
class _Entry:
    prompt: Prompt | None  # None: the last fetch found the server unreachable, nothing cached
    checked_at: float


@dataclass
class _Cache:
    """The entries and the decision of what a call does with one; callers serialize access
    (the sync client holds its lock; the async one runs on one event loop)."""

    ttl_s: float
    max_entries: int
    entries: OrderedDict[CacheKey, _Entry] = field(default_factory=OrderedDict)

    def lookup(self, key: CacheKey, fallback: Fallback) -> tuple[Prompt | None, bool]:
        """(what a call for `key` serves at once, None when it must fetch; whether the copy
        is older than the TTL, so a background refresh is due)."""
        entry = self.entries.get(key)
        if entry is None:
            return None, False
        self.entries.move_to_end(key)
        due = time.monotonic() - entry.checked_at >= self.ttl_s
        if entry.prompt is not None:
            return entry.prompt, due
        if fallback is not None:
            # The server was unreachable last time: a caller with a fallback does not wait again.
            return Prompt.from_fallback(key[1], fallback), due
        return None, False

    def store(self, key: CacheKey, prompt: Prompt) -> None:
        """Keep `prompt` for `key` from now on; the least recently used entry goes past the cap."""
        self.entries[key] = _Entry(prompt, time.monotonic())
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def failed(self, key: CacheKey, exc: AgentdeckAPIError) -> None:
        """Note a fetch that did not get an answer: keep any copy, retry after the TTL; drop
        the copy when the server answered with an error (a deleted label is not served)."""
        entry = self.entries.get(key)
        if not exc.unavailable:
            self.entries.pop(key, None)
        elif entry is None:
            self.entries[key] = _Entry(None, time.monotonic())
        else:
            entry.checked_at = time.monotonic()


def _key(
    project: str | None, name: str, label: str | None, version: int | None, sticky: str | None
) -> CacheKey:
    if label is not None and version is not None:
        raise ValueError("give a label or a version, not both")
    which = f"version:{version}" if version is not None else f"label:{label or DEFAULT_LABEL}"
    return (project, name, which, sticky)


def _resolve_query(key: CacheKey) -> tuple[str, dict[str, Any]]:
    project, name, which, sticky = key
    kind, _, value = which.partition(":")
    return prompt_path(name, "resolve"), {"project": project, kind: value, "sticky": sticky}


def _outcome(key: CacheKey, exc: AgentdeckAPIError, fallback: Fallback) -> Prompt:
    """What a caller with nothing cached gets when the fetch for `key` failed with `exc`."""
    what = f"prompt {key[1]!r} ({key[2].replace(':', ' ')})"
    if not exc.unavailable:
        raise exc.copy() from exc
    if fallback is not None:
        log.warning("%s: using the fallback: %s", what, exc.message)
        return Prompt.from_fallback(key[1], fallback)
    raise PromptUnavailableError(
        exc.status, exc.code, f"{what} unavailable and not cached: {exc.message}", exc.param
    )


class PromptClient:
    """Fetches prompts from agentdeck at `url` with `api_key`, cached for `ttl_s` seconds;
    thread-safe; refreshes run in background threads."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        ttl_s: float = 60.0,
        timeout_s: float = 5.0,
        project: str | None = None,
        max_entries: int = 10_000,
    ) -> None:
        self.project = project
        self._api = ApiClient(url, api_key, timeout_s=timeout_s)
        self._cache = _Cache(ttl_s, max_entries)
        self._lock = threading.Lock()
        self._inflight: dict[CacheKey, Future[Prompt]] = {}

    def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        sticky: str | None = None,
        fallback: Fallback = None,
        project: str | None = None,
    ) -> Prompt:
        """The version `label` (default `production`) or `version` of prompt `name` serves to
        `sticky` (a user or session id: sticky choice among a split label's versions)."""
        key = _key(project or self.project, name, label, version, sticky)
        with self._lock:
            served, due = self._cache.lookup(key, fallback)
            if served is None:
                future, owner = self._start(key, background=False)
            elif due:
                self._start(key, background=True)
        if served is not None:
            return served
        if owner:
            self._fetch(key, future)
        try:
            return future.result()
        except AgentdeckAPIError as exc:
            return _outcome(key, exc, fallback)

    def _start(self, key: CacheKey, background: bool) -> tuple[Future[Prompt], bool]:
        """The fetch in flight for `key`, or a new one (owner True: the caller runs it)."""
        running = self._inflight.get(key)
        if running is not None:
            return running, False
        future: Future[Prompt] = Future()
        self._inflight[key] = future
        if background:
            name = f"agentdeck-prompt-refresh:{key[1]}"
            threading.Thread(
                target=self._refresh, args=(key, future), name=name, daemon=True
            ).start()
        return future, True

    def _fetch(self, key: CacheKey, future: Future[Prompt]) -> None:
        path, params = _resolve_query(key)
        try:
            prompt = Prompt.from_version(self._api.get(path, **params), _label_of(key))
        except AgentdeckAPIError as exc:
            with self._lock:
                self._cache.failed(key, exc)
                self._inflight.pop(key, None)
            future.set_exception(exc)
        except BaseException as exc:
            # A malformed answer or a bug: release the key so a later call fetches again.
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            raise
        else:
            with self._lock:
                self._cache.store(key, prompt)
                self._inflight.pop(key, None)
            future.set_result(prompt)

    def _refresh(self, key: CacheKey, future: Future[Prompt]) -> None:
        try:
            self._fetch(key, future)
        except Exception:
            log.exception("refreshing prompt %r failed", key[1])
            return
        exc = future.exception()
        if isinstance(exc, AgentdeckAPIError):
            _log_refresh(key, exc)

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached copies (of `name`, or all): the next call fetches again."""
        with self._lock:
            for key in [k for k in self._cache.entries if name is None or k[1] == name]:
                del self._cache.entries[key]

    def close(self) -> None:
        """Close the HTTP connections (refreshes in flight fail and keep their cached copy)."""
        self._api.close()


class AsyncPromptClient:
    """`PromptClient` for asyncio code: same cache rules, refreshes as background tasks."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        ttl_s: float = 60.0,
        timeout_s: float = 5.0,
        project: str | None = None,
        max_entries: int = 10_000,
    ) -> None:
        self.project = project
        self._api = AsyncApiClient(url, api_key, timeout_s=timeout_s)
        self._cache = _Cache(ttl_s, max_entries)
        self._inflight: dict[CacheKey, asyncio.Task[Prompt]] = {}

    async def get_prompt(
        self,
        name: str,
        *,
        label: str | None = None,
        version: int | None = None,
        sticky: str | None = None,
        fallback: Fallback = None,
        project: str | None = None,
    ) -> Prompt:
        """See `PromptClient.get_prompt`."""
        key = _key(project or self.project, name, label, version, sticky)
        served, due = self._cache.lookup(key, fallback)
        if served is not None:
            if due:
                self._start(key, background=True)
            return served
        try:
            # shield: a caller cancelled while waiting must not cancel the fetch others share.
            return await asyncio.shield(self._start(key))
        except AgentdeckAPIError as exc:
            return _outcome(key, exc, fallback)

    def _start(self, key: CacheKey, background: bool = False) -> asyncio.Task[Prompt]:
        """The fetch in flight for `key`, or a new one."""
        running = self._inflight.get(key)
        if running is None:
            running = asyncio.get_running_loop().create_task(self._fetch(key))
            running.add_done_callback(functools.partial(_retrieve, key, background))
            self._inflight[key] = running
        return running

    async def _fetch(self, key: CacheKey) -> Prompt:
        path, params = _resolve_query(key)
        try:
            prompt = Prompt.from_version(await self._api.get(path, **params), _label_of(key))
        except AgentdeckAPIError as exc:
            self._cache.failed(key, exc)
            raise
        else:
            self._cache.store(key, prompt)
            return prompt
        finally:
            self._inflight.pop(key, None)

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached copies (of `name`, or all): the next call fetches again."""
        for key in [k for k in self._cache.entries if name is None or k[1] == name]:
            del self._cache.entries[key]

    async def aclose(self) -> None:
        """Cancel refreshes in flight and close the HTTP connections."""
        for task in list(self._inflight.values()):
            task.cancel()
        await self._api.aclose()


def _log_refresh(key: CacheKey, exc: AgentdeckAPIError) -> None:
    """A background refresh failed: say so, and what the cache does about it."""
    verdict = "serving the cached copy" if exc.unavailable else "dropped the cached copy"
    log.warning("refreshing prompt %r (%s): %s; %s", key[1], key[2], exc.message, verdict)


def _retrieve(key: CacheKey, background: bool, task: asyncio.Task[Prompt]) -> None:
    """Mark a fetch task's error as seen (a refresh has nobody awaiting it) and log it."""
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, AgentdeckAPIError):
        if background:
            _log_refresh(key, exc)
    elif exc is not None:
        log.error("fetching prompt %r failed", key[1], exc_info=exc)


def _label_of(key: CacheKey) -> str | None:
    kind, _, value = key[2].partition(":")
    return value if kind == "label" else None


_default: dict[str, PromptClient] = {}


def configure_prompts(
    url: str = DEFAULT_URL,
    api_key: str | None = None,
    *,
    ttl_s: float = 60.0,
    timeout_s: float = 5.0,
    project: str | None = None,
) -> PromptClient:
    """Create the `PromptClient` that module-level `get_prompt` uses, and return it."""
    client = PromptClient(url, api_key, ttl_s=ttl_s, timeout_s=timeout_s, project=project)
    previous = _default.get("client")
    _default["client"] = client
    if previous is not None:
        previous.close()
    return client


def get_prompt(
    name: str,
    *,
    label: str | None = None,
    version: int | None = None,
    sticky: str | None = None,
    fallback: Fallback = None,
    project: str | None = None,
) -> Prompt:
    """`PromptClient.get_prompt` on the client `configure_prompts` made."""
    client = _default.get("client")
    if client is None:
        raise RuntimeError("call agentdeck.sdk.configure_prompts(url, api_key) first")
    return client.get_prompt(
        name, label=label, version=version, sticky=sticky, fallback=fallback, project=project
    )
