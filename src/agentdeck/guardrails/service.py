"""The guardrails of the server: every named guardrail built once from the settings, the
policies with their guardrails, and the choice of the policy of a call (kept per project,
alias and route, so the hot path looks it up once)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agentdeck.errors import ConfigurationError
from agentdeck.guardrails.canary import CanaryGuardrail, place_canary
from agentdeck.guardrails.models import CheckContext, Guardrail
from agentdeck.guardrails.outcome import ActiveGuardrail
from agentdeck.guardrails.pipeline import ActivePolicy, CallGuard
from agentdeck.guardrails.sanitize import sanitizer
from agentdeck.guardrails.texts import response_schema
from agentdeck.plugins import load_plugin, plugin_names
from agentdeck.settings import read_credential
from agentdeck.settings_guardrails import GuardrailPolicy, GuardrailSettings, GuardrailUse

GROUP = "agentdeck.guardrails"
BUILTIN = {
    "pii": "agentdeck.guardrails.builtin:PiiGuardrail",
    "secrets": "agentdeck.guardrails.builtin:secrets_guardrail",
    "injection": "agentdeck.guardrails.builtin:InjectionGuardrail",
    "json_schema": "agentdeck.guardrails.builtin:JsonSchemaGuardrail",
    "canary": "agentdeck.guardrails.canary:CanaryGuardrail",
    "webhook": "agentdeck.guardrails.webhook:WebhookGuardrail",
}
_CACHE_MAX = 4096  # (project, alias, route) -> policy choices kept


def guardrail_types() -> list[str]:
    """Every guardrail type a definition may name."""
    return plugin_names(GROUP, BUILTIN)


def build_guardrail(
    name: str, kind: str, options: dict[str, Any], canary_key: Callable[[], bytes]
) -> Guardrail:
    """The guardrail `name` of type `kind`, built by its registered factory."""
    factory = load_plugin(GROUP, BUILTIN, kind, f"guardrails.definitions.{name}", "guardrail type")
    if kind == "canary":
        options = {**options, "key": canary_key}
    guardrail = factory(name, options)
    if not isinstance(guardrail, Guardrail):
        raise ConfigurationError(
            f"guardrails.definitions.{name}: {kind!r} did not build a Guardrail (it needs "
            "name, window_chars, check_input, check_output and check_chunk)"
        )
    return guardrail


class Guardrails:
    """Builds the configured guardrails and hands each call its `CallGuard`."""

    def __init__(
        self,
        settings: GuardrailSettings,
        count: Callable[[str, str, str], None] = lambda guardrail, stage, action: None,
    ) -> None:
        self._settings = settings
        self._count = count
        self._key: bytes | None = None
        canary_key = self.canary_key
        self._built: dict[str, tuple[Guardrail, str]] = {}
        for name, definition in settings.definitions.items():
            self._built[name] = (
                build_guardrail(name, definition.type, definition.options, canary_key),
                definition.type,
            )
        self._policies = (
            [(spec, self._activate(spec)) for spec in settings.policies] if settings.enabled else []
        )
        self._chosen: dict[tuple[str, str, str], ActivePolicy | None] = {}

    def _use(self, use: GuardrailUse, where: str) -> ActiveGuardrail:
        found = self._built.get(use.guardrail)
        if found is None:
            if use.guardrail not in guardrail_types():
                known = sorted({*self._built, *guardrail_types()})
                raise ConfigurationError(
                    f"{where}: unknown guardrail {use.guardrail!r}; known: {', '.join(known)}"
                )
            guardrail = build_guardrail(use.guardrail, use.guardrail, {}, self.canary_key)
            found = self._built[use.guardrail] = (guardrail, use.guardrail)
        return ActiveGuardrail(found[0], found[1], use.mode)

    def _activate(self, spec: GuardrailPolicy) -> ActivePolicy:
        at = f"guardrails.policies.{spec.name}"
        uses = {
            stage: tuple(self._use(u, f"{at}.{stage}") for u in chosen)
            for stage, chosen in (("input", spec.input), ("output", spec.output),
                                  ("stream", spec.stream_uses))
        }  # fmt: skip
        held = max((u.guardrail.window_chars for u in uses["stream"]), default=0)
        return ActivePolicy(
            spec.name, uses["input"], uses["output"], uses["stream"], sanitizer(spec.sanitize),
            min(held, self._settings.stream_window_chars),
        )  # fmt: skip

    def start(self, installation_id: str) -> None:
        """Take the key canary tokens derive from: `canary_secret_env`'s value, or one derived
        from the installation id (the same on every replica of one store)."""
        variable = self._settings.canary_secret_env
        secret = read_credential(variable) if variable else None
        if variable and secret is None:
            raise ConfigurationError(
                f"guardrails.canary_secret_env: environment variable {variable} is not set"
            )
        seed = secret if secret is not None else f"agentdeck-canary\x00{installation_id}"
        self._key = hashlib.sha256(seed.encode()).digest()

    def canary_key(self) -> bytes:
        """The key of canary tokens (the server must have started)."""
        if self._key is None:
            raise ConfigurationError("canary tokens are used before the server started")
        return self._key

    @property
    def active(self) -> bool:
        """Whether any policy is configured (none: the gateway skips this step)."""
        return bool(self._policies)

    def policy_for(self, project: str, alias: str, route: str) -> ActivePolicy | None:
        """The most specific policy that applies to a call (the first listed among equals)."""
        key = (project, alias, route)
        if key in self._chosen:
            return self._chosen[key]
        best: tuple[int, ActivePolicy] | None = None
        for spec, policy in self._policies:
            if policy.matches(spec, project, alias, route):
                rank = bool(spec.projects) + bool(spec.aliases) + bool(spec.routes)
                if best is None or rank > best[0]:
                    best = (rank, policy)
        if len(self._chosen) >= _CACHE_MAX:
            self._chosen.clear()
        chosen = self._chosen[key] = best[1] if best is not None else None
        return chosen

    def for_call(self, body: dict[str, Any], context: CheckContext) -> CallGuard | None:
        """The guard of a call with `context` (None when no policy applies); places the
        canary in the request's system prompt when the policy checks for one."""
        policy = self.policy_for(context.project_id, context.alias, context.route)
        if policy is None:
            return None
        canary = next(
            (u.guardrail for u in (*policy.output, *policy.stream)
             if isinstance(u.guardrail, CanaryGuardrail)),
            None,
        )  # fmt: skip
        if canary is not None and context.route != "embeddings":
            token = canary.token(context)
            place_canary(body, token)
            context = replace(context, canary=token)
        if policy.output and context.route != "embeddings":
            context = replace(context, response_schema=response_schema(body))
        return CallGuard(policy, context, self._count)

    async def aclose(self) -> None:
        """Release what the guardrails hold (HTTP sessions of webhook guardrails)."""
        for guardrail, _ in self._built.values():
            close = getattr(guardrail, "aclose", None)
            if close is not None:
                await close()
