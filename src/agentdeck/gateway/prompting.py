"""Prompt references in gateway requests: `{"prompt": {"name": ..., "label": "production"},
"variables": {...}}` in place of (or ahead of) `messages`, rendered on the server from the
registry, served from the resolver's memory.

The rendered messages come first, then the request's own `messages` (a conversation that
goes on from the prompt). The prompt's model alias is used when the request names none, its
parameters when the request does not set them, its tools when the request sends none. The
version served is sticky per end user (the request's `user`, or `x-agentdeck-user`), else
per session (`x-agentdeck-session-id`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Scope

from agentdeck.errors import InvalidRequestError
from agentdeck.gateway.http import header
from agentdeck.gateway.models import JSON
from agentdeck.identity.grants import Grant
from agentdeck.prompts.models import parse_prompt_ref
from agentdeck.prompts.render import RenderedPrompt, render_prompt
from agentdeck.prompts.resolver import PromptResolver


@dataclass(frozen=True, slots=True)
class PromptUse:
    """The registry prompt a request was rendered from."""

    name: str
    version: int


def _sticky(scope: Scope, body: JSON) -> str | None:
    user = body.get("user")
    if isinstance(user, str) and user:
        return "user:" + user
    for name, kind in ((b"x-agentdeck-user", "user:"), (b"x-agentdeck-session-id", "session:")):
        value = header(scope, name)
        if value:
            return kind + value.decode("latin-1")
    return None


class PromptReferences:
    """Renders the prompt a request names into its body."""

    def __init__(self, resolver: PromptResolver) -> None:
        self._resolver = resolver

    async def _render(
        self, scope: Scope, body: JSON, grant: Grant
    ) -> tuple[RenderedPrompt, PromptUse]:
        ref = parse_prompt_ref(body.pop("prompt"))
        variables = body.pop("variables", None)
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            raise InvalidRequestError("variables must be an object", param="variables")
        version = await self._resolver.resolve(
            grant.tenant_id, grant.project_id, ref, _sticky(scope, body)
        )
        return render_prompt(version, variables), PromptUse(version.name, version.version)

    async def expand(
        self, scope: Scope, body: JSON, authenticate: Callable[[], Awaitable[Grant]]
    ) -> PromptUse | None:
        """Render the body's `prompt` into its OpenAI-format `messages` (None when it names
        none); `authenticate` gives the caller, whose project holds the prompt."""
        if "prompt" not in body:
            if "variables" in body:
                raise InvalidRequestError(
                    "variables are given without a prompt reference", param="variables"
                )
            return None
        rendered, use = await self._render(scope, body, await authenticate())
        given = body.get("messages")
        if given is not None and not isinstance(given, list):
            raise InvalidRequestError("'messages' must be an array", param="messages")
        body["messages"] = [*rendered.messages, *(given or [])]
        _defaults(body, rendered)
        return use

    async def expand_anthropic(
        self, scope: Scope, body: JSON, authenticate: Callable[[], Awaitable[Grant]]
    ) -> PromptUse | None:
        """The same for an Anthropic Messages body: system messages of the prompt go ahead
        of its `system`, the others ahead of its `messages`."""
        if "prompt" not in body:
            return None
        rendered, use = await self._render(scope, body, await authenticate())
        systems = [m["content"] for m in rendered.messages if m["role"] in ("system", "developer")]
        turns = [m for m in rendered.messages if m["role"] not in ("system", "developer")]
        given = body.get("messages")
        if given is not None and not isinstance(given, list):
            raise InvalidRequestError("'messages' must be an array", param="messages")
        body["messages"] = [*turns, *(given or [])]
        own = body.get("system")
        if systems:
            if own is not None and not isinstance(own, str):
                raise InvalidRequestError(
                    "'system' must be a string when a prompt reference adds system text",
                    param="system",
                )
            body["system"] = "\n\n".join([*systems, *([own] if own else [])])
        if rendered.model is not None:
            body.setdefault("model", rendered.model)
        params = rendered.params
        if "max_tokens" not in body and isinstance(params.get("max_tokens"), int):
            body["max_tokens"] = params["max_tokens"]
        for key in ("temperature", "top_p"):
            if key in params:
                body.setdefault(key, params[key])
        return use


def _defaults(body: JSON, rendered: RenderedPrompt) -> None:
    """The prompt's model, parameters and tools where the request sets none."""
    if rendered.model is not None and not body.get("model"):
        body["model"] = rendered.model
    for key, value in rendered.params.items():
        body.setdefault(key, value)
    if rendered.tools and "tools" not in body:
        body["tools"] = rendered.tools
