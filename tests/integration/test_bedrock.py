"""The `bedrock` provider over loopback: Converse and ConverseStream (AWS event-stream framing,
decoded by botocore with its CRC checks) against the fake upstream, with the real SDKs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from agentdeck.gateway.providers.base import ProviderContext
from agentdeck.gateway.providers.bedrock import BedrockProvider
from agentdeck.settings import DeploymentSettings
from tests.integration._support import (
    ServerProcess,
    chat_usage,
    expected_cost_micros,
    start_fake_upstream,
    start_gateway,
)

FAKE_MODELS = {
    "claude": {"reply": "Converse says hello"},
    "tooly": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                             {"name": "get_time", "arguments": {"tz": "CET"}}]},
}  # fmt: skip
MODEL_ID = "anthropic.claude-haiku:0"  # a colon, as real Bedrock ids have: it must be encoded


@pytest.fixture(scope="module")
def bedrock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fake upstream serving Converse, and a gateway with bedrock deployments in front."""
    root: Path = tmp_path_factory.mktemp("bedrock")
    models = {**FAKE_MODELS, MODEL_ID: {"reply": "Converse says hello"}}
    upstream = start_fake_upstream(root, {"fake_models": models})
    upstream.wait_ready()

    def bedrock(model: str) -> dict[str, Any]:
        return {"deployments": [{
            "provider": "bedrock", "model": model, "region": "eu-west-1",
            "base_url": upstream.url, "input_price": "0.8", "output_price": "4",
            "aws_access_key_id_env": "TEST_AWS_KEY", "aws_secret_access_key_env": "TEST_AWS_SECRET",
        }]}  # fmt: skip

    import os

    os.environ["TEST_AWS_KEY"], os.environ["TEST_AWS_SECRET"] = "AKIDEXAMPLE", "wJalrXUtnFEMI"
    try:
        gateway = start_gateway(
            root, {"models": {"converse": bedrock(MODEL_ID), "converse-tools": bedrock("tooly")}}
        )
        gateway.wait_ready()
    finally:
        del os.environ["TEST_AWS_KEY"], os.environ["TEST_AWS_SECRET"]
    yield gateway
    gateway.stop()
    upstream.stop()


MSG = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello bedrock"}]


def test_whole_and_streamed_text(bedrock_gateway: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{bedrock_gateway.url}/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="converse", messages=MSG)
    answer = raw.parse()
    assert answer.choices[0].message.content == "Converse says hello"
    assert answer.choices[0].finish_reason == "stop"
    prompt, output = chat_usage(MSG, "Converse says hello")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (prompt, output)
    assert raw.headers["x-agentdeck-cost-micros"] == str(
        expected_cost_micros(prompt, output, "0.8", "4")
    )
    pieces, usage = [], None
    for chunk in client.chat.completions.create(
        model="converse", messages=MSG, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    assert pieces == ["", "Converse ", "says ", "hello", ""]
    assert usage is not None
    assert usage.completion_tokens == output


def test_parallel_tool_calls_whole_and_streamed(bedrock_gateway: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{bedrock_gateway.url}/v1", api_key="x", max_retries=0)
    whole = client.chat.completions.create(model="converse-tools", messages=MSG)
    calls = whole.choices[0].message.tool_calls or []
    assert whole.choices[0].finish_reason == "tool_calls"
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("tooluse_call_0_0", "get_weather", {"city": "Oslo"}),
        ("tooluse_call_0_1", "get_time", {"tz": "CET"}),
    ]
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    finish = None
    for chunk in client.chat.completions.create(model="converse-tools", messages=MSG, stream=True):
        for call in chunk.choices[0].delta.tool_calls or []:
            arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")
            if call.function.name:
                names[call.index] = call.function.name
        finish = chunk.choices[0].finish_reason or finish
    assert names == {0: "get_weather", 1: "get_time"}
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: {"city": "Oslo"},
                                                                  1: {"tz": "CET"}}  # fmt: skip
    assert finish == "tool_calls"


def test_anthropic_client_streams_through_bedrock(bedrock_gateway: ServerProcess) -> None:
    claude = anthropic.Anthropic(base_url=bedrock_gateway.url, api_key="x", max_retries=0)
    with claude.messages.stream(
        model="converse", max_tokens=50, system="be brief",
        messages=[{"role": "user", "content": "hello bedrock"}],
    ) as stream:  # fmt: skip
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Converse says hello"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == chat_usage(MSG, text)[1]


def test_requests_are_signed_with_sigv4() -> None:
    deployment = DeploymentSettings(
        id="b/0", provider="bedrock", model=MODEL_ID, region="us-east-1",
        aws_access_key_id_env="TEST_SIGN_KEY", aws_secret_access_key_env="TEST_SIGN_SECRET",
        aws_session_token_env="TEST_SIGN_TOKEN",
    )  # fmt: skip
    import os

    os.environ.update(TEST_SIGN_KEY="AKIDEXAMPLE", TEST_SIGN_SECRET="secret",
                      TEST_SIGN_TOKEN="session-token")  # fmt: skip
    try:
        provider = BedrockProvider(deployment, ProviderContext())
    finally:
        for name in ("TEST_SIGN_KEY", "TEST_SIGN_SECRET", "TEST_SIGN_TOKEN"):
            del os.environ[name]
    url = provider._url
    assert url == (
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-haiku%3A0/converse"
    )
    headers = {k.lower(): v for k, v in provider._sign(url, b'{"messages":[]}').items()}
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/bedrock/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]*host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}",
        headers["authorization"],
    ), headers["authorization"]
    assert headers["x-amz-security-token"] == "session-token"
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["x-amz-date"])
