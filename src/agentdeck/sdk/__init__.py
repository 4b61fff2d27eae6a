"""agentdeck's application SDK: spans for an application's own steps, sent to agentdeck over
OTLP, in the same trace as the gateway calls they make.

    from agentdeck import sdk

    sdk.configure("http://127.0.0.1:8080", api_key="ad_live_...", service_name="trip-planner")

    @sdk.trace()                       # a span per call, named after the function
    def plan(request): ...

    with sdk.trace("fetch weather", kind="tool") as span:
        span.set_attribute("gen_ai.tool.name", "weather")
        client.chat.completions.create(..., extra_headers=sdk.trace_headers())

Built on the OpenTelemetry SDK (install `agentdeck[sdk]`): spans nest under whatever span is
current, including ones made by OpenTelemetry instrumentations, and `trace_headers()` carries
the current span to the gateway as W3C `traceparent`.

Prompts from the registry, cached (`ttl_s`), refreshed in the background, served stale while
the server is unreachable, and rendered locally in a sandbox:

    prompts = sdk.PromptClient("http://127.0.0.1:8080", api_key="ad_live_...", ttl_s=60)
    prompt = prompts.get_prompt("support/triage", label="production", sticky=user_id,
                                fallback={"messages": [{"role": "user", "content": "{{ q }}"}]})
    messages = prompt.render({"q": question})      # prompt.version, .params, .model, .tools

or, with one client for the whole process, `sdk.configure_prompts(url, api_key)` and then
`sdk.get_prompt(name, ...)`; `sdk.AsyncPromptClient` is the same for asyncio code.

A webhook receiver checks that an alert delivery came from agentdeck, unchanged and recent:

    if not sdk.verify_webhook(secret, request.headers["X-Agentdeck-Signature"], raw_body):
        return 400
"""

from typing import TYPE_CHECKING, Any

from agentdeck.sdk.client import AgentdeckAPIError
from agentdeck.sdk.prompts import (
    AsyncPromptClient,
    Prompt,
    PromptClient,
    PromptRenderError,
    PromptUnavailableError,
    configure_prompts,
    get_prompt,
)
from agentdeck.tracing.alerts.signing import verify as verify_webhook

if TYPE_CHECKING:
    from agentdeck.sdk.tracing import configure, shutdown, trace, trace_headers

_TRACING = ("configure", "shutdown", "trace", "trace_headers")


def __getattr__(name: str) -> Any:
    """The tracing functions, imported on first use: they need the OpenTelemetry SDK (the
    `sdk` extra), which the prompt client, the CLI and webhook checks do without."""
    if name in _TRACING:
        from agentdeck.sdk import tracing

        return getattr(tracing, name)
    raise AttributeError(f"module 'agentdeck.sdk' has no attribute {name!r}")


__all__ = [
    "AgentdeckAPIError",
    "AsyncPromptClient",
    "Prompt",
    "PromptClient",
    "PromptRenderError",
    "PromptUnavailableError",
    "configure",
    "configure_prompts",
    "get_prompt",
    "shutdown",
    "trace",
    "trace_headers",
    "verify_webhook",
]
