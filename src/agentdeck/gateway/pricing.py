"""Cost of a call in integer micro-dollars."""

from __future__ import annotations

from agentdeck.gateway.models import Usage
from agentdeck.settings import DeploymentSettings

_PER_MTOK = 1_000_000


def cost_micros(usage: Usage, deployment: DeploymentSettings) -> int:
    """Tokens at the deployment's prices (fresh input, cache reads, cache writes, output),
    rounded up to a whole micro-dollar.

    Rounding up once per call means agentdeck never reports less than the provider bills.
    """
    cached, written = usage.cached_input_tokens, usage.cache_write_tokens
    fresh = max(0, usage.input_tokens - cached - written)
    micros_times_mtok = (
        fresh * deployment.input_micros_per_mtok
        + cached * deployment.cached_input_micros_per_mtok
        + written * deployment.cache_write_micros_per_mtok
        + usage.output_tokens * deployment.output_micros_per_mtok
    )
    return -(-micros_times_mtok // _PER_MTOK)
