"""The in-process `fake` provider: a real `Provider` backed by the deterministic fake engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from agentdeck.errors import UpstreamStreamBrokenError, UpstreamTimeoutError
from agentdeck.gateway.fake_engine import FakeEngine, FakePlan
from agentdeck.gateway.models import JSON, ChatReply, EmbeddingReply, StreamEvent, Usage
from agentdeck.gateway.providers.base import ProviderContext, status_error
from agentdeck.settings import DeploymentSettings, FakeModelSettings


class FakeProvider:
    """Answers from the fake model named by the deployment's `model`."""

    def __init__(self, deployment: DeploymentSettings, context: ProviderContext) -> None:
        self.deployment = deployment
        self._engine = FakeEngine(context.fake_models)

    def _spec(self) -> FakeModelSettings:
        spec = self._engine.spec(self.deployment.model)
        if spec is None:
            raise status_error(
                self.deployment, 404, f"fake model {self.deployment.model!r} is not configured"
            )
        return spec

    async def _start(self, body: JSON) -> FakePlan:
        spec = self._spec()
        plan = self._engine.plan(self.deployment.model, spec, body)
        if spec.latency_ms:
            await asyncio.sleep(spec.latency_ms / 1000)
        if spec.timeout:
            await asyncio.sleep(self.deployment.timeout_s)
            raise UpstreamTimeoutError(
                f"upstream {self.deployment.id} did not answer within {self.deployment.timeout_s}s"
            )
        if plan.failure is not None:
            retry_after = plan.failure.retry_after_s
            raise status_error(
                self.deployment,
                plan.failure.status,
                plan.failure.message,
                str(retry_after) if retry_after is not None else None,
            )
        return plan

    async def chat(self, body: JSON) -> ChatReply:
        """A complete fake chat completion."""
        plan = await self._start(body)
        if plan.spec.reset_after_chunks is not None:
            raise UpstreamStreamBrokenError(
                f"upstream {self.deployment.id} closed the connection before answering"
            )
        completion = self._engine.completion(self.deployment.model, plan)
        usage = Usage(plan.prompt_tokens, plan.completion_tokens)
        return ChatReply(orjson.dumps(completion), usage, self.deployment.model)

    async def stream_chat(self, body: JSON) -> AsyncIterator[StreamEvent]:
        """The fake stream, chunk by chunk, with the configured delays and resets."""
        plan = await self._start(body)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = self._engine.chunks(self.deployment.model, plan, include_usage)
        delay = plan.spec.chunk_delay_ms / 1000
        for index, chunk in enumerate(chunks):
            if plan.spec.reset_after_chunks is not None and index >= plan.spec.reset_after_chunks:
                raise UpstreamStreamBrokenError(
                    f"upstream {self.deployment.id} reset the stream after {index} chunks"
                )
            if delay and index:
                await asyncio.sleep(delay)
            yield StreamEvent(orjson.dumps(chunk), chunk)

    async def embed(self, body: JSON) -> EmbeddingReply:
        """Deterministic fake embeddings."""
        spec = self._spec()
        await self._start(body)
        answer = self._engine.embeddings(self.deployment.model, spec, body)
        tokens = answer["usage"]["prompt_tokens"]
        return EmbeddingReply(orjson.dumps(answer), Usage(tokens, 0))

    async def aclose(self) -> None:
        """Nothing to release."""
