"""The `bedrock` provider: Amazon Bedrock's Converse API, signed with AWS Signature V4.

`model` is the Bedrock model id (or inference profile); `region` is required; `base_url`
defaults to https://bedrock-runtime.{region}.amazonaws.com. Credentials are read from the
environment variables the deployment names (by default AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN). Streams arrive in the AWS event-stream binary
framing, decoded with botocore (which checks every message's CRCs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from agentdeck.errors import ConfigurationError, UpstreamError, UpstreamStreamBrokenError
from agentdeck.gateway.formats.bedrock import (
    BedrockStreamToOpenAI,
    request_to_bedrock,
    response_to_openai,
)
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext, status_error
from agentdeck.gateway.providers.http_upstream import HTTPUpstream, describe
from agentdeck.settings import DeploymentSettings, read_credential


class BedrockProvider:
    """Translates each call to Converse / ConverseStream and the answer back."""

    times_whole_calls = True  # HTTPUpstream: a total timeout of timeout_s per call

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        if not deployment.region:
            raise ConfigurationError(f"deployment {deployment.id}: bedrock needs `region`")
        self.deployment = deployment
        self._region = deployment.region
        base = deployment.base_url or f"https://bedrock-runtime.{deployment.region}.amazonaws.com"
        model_url = f"{base.rstrip('/')}/model/{quote(deployment.model, safe='')}"
        self._url = model_url + "/converse"
        self._stream_url = model_url + "/converse-stream"
        self._http = HTTPUpstream(deployment, context, credential_header=None)
        self._credentials = (
            read_credential(deployment.aws_access_key_id_env),
            read_credential(deployment.aws_secret_access_key_env),
            read_credential(deployment.aws_session_token_env),
        )

    def _sign(self, url: str, data: bytes) -> Mapping[str, str]:
        """SigV4 headers for POSTing `data` to `url`."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        key, secret, token = self._credentials
        if not key or not secret:
            raise ConfigurationError(
                f"deployment {self.deployment.id}: environment variables "
                f"{self.deployment.aws_access_key_id_env} and "
                f"{self.deployment.aws_secret_access_key_env} must be set"
            )
        request = AWSRequest("POST", url, data=data, headers={"content-type": "application/json"})
        SigV4Auth(Credentials(key, secret, token), "bedrock", self._region).add_auth(request)
        return dict(request.headers.items())

    async def chat(self, body: JSON) -> ChatReply:
        """POST /converse."""
        _, answer = await self._http.post_json(self._url, request_to_bedrock(body), sign=self._sign)
        if not isinstance(answer, dict) or "output" not in answer:
            raise UpstreamError(f"upstream {self.deployment.id} answered without output")
        completion = response_to_openai(answer, self.deployment.model)
        usage = Usage.from_openai(completion["usage"]) or Usage(counted=True)
        return ChatReply(orjson.dumps(completion), usage, self.deployment.model)

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """POST /converse-stream, decoding the event stream into OpenAI chunks."""
        from botocore.eventstream import EventStreamBuffer

        response = await self._http.post(
            self._stream_url, request_to_bedrock(body), streaming=True, sign=self._sign
        )
        translator = BedrockStreamToOpenAI(self.deployment.model)
        frames = EventStreamBuffer()
        try:
            async for data in response.content.iter_any():
                frames.add_data(data)
                for frame in frames:
                    for chunk in self._translate(translator, frame):
                        yield StreamEvent(orjson.dumps(chunk), chunk)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} broke off the stream: {describe(exc)}"
            ) from exc
        finally:
            response.release()
        if not translator.finished:
            raise self._http.broken("ended the stream before its metadata event")

    def _translate(self, translator: BedrockStreamToOpenAI, frame: Any) -> list[JSON]:
        headers = frame.headers
        if headers.get(":message-type") != "event":
            kind = headers.get(":exception-type") or headers.get(":error-code") or "error"
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} failed mid-stream: {kind}: "
                f"{frame.payload.decode('utf-8', 'replace')[:300]}"
            )
        try:
            payload = orjson.loads(frame.payload or b"{}")
        except orjson.JSONDecodeError as exc:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} sent an event that is not JSON"
            ) from exc
        return translator.feed(str(headers.get(":event-type")), payload)

    async def embed(self, body: JSON) -> EmbeddingReply:
        """Embeddings on Bedrock go through InvokeModel per model family; not offered here."""
        raise status_error(self.deployment, 400, "the bedrock provider serves chat only (Converse)")

    async def aclose(self) -> None:
        """Close the pooled session."""
        await self._http.aclose()
