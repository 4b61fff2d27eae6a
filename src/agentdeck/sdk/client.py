"""A small HTTP client for agentdeck's admin API (`/api/v1`), sync and async, used by the CLI
and the SDK: base URL, key, timeout, and every failure as one typed `AgentdeckAPIError`."""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import quote

import httpx

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8080"
# 429 is a request to come back later, like a 5xx: nothing about the prompt is known from it.
_TRANSIENT_STATUSES = frozenset({408, 429})


class AgentdeckAPIError(Exception):
    """An error answered by the server (its status, wire code, message and param), or
    `status` 0 when no answer came at all (connection refused, timeout)."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param

    @property
    def unavailable(self) -> bool:
        """True when the server could not answer (unreachable, timeout, 5xx, 429): a cached
        copy may stand in; any other error is the server's deliberate answer."""
        return self.status == 0 or self.status >= 500 or self.status in _TRANSIENT_STATUSES

    def copy(self) -> AgentdeckAPIError:
        """A fresh error with the same fields (one instance must not be raised in two threads)."""
        return type(self)(self.status, self.code, self.message, self.param)

    def __str__(self) -> str:
        where = f" (param {self.param})" if self.param else ""
        status = f" [{self.status} {self.code}]" if self.status else ""
        return f"{self.message}{where}{status}"


def prompt_path(name: str, *rest: str | int) -> str:
    """The API path of prompt `name` (slashes kept: they are part of the name) and `rest`."""
    parts = [quote(name, safe="/"), *(quote(str(part), safe="") for part in rest)]
    return "/prompts/" + "/".join(parts)


def _error_from(response: httpx.Response) -> AgentdeckAPIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return AgentdeckAPIError(
            response.status_code,
            str(error.get("code") or error.get("type") or "error"),
            str(error.get("message") or response.reason_phrase),
            error.get("param") if isinstance(error.get("param"), str) else None,
        )
    text = response.text.strip()[:200] or response.reason_phrase
    return AgentdeckAPIError(response.status_code, "http_error", text)


def _unreachable(url: str, exc: httpx.HTTPError) -> AgentdeckAPIError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    return AgentdeckAPIError(0, kind.replace(" ", "_"), f"agentdeck at {url} {kind}: {exc!r}")


def _decode(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _error_from(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise AgentdeckAPIError(
            response.status_code, "bad_response", f"the server answered non-JSON: {exc}"
        ) from exc


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"accept": "application/json", "user-agent": "agentdeck-client"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _query(params: dict[str, Any] | None) -> dict[str, str] | None:
    # None means "not given": it is left out rather than sent as an empty value.
    if not params:
        return None
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in params.items()
        if v is not None
    }


class ApiClient:
    """Synchronous client of `/api/v1` at `url` with `api_key`; safe to share across threads."""

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str | None = None, *, timeout_s: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX, headers=_headers(api_key), timeout=timeout_s
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; the decoded JSON answer, or `AgentdeckAPIError`."""
        try:
            response = self._http.request(method, path, params=_query(params), json=json)
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, exc) from exc
        return _decode(response)

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` with query `params` (None values left out)."""
        return self.request("GET", path, params=params)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncApiClient:
    """Asynchronous client of `/api/v1` at `url` with `api_key`."""

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str | None = None, *, timeout_s: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url + API_PREFIX, headers=_headers(api_key), timeout=timeout_s
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; the decoded JSON answer, or `AgentdeckAPIError`."""
        try:
            response = await self._http.request(method, path, params=_query(params), json=json)
        except httpx.HTTPError as exc:
            raise _unreachable(self.url, exc) from exc
        return _decode(response)

    async def get(self, path: str, **params: Any) -> Any:
        """GET `path` with query `params` (None values left out)."""
        return await self.request("GET", path, params=params)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
