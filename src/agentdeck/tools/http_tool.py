"""HTTP tools: the URL template filled from the arguments (each value percent-encoded whole, so
an argument can name a path segment but never another host or path), stored credentials put in
the headers, the answer read up to a size cap and parsed as JSON.

Credential values never leave this module in a message: errors name the status only, and an
answer that echoes a credential has it replaced before the model sees it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from agentdeck.errors import AgentdeckError
from agentdeck.identity.vault import Vault
from agentdeck.tools.models import CREDENTIAL, HttpImplementation, ToolCallFailed, ToolSpec

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "[credential]"


def fill_url(template: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL with its placeholders filled, and the arguments it did not use."""
    used: set[str] = set()

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in arguments:
            raise ToolCallFailed(
                "invalid_arguments", f"argument {name!r} is required", False, upstream=False
            )
        used.add(name)
        found = arguments[name]
        text = found if isinstance(found, str) else orjson.dumps(found).decode()
        return quote(text, safe="")

    url = _PLACEHOLDER.sub(value, template)
    return url, {k: v for k, v in arguments.items() if k not in used}


def _query(rest: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in rest.items()}


class HttpTools:
    """Calls HTTP tools through one pooled session."""

    def __init__(self, vault: Vault | None, max_bytes: int) -> None:
        self._vault = vault
        self._max = max_bytes
        self._session: aiohttp.ClientSession | None = None

    async def _headers(
        self, spec: ToolSpec, impl: HttpImplementation
    ) -> tuple[dict[str, str], list[str]]:
        """The headers with credentials put in, and the values put in (to mask in answers)."""
        headers: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for header, template in impl.headers.items():
            for name in CREDENTIAL.findall(template):
                if name not in secrets:
                    secrets[name] = await self._reveal(spec.tenant_id, name)
            headers[header] = CREDENTIAL.sub(lambda m: secrets[m.group(1)], template)
        return headers, list(secrets.values())

    async def _reveal(self, tenant_id: str, name: str) -> str:
        if self._vault is None:
            raise ToolCallFailed("internal_error", "the credential store is off", False, False)
        try:
            return await self._vault.reveal(tenant_id, name)
        except AgentdeckError:  # not stored, or the store is off: the name is no secret
            raise ToolCallFailed(
                "internal_error", f"credential {name!r} is not available", False, upstream=False
            ) from None

    async def call(
        self, spec: ToolSpec, impl: HttpImplementation, arguments: dict[str, Any]
    ) -> Any:
        """The tool's JSON answer; raises ToolCallFailed (timeouts are the caller's)."""
        url, rest = fill_url(impl.url, arguments)
        headers, secrets = await self._headers(spec, impl)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        send: dict[str, Any] = {"headers": headers}
        if impl.body == "json" and impl.method not in ("GET", "HEAD", "DELETE"):
            send["json"] = rest
        elif rest:
            send["params"] = _query(rest)
        try:
            async with self._session.request(impl.method, url, **send) as response:
                body = await self._read(response)
                status = response.status
        except (aiohttp.ClientError, OSError) as exc:
            raise ToolCallFailed(
                "upstream_error", f"the tool's endpoint failed: {type(exc).__name__}", True
            ) from None
        return self._answer(status, body, secrets)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, or its first `max + 1` bytes when it is longer (a body that stops
        coming blocks here until the executor's deadline)."""
        chunks: list[bytes] = []
        size = 0
        while size <= self._max:
            chunk = await response.content.read(65_536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    def _answer(self, status: int, body: bytes, secrets: list[str]) -> Any:
        if status >= 500 or status == 429:
            raise ToolCallFailed("upstream_error", f"the tool answered {status}", True)
        if status >= 400:
            raise ToolCallFailed("upstream_error", f"the tool answered {status}", False, False)
        if len(body) > self._max:
            raise ToolCallFailed(
                "upstream_error", f"the tool's answer is over {self._max} bytes", False
            )
        if not body.strip():
            return {"status": status}
        for secret in secrets:
            body = body.replace(secret.encode(), MASK.encode())
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ToolCallFailed("upstream_error", "the tool's answer is not JSON", False) from None

    async def aclose(self) -> None:
        """Close the pooled session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
