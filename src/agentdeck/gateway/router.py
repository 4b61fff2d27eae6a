"""Choosing the deployment that serves a call."""

from __future__ import annotations

from agentdeck.gateway.catalog import Deployment, ModelAlias


class Router:
    """Picks a deployment for an alias: the first one, in configured order.

    Routing strategies (weighted, latency, cost, least busy), fallbacks and breakers plug in here.
    """

    def pick(self, alias: ModelAlias) -> Deployment:
        """The deployment to call for `alias`."""
        return alias.deployments[0]
