"""Cost of a call in integer micro-dollars."""

from __future__ import annotations

from agentdeck.gateway.models import Usage
from agentdeck.settings import DeploymentSettings

_PER_MTOK = 1_000_000


def cost_micros(usage: Usage, deployment: DeploymentSettings) -> int:
    """Input and output tokens at the deployment's prices, rounded up to a whole micro-dollar.

    Rounding up once per call means agentdeck never reports less than the provider bills.
    """
    micros_times_mtok = (
        usage.input_tokens * deployment.input_micros_per_mtok
        + usage.output_tokens * deployment.output_micros_per_mtok
    )
    return -(-micros_times_mtok // _PER_MTOK)
