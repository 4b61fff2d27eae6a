"""The deterministic fake model: what it answers, streams, and how it fails.

Shared by the in-process `fake` provider and `agentdeck fake-upstream`, so a fake model behaves
the same whether the gateway calls it directly or over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson

from agentdeck.gateway.models import JSON
from agentdeck.gateway.tokens import content_text, count_messages, count_text
from agentdeck.settings import FakeModelSettings

BUILTIN_FAKE_MODEL = "fake"


@dataclass(frozen=True, slots=True)
class FakeFailure:
    """An injected failure: an HTTP status with an OpenAI-shaped error body."""

    status: int
    message: str
    retry_after_s: int | None
    code: str | None = None

    def body(self) -> JSON:
        """The OpenAI-format error body."""
        kind = "rate_limit_error" if self.status == 429 else "upstream_error"
        if 400 <= self.status < 500 and self.status != 429:
            kind = "invalid_request_error"
        code = self.code or str(self.status)
        return {"error": {"message": self.message, "type": kind, "code": code}}


@dataclass(frozen=True, slots=True)
class FakePlan:
    """What one request to a fake model will do."""

    spec: FakeModelSettings
    failure: FakeFailure | None
    text: str
    tool_calls: list[JSON]
    prompt_tokens: int
    completion_tokens: int


class FakeEngine:
    """Builds fake answers; keeps per-model counters for `replies` cycling and `fail_times`."""

    def __init__(self, models: dict[str, FakeModelSettings]) -> None:
        self._models = {BUILTIN_FAKE_MODEL: FakeModelSettings(), **models}
        self._served: dict[str, itertools.count[int]] = {}
        self._ids = itertools.count(1)

    def model_names(self) -> list[str]:
        """Every fake model this engine serves."""
        return sorted(self._models)

    def spec(self, model: str) -> FakeModelSettings | None:
        """The behaviour of `model`, or None when it is not a fake model here."""
        return self._models.get(model)

    def plan(self, model: str, spec: FakeModelSettings, body: JSON) -> FakePlan:
        """Decide this request's outcome; counts the request for `replies` and `fail_times`."""
        counter_key = model if "messages" in body else model + ":embeddings"
        nth = next(self._served.setdefault(counter_key, itertools.count()))
        failure = None
        if spec.fail_status is not None and (spec.fail_times is None or nth < spec.fail_times):
            failure = FakeFailure(spec.fail_status, spec.fail_message, spec.retry_after_s)
        messages = body.get("messages") or []
        prompt_tokens = count_messages(messages)
        if (
            failure is None
            and spec.context_window is not None
            and prompt_tokens > spec.context_window
        ):
            failure = FakeFailure(
                400,
                f"This model's maximum context length is {spec.context_window} tokens, "
                f"but the request has {prompt_tokens} tokens.",
                None,
                "context_length_exceeded",
            )
        tool_calls: list[JSON] = [
            {
                "id": f"call_{nth}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
            }
            for index, call in enumerate(spec.tool_calls)
        ]
        if spec.replies:
            text = spec.replies[nth % len(spec.replies)]
        elif spec.reply is not None:
            text = spec.reply
        else:
            text = _last_user_text(messages)
        if tool_calls:
            text = ""
        completion = count_text(text) + sum(
            count_text(c["function"]["name"]) + count_text(c["function"]["arguments"])
            for c in tool_calls
        )
        return FakePlan(spec, failure, text, tool_calls, prompt_tokens, completion)

    def _envelope(self, obj: str, model: str) -> JSON:
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": obj,
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_agentdeck_fake",
        }

    def completion(self, model: str, plan: FakePlan) -> JSON:
        """A `chat.completion` object."""
        message: JSON = {"role": "assistant", "content": plan.text or None, "refusal": None}
        if plan.tool_calls:
            message["tool_calls"] = plan.tool_calls
        return {
            **self._envelope("chat.completion", model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if plan.tool_calls else "stop",
                }
            ],
            "usage": _usage(plan),
        }

    def chunks(self, model: str, plan: FakePlan, include_usage: bool) -> list[JSON]:
        """The `chat.completion.chunk` objects of a stream, the usage chunk last when asked."""
        envelope = self._envelope("chat.completion.chunk", model)

        def chunk(delta: JSON, finish: str | None = None) -> JSON:
            return {
                **envelope,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        # OpenAI opens a tool-call stream with null content, a text stream with "".
        out = [chunk({"role": "assistant", "content": None if plan.tool_calls else ""})]
        if plan.tool_calls:
            for index, call in enumerate(plan.tool_calls):
                function = call["function"]
                head = {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": function["name"], "arguments": ""},
                }
                out.append(chunk({"tool_calls": [head]}))
                out.extend(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    for piece in split_text(function["arguments"], plan.spec.chunks or 2)
                )
            out.append(chunk({}, "tool_calls"))
        else:
            out.extend(
                chunk({"content": piece}) for piece in split_text(plan.text, plan.spec.chunks)
            )
            out.append(chunk({}, "stop"))
        if include_usage:
            out.append({**envelope, "choices": [], "usage": _usage(plan)})
        return out

    def embeddings(self, model: str, spec: FakeModelSettings, body: JSON) -> JSON:
        """Deterministic unit vectors derived from each input's hash."""
        raw = body.get("input")
        inputs = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        dims = body.get("dimensions") or spec.embedding_dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            tokens += count_text(text) if isinstance(item, str) else len(item or [])
            vector = _vector(text, dims)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _usage(plan: FakePlan) -> JSON:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def split_text(text: str, pieces: int | None) -> list[str]:
    """`text` in `pieces` nearly equal parts, or word by word (spaces kept) when None."""
    if not text:
        return []
    if pieces is None:
        words = text.split(" ")
        return [w + " " for w in words[:-1]] + ([words[-1]] if words[-1] else [])
    size = max(1, math.ceil(len(text) / pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
