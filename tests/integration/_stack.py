"""The shared test stack: which fake models exist, which aliases route to them, at what price."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.integration._recorder import TOOL_MODEL, RecordingUpstream
from tests.integration._support import ServerProcess, deployment

MAX_BODY_BYTES = 65_536

FAKE_MODELS: dict[str, dict[str, Any]] = {
    "slow": {"chunks": 5, "chunk_delay_ms": 50},
    "drip": {"chunks": 10, "chunk_delay_ms": 200},
    "tooly": {
        "tool_calls": [
            {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
            {"name": "get_time", "arguments": {"tz": "Europe/Paris"}},
        ]
    },
    "structured": {"reply": '{"city": "Paris", "temperature_c": 21}'},
    "down": {"fail_status": 503, "fail_message": "model overloaded"},
    "limited": {"fail_status": 429, "retry_after_s": 7, "fail_message": "slow down"},
    "hang": {"timeout": True},
    "flaky": {"reset_after_chunks": 2, "chunks": 4, "reply": "alpha beta gamma delta"},
    "embedder": {"embedding_dimensions": 32},
}

# alias -> (upstream fake model, input price, output price, extra deployment settings)
ALIASES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "chat": ("fake", "0.15", "0.6", {}),
    "chat-metered": ("fake", "3", "15", {}),
    "chat-slow": ("slow", "0.5", "1.5", {}),
    "chat-drip": ("drip", "0", "0", {}),
    "chat-tools": ("tooly", "2.5", "10", {}),
    "chat-json": ("structured", "0.15", "0.6", {}),
    "chat-down": ("down", "1", "2", {}),
    "chat-limited": ("limited", "1", "2", {}),
    "chat-hang": ("hang", "1", "2", {"timeout_s": 1}),
    "chat-flaky": ("flaky", "1.25", "7.5", {}),
    "embed": ("embedder", "0.02", "0", {}),
}
HANG_DEADLINE_ALIAS = "chat-hang-deadline"
RECORDED_ALIAS = "recorded"
RECORDED_TOOLS_ALIAS = "recorded-tools"
RECORDED_PRICES = ("0.4", "1.6")


def gateway_config(upstream: ServerProcess, recorder: RecordingUpstream) -> dict[str, Any]:
    """The main gateway's config: every alias over HTTP, same fake models as the upstream."""
    models = {
        alias: deployment(upstream, model, input_price, output_price, **extra)
        for alias, (model, input_price, output_price, extra) in ALIASES.items()
    }
    # A request deadline shorter than the deployment's timeout: the deadline ends the call.
    models[HANG_DEADLINE_ALIAS] = {
        **deployment(upstream, "hang", "1", "2", timeout_s=30),
        "deadline_s": 1,
    }
    for alias, model in ((RECORDED_ALIAS, "upstream-recorded"), (RECORDED_TOOLS_ALIAS, TOOL_MODEL)):
        models[alias] = {
            "deployments": [
                {
                    "provider": "openai",
                    "model": model,
                    "base_url": recorder.url,
                    "input_price": RECORDED_PRICES[0],
                    "output_price": RECORDED_PRICES[1],
                }
            ]
        }
    return {
        "server": {"max_body_bytes": MAX_BODY_BYTES},
        "models": models,
        "fake_models": FAKE_MODELS,
    }


def all_model_names() -> list[str]:
    """Every model the main gateway offers: aliases, fake models, and the built-in `fake`."""
    named = {*ALIASES, HANG_DEADLINE_ALIAS, RECORDED_ALIAS, RECORDED_TOOLS_ALIAS}
    return sorted({*named, *FAKE_MODELS, "fake"})


@dataclass
class Stack:
    """The running fake upstream, recorder and gateway shared by the tests of a session."""

    upstream: ServerProcess
    gateway: ServerProcess
    recorder: RecordingUpstream

    @property
    def url(self) -> str:
        """The gateway's base URL."""
        return self.gateway.url

    @property
    def v1(self) -> str:
        """The gateway's OpenAI base URL."""
        return self.gateway.url + "/v1"

    @staticmethod
    def prices(alias: str) -> tuple[str, str]:
        """(input, output) USD per 1M tokens of `alias`."""
        if alias in (RECORDED_ALIAS, RECORDED_TOOLS_ALIAS):
            return RECORDED_PRICES
        _, input_price, output_price, _ = ALIASES[alias]
        return input_price, output_price
