"""The model catalog: every alias a client may name, with its deployments and their providers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from agentdeck.errors import ModelNotFoundError
from agentdeck.gateway.fake_engine import BUILTIN_FAKE_MODEL
from agentdeck.gateway.price_table import SHIPPED, PriceRow, as_prices, lookup
from agentdeck.gateway.providers import Provider, ProviderContext, create_provider
from agentdeck.gateway.rules import RuleSet
from agentdeck.settings import DeploymentSettings, ModelAliasSettings, Settings


@dataclass(frozen=True, slots=True)
class Deployment:
    """A configured deployment with its live provider."""

    settings: DeploymentSettings
    provider: Provider
    # Whether a whole (not streamed) call ends within `settings.timeout_s` by the provider's
    # own doing (a total timeout on its HTTP request): then a request deadline further away
    # needs no timer of its own.
    times_whole_calls: bool = False

    @property
    def id(self) -> str:
        """The deployment id shown in headers and metrics."""
        return self.settings.id or ""

    @property
    def timeout_after(self) -> float:
        """Seconds by which a whole call has surely ended when `times_whole_calls`: its
        timeout, with a second to spare for reading and mapping the failure."""
        return self.settings.timeout_s + 1.0


@dataclass(frozen=True, slots=True)
class ModelAlias:
    """A model name clients use, and where it can be served."""

    name: str
    deployments: tuple[Deployment, ...]
    spec: ModelAliasSettings
    owned_by: str
    canary: Deployment | None = None
    shadow: Deployment | None = None
    rules: RuleSet | None = None

    @property
    def strategy(self) -> str:
        """How its deployments are ordered."""
        return self.spec.strategy


def _alias_specs(settings: Settings) -> dict[str, tuple[ModelAliasSettings, str]]:
    specs = {name: (spec, "agentdeck") for name, spec in settings.models.items()}
    fake_names = [BUILTIN_FAKE_MODEL] if settings.gateway.builtin_fake else []
    fake_names += list(settings.fake_models)
    for name in fake_names:
        if name not in specs:
            deployment = DeploymentSettings(id=f"{name}/fake", provider="fake", model=name)
            specs[name] = (
                ModelAliasSettings(deployments=[deployment], description="built-in fake model"),
                "agentdeck-fake",
            )
    return specs


def price_table(settings: Settings) -> dict[str, PriceRow]:
    """The shipped price table with the config's `gateway.prices` over it."""
    table = dict(SHIPPED)
    for model, price in settings.gateway.prices.items():
        table[model] = (
            str(price.input),
            str(price.output),
            None if price.cached_input is None else str(price.cached_input),
            None if price.cache_write is None else str(price.cache_write),
        )
    return table


def with_prices(deployment: DeploymentSettings, table: dict[str, PriceRow]) -> DeploymentSettings:
    """The deployment with prices from the table where it sets none (fake models are free)."""
    if deployment.provider == "fake" or (
        deployment.input_price is not None and deployment.output_price is not None
    ):
        return deployment
    row = lookup(deployment.model, table)
    if row is None:
        return deployment
    known = as_prices(row)
    update = {k: v for k, v in known.items() if getattr(deployment, k) is None}
    return deployment.model_copy(update=update)


class ModelCatalog:
    """Aliases and their deployments, built once from settings; providers live as long as it."""

    def __init__(
        self, settings: Settings, credential: Callable[[str], str | None] | None = None
    ) -> None:
        context = ProviderContext(
            gateway=settings.gateway, fake_models=settings.fake_models, credential=credential
        )
        self._aliases: dict[str, ModelAlias] = {}
        self._worst: dict[str, tuple[int, int]] = {}
        self._unit_prices: dict[str, tuple[int, int] | None] = {}
        self._table = table = price_table(settings)
        for name, (spec, owner) in _alias_specs(settings).items():

            def build(settings: DeploymentSettings) -> Deployment:
                priced = with_prices(settings, table)
                provider = create_provider(priced, context)
                timed = getattr(provider, "times_whole_calls", False) is True
                return Deployment(priced, provider, timed)

            self._aliases[name] = ModelAlias(
                name,
                tuple(build(d) for d in spec.deployments),
                spec,
                owner,
                canary=build(spec.canary.deployment) if spec.canary else None,
                shadow=build(spec.shadow.deployment) if spec.shadow else None,
                rules=RuleSet(spec) if spec.rules else None,
            )

    def resolve(self, name: str) -> ModelAlias:
        """The alias `name`; an unknown name is a 404 that lists what exists."""
        alias = self._aliases.get(name)
        if alias is None:
            known = ", ".join(sorted(self._aliases)) or "none"
            raise ModelNotFoundError(
                f"model {name!r} does not exist; available models: {known}", param="model"
            )
        return alias

    def worst_prices(self, name: str) -> tuple[int, int]:
        """The highest (input, output) micro-dollars per million tokens of any deployment a
        call to `name` may reach: its own, canary, rule targets and fallbacks, transitively.
        Budgets reserve against these."""
        found = self._worst.get(name)
        if found is None:
            seen: set[str] = set()
            pending = [name]
            highest_in = highest_out = 0
            while pending:
                alias = self._aliases.get(pending.pop())
                if alias is None or alias.name in seen:
                    continue
                seen.add(alias.name)
                for deployment in (*alias.deployments, alias.canary):
                    if deployment is not None:
                        priced = deployment.settings
                        highest_in = max(highest_in, priced.input_micros_per_mtok,
                                         priced.cache_write_micros_per_mtok)  # fmt: skip
                        highest_out = max(highest_out, priced.output_micros_per_mtok)
                spec = alias.spec
                pending += [rule.route_to for rule in spec.rules]
                pending += [spec.default] if spec.default else []
                for targets in spec.fallbacks.model_dump().values():
                    pending += targets
            found = self._worst[name] = (highest_in, highest_out)
        return found

    def price(self, model: str, input_tokens: int, output_tokens: int) -> int | None:
        """What `input_tokens` and `output_tokens` of `model` cost in micro-dollars (rounded
        up): an alias's first deployment's prices, else the price table's; None when the
        model has no known price. For spans received over OTLP, whose cost nobody measured."""
        if model in self._unit_prices:
            unit = self._unit_prices[model]
        else:
            unit = self._unit_price(model)
            if len(self._unit_prices) < 10_000:  # model names come from clients: bounded
                self._unit_prices[model] = unit
        if unit is None:
            return None
        total = input_tokens * unit[0] + output_tokens * unit[1]
        return -(-total // 1_000_000)

    def _unit_price(self, model: str) -> tuple[int, int] | None:
        alias = self._aliases.get(model)
        if alias is not None and alias.deployments:
            priced = alias.deployments[0].settings
            return priced.input_micros_per_mtok, priced.output_micros_per_mtok
        row = lookup(model, self._table)
        if row is None:
            return None
        return round(Decimal(row[0]) * 1_000_000), round(Decimal(row[1]) * 1_000_000)

    def deployment_ids(self) -> list[str]:
        """Every deployment id of every alias, canary and shadow ones included."""
        return [d.id for alias in self._aliases.values() for d in _all(alias)]

    def aliases(self) -> list[ModelAlias]:
        """Every alias, sorted by name."""
        return [self._aliases[name] for name in sorted(self._aliases)]

    async def aclose(self) -> None:
        """Close every provider's connections."""
        for alias in self._aliases.values():
            for deployment in _all(alias):
                await deployment.provider.aclose()


def _all(alias: ModelAlias) -> list[Deployment]:
    return [*alias.deployments, *(d for d in (alias.canary, alias.shadow) if d is not None)]
