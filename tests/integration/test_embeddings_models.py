"""Embeddings and the model list through the real gateway, seen by the OpenAI SDK."""

from __future__ import annotations

import base64
import math
import struct

import httpx
import openai

from agentdeck.gateway.tokens import count_text
from tests.integration._stack import (
    ALIASES,
    RECORDED_ALIAS,
    RECORDED_TOOLS_ALIAS,
    Stack,
    all_model_names,
)
from tests.integration._support import expected_cost_micros


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def test_default_sdk_embeddings_are_unit_vectors_of_the_configured_size(
    stack: Stack, client: openai.OpenAI
) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="embed", input=["the quick brown fox", "jumps over the lazy dog"]
    )
    result = raw.parse()

    assert [item.index for item in result.data] == [0, 1]
    assert [len(item.embedding) for item in result.data] == [32, 32]
    assert all(abs(_norm(item.embedding) - 1.0) < 1e-5 for item in result.data)
    assert result.data[0].embedding != result.data[1].embedding
    tokens = count_text("the quick brown fox") + count_text("jumps over the lazy dog")
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (tokens, tokens)
    assert raw.headers["x-agentdeck-deployment"] == "embed/0"
    assert int(raw.headers["x-agentdeck-cost-micros"]) == expected_cost_micros(
        tokens, 0, *stack.prices("embed")
    )


def test_float_and_base64_encodings_agree_and_are_deterministic(client: openai.OpenAI) -> None:
    text = "same input, same vector"
    as_float = client.embeddings.create(model="embed", input=text, encoding_format="float")
    again = client.embeddings.create(model="embed", input=text, encoding_format="float")
    default = client.embeddings.create(model="embed", input=text)

    vector = as_float.data[0].embedding
    assert len(vector) == 32
    assert abs(_norm(vector) - 1.0) < 1e-9  # float encoding is exact double precision
    assert again.data[0].embedding == vector
    assert len(default.data[0].embedding) == 32
    assert all(abs(a - b) < 1e-6 for a, b in zip(default.data[0].embedding, vector, strict=True))


def test_raw_base64_embedding_decodes_to_float32_vector(stack: Stack) -> None:
    response = httpx.post(
        stack.v1 + "/embeddings",
        json={"model": "embed", "input": "decode me", "encoding_format": "base64"},
    )
    assert response.status_code == 200
    encoded = response.json()["data"][0]["embedding"]
    raw = base64.b64decode(encoded)
    assert len(raw) == 32 * 4
    vector = struct.unpack("<32f", raw)
    assert abs(_norm(list(vector)) - 1.0) < 1e-5


def test_dimensions_parameter_is_passed_through(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="embed", input="short", dimensions=8, encoding_format="float"
    )
    assert len(result.data[0].embedding) == 8
    assert abs(_norm(result.data[0].embedding) - 1.0) < 1e-9


def test_in_process_fake_embeddings_have_the_default_size(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="fake", input="hello", encoding_format="float")
    assert len(result.data[0].embedding) == 64
    assert result.usage.prompt_tokens == count_text("hello")


def test_models_list_names_every_alias(client: openai.OpenAI) -> None:
    models = client.models.list()
    ids = [model.id for model in models]
    assert ids == all_model_names()
    owners = {model.id: model.owned_by for model in models}
    assert {owners[alias] for alias in [*ALIASES, RECORDED_ALIAS, RECORDED_TOOLS_ALIAS]} == {
        "agentdeck"
    }
    assert owners["fake"] == "agentdeck-fake"
    assert owners["slow"] == "agentdeck-fake"
    assert all(model.object == "model" for model in models)


async def test_async_models_list_and_embeddings(stack: Stack) -> None:
    async with openai.AsyncOpenAI(base_url=stack.v1, api_key="k", max_retries=0) as client:
        ids = [model.id async for model in client.models.list()]
        result = await client.embeddings.create(model="embed", input=["a", "b", "c"])
    assert ids == all_model_names()
    assert len(result.data) == 3
    assert len({tuple(item.embedding) for item in result.data}) == 3
