"""Choosing a call's policy, building guardrails from definitions and entry points, and
refusing bad configurations with the name of what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentdeck.errors import ConfigurationError
from agentdeck.guardrails.builtin import InjectionGuardrail, PiiGuardrail
from agentdeck.guardrails.models import CheckContext
from agentdeck.guardrails.service import Guardrails, guardrail_types
from agentdeck.settings_guardrails import GuardrailSettings
from tests.plugin_package import installed_package


def _guardrails(**values: Any) -> Guardrails:
    guardrails = Guardrails(GuardrailSettings(**values))
    guardrails.start("installation-1")
    return guardrails


POLICIES = [
    {"name": "everyone", "input": [{"guardrail": "pii"}]},
    {"name": "support", "projects": ["support*"], "input": [{"guardrail": "injection"}]},
    {"name": "support-gpt", "projects": ["support"], "aliases": ["gpt-*"],
     "input": [{"guardrail": "secrets"}]},
    {"name": "embeddings", "routes": ["embeddings"], "input": []},
    {"name": "second-everyone", "input": [{"guardrail": "canary"}]},
]  # fmt: skip


@pytest.mark.parametrize(
    ("project", "alias", "route", "chosen"),
    [
        ("main", "claude", "chat", "everyone"),  # the first of equals
        ("support-eu", "claude", "chat", "support"),
        ("support", "gpt-4o", "messages", "support-gpt"),  # most specific
        ("support", "claude", "chat", "support"),
        ("main", "gpt-4o", "embeddings", "embeddings"),
    ],
)
def test_the_most_specific_policy_wins(project: str, alias: str, route: str, chosen: str) -> None:
    guardrails = _guardrails(policies=POLICIES)
    policy = guardrails.policy_for(project, alias, route)
    assert policy is not None
    assert policy.name == chosen


def test_no_policy_means_no_guard_and_disabled_means_none_at_all() -> None:
    only_support = [{"name": "s", "projects": ["support"], "input": [{"guardrail": "pii"}]}]
    guardrails = _guardrails(policies=only_support)
    assert guardrails.for_call({}, CheckContext(project_id="main")) is None
    assert guardrails.for_call({}, CheckContext(project_id="support")) is not None
    off = _guardrails(enabled=False, policies=only_support)
    assert not off.active
    assert off.for_call({}, CheckContext(project_id="support")) is None


def test_definitions_carry_options_and_types_are_usable_by_name() -> None:
    guardrails = _guardrails(
        definitions={"strict": {"type": "injection", "options": {"threshold": 0.3}},
                     "mail": {"type": "pii", "options": {"kinds": ["EMAIL"]}}},
        policies=[{"name": "p", "input": [{"guardrail": "strict"}, {"guardrail": "mail"},
                                          {"guardrail": "pii", "mode": "flag"}]}],
    )  # fmt: skip
    policy = guardrails.policy_for("p", "a", "chat")
    assert policy is not None
    strict, mail, pii = (use.guardrail for use in policy.input)
    assert isinstance(strict, InjectionGuardrail)
    assert strict.threshold == 0.3
    assert isinstance(mail, PiiGuardrail)
    assert mail.kinds == ("EMAIL",)
    assert isinstance(pii, PiiGuardrail)
    assert len(pii.kinds) > 5
    assert [use.mode for use in policy.input] == [None, None, "flag"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"policies": [{"name": "p", "input": [{"guardrail": "nope"}]}]},
         "guardrails.policies.p.input: unknown guardrail 'nope'; known: "),
        ({"definitions": {"x": {"type": "nope"}}},
         "guardrails.definitions.x: unknown guardrail type 'nope'; known: "),
        ({"definitions": {"x": {"type": "injection", "options": {"threshold": 2}}}},
         "guardrail 'x': threshold must be in (0, 1]"),
        ({"definitions": {"x": {"type": "pii", "options": {"kinds": ["NAME"]}}}},
         "guardrail 'x': unknown kinds ['NAME']"),
        ({"definitions": {"x": {"type": "pii", "options": {"colour": 1}}}},
         "guardrail 'x': unknown options ['colour']"),
        ({"definitions": {"x": {"type": "webhook", "options": {"url": "ftp://h"}}}},
         "guardrail 'x': url must be an http(s) URL"),
        ({"definitions": {"x": {"type": "webhook",
                                "options": {"url": "http://h", "timeout_s": "soon"}}}},
         "guardrail 'x': timeout_s must be a number"),
        ({"definitions": {"x": {"type": "webhook",
                                "options": {"url": "http://h", "headers": ["a"]}}}},
         "guardrail 'x': headers must map names to strings"),
    ],
)  # fmt: skip
def test_bad_configurations_name_the_problem(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _guardrails(**values)
    assert caught.value.message.startswith(message), caught.value.message


def test_settings_refuse_bad_names_and_twin_policies() -> None:
    with pytest.raises(ValueError, match="guardrail names must match"):
        GuardrailSettings(definitions={"Bad Name": {"type": "pii"}})
    with pytest.raises(ValueError, match="two policies are named 'p'"):
        GuardrailSettings(policies=[{"name": "p"}, {"name": "p"}])


def test_the_canary_key_comes_from_the_environment_when_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_KEY_FOR_TEST", "s3cret")
    named = Guardrails(GuardrailSettings(canary_secret_env="CANARY_KEY_FOR_TEST"))
    named.start("installation-1")
    derived = Guardrails(GuardrailSettings())
    derived.start("installation-1")
    assert named.canary_key() != derived.canary_key()
    missing = Guardrails(GuardrailSettings(canary_secret_env="NOT_SET_ANYWHERE_42"))
    with pytest.raises(ConfigurationError, match="NOT_SET_ANYWHERE_42 is not set"):
        missing.start("installation-1")


@pytest.fixture
def installed_guardrail(tmp_path: Path) -> Iterator[str]:
    """A package `shoutguard` whose dist-info registers the guardrail type `shout`."""
    with installed_package(
        tmp_path,
        "shoutguard",
        """
            from agentdeck.guardrails.models import Verdict

            class Shout:
                window_chars = 0

                def __init__(self, name, options):
                    self.name = name
                    self.limit = options.get("limit", 3)

                def _verdict(self, text):
                    if sum(c.isupper() for c in text) > self.limit:
                        return Verdict(self.name, "block", ("too loud",))
                    return Verdict(self.name)

                async def check_input(self, text, context):
                    return self._verdict(text)

                async def check_output(self, text, context):
                    return self._verdict(text)

                async def check_chunk(self, window, context):
                    return self._verdict(window)

            def not_a_guardrail(name, options):
                return object()
            """,
        {
            "agentdeck.guardrails": {
                "shout": "shoutguard:Shout",
                "broken": "shoutguard:not_a_guardrail",
            }
        },
    ):
        yield "shout"


async def test_a_third_party_guardrail_registers_through_an_entry_point(
    installed_guardrail: str,
) -> None:
    assert {"shout", "broken", "pii", "injection", "webhook"} <= set(guardrail_types())
    guardrails = _guardrails(
        definitions={"loud": {"type": installed_guardrail, "options": {"limit": 2}}},
        policies=[{"name": "p", "input": [{"guardrail": "loud"}]}],
    )
    guard = guardrails.for_call({}, CheckContext())
    assert guard is not None
    await guard.check_request({"messages": [{"role": "user", "content": "Hi There"}]})
    with pytest.raises(Exception, match="guardrail 'loud' blocked the request: too loud"):
        await guard.check_request({"messages": [{"role": "user", "content": "HI THERE"}]})
    with pytest.raises(ConfigurationError, match="did not build a Guardrail"):
        _guardrails(definitions={"b": {"type": "broken"}})
