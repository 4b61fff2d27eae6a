"""Rendering a prompt locally (sandboxed, strict about variables) and the API client's errors."""

from __future__ import annotations

import httpx
import pytest

from agentdeck.sdk.client import AgentdeckAPIError, ApiClient, prompt_path
from agentdeck.sdk.prompts import Prompt, PromptRenderError
from tests.unit.sdk._stub import PromptStub, version


def _prompt(**content: object) -> Prompt:
    return Prompt.from_version({"name": "p", "version": 4, "content": content})


def test_a_chat_prompt_renders_its_messages_and_carries_its_params() -> None:
    prompt = Prompt.from_version(version("support/triage", 7), label="production")
    assert (prompt.name, prompt.version, prompt.type, prompt.label) == (
        "support/triage", 7, "chat", "production"
    )  # fmt: skip
    assert prompt.params == {"temperature": 0.2}
    assert prompt.model == "chat"
    assert prompt.tools is None
    assert prompt.render({"who": "Ada"}) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello Ada"},
    ]
    with pytest.raises(TypeError, match="chat prompt"):
        prompt.render_text({"who": "Ada"})


def test_variables_are_checked_against_the_schema() -> None:
    prompt = Prompt.from_version(version("p", 1))
    with pytest.raises(PromptRenderError) as missing:
        prompt.render({})
    assert (str(missing.value), missing.value.param) == ("missing variables: who", "variables.who")
    with pytest.raises(PromptRenderError) as unknown:
        prompt.render({"who": "A", "whom": "B"})
    assert (str(unknown.value), unknown.value.param) == (
        "unknown variables: whom (the prompt declares who)",
        "variables.whom",
    )
    with pytest.raises(PromptRenderError) as typed:
        prompt.render({"who": 3})
    assert typed.value.param == "variables.who"
    assert str(typed.value) == "variables.who: 3 is not of type 'string'"


def test_schema_defaults_fill_in_and_a_declared_schema_closes_the_variables() -> None:
    prompt = _prompt(
        type="text",
        template="{{ greeting }}, {{ who }}",
        variables={"type": "object", "properties": {"greeting": {"default": "Hi"}, "who": {}}},
    )
    assert prompt.render_text({"who": "Ann"}) == "Hi, Ann"
    assert prompt.render_text({"who": "Ann", "greeting": "Yo"}) == "Yo, Ann"
    with pytest.raises(PromptRenderError) as optional:  # declared, not required, not given
        prompt.render_text({})
    assert (str(optional.value), optional.value.param) == (
        "template: 'who' is undefined",
        "variables",
    )
    closed = _prompt(type="text", template="fixed", variables={"properties": {}})
    with pytest.raises(PromptRenderError, match="unknown variables: x"):
        closed.render_text({"x": 1})
    broken = _prompt(type="chat", messages=[{"role": "user", "content": "{% if %}"}])
    with pytest.raises(PromptRenderError) as caught:
        broken.render()
    assert caught.value.param == "messages.0.content"
    assert "does not compile" in str(caught.value)


def test_without_a_schema_an_undefined_variable_is_an_error_not_an_empty_string() -> None:
    prompt = _prompt(type="text", template="Dear {{ name }},\n")
    assert prompt.render_text({"name": "Bo"}) == "Dear Bo,\n"
    with pytest.raises(PromptRenderError) as caught:
        prompt.render_text()
    assert (str(caught.value), caught.value.param) == ("missing variables: name", "variables.name")
    nested = _prompt(type="text", template="{{ user.name }}")
    with pytest.raises(PromptRenderError, match="has no attribute 'name'"):
        nested.render_text({"user": {}})


def test_templates_run_in_the_sandbox() -> None:
    prompt = _prompt(type="text", template="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(PromptRenderError, match=r"unsafe"):
        prompt.render_text()
    mutating = _prompt(type="text", template="{{ items.append(1) }}{{ items }}")
    with pytest.raises(PromptRenderError, match=r"unsafe"):
        mutating.render_text({"items": []})


def test_prompt_paths_keep_slashes_and_quote_the_rest() -> None:
    assert prompt_path("support/triage", "labels", "production", "history") == (
        "/prompts/support/triage/labels/production/history"
    )
    assert prompt_path("a b", "versions", 3) == "/prompts/a%20b/versions/3"


def test_api_errors_carry_status_code_message_and_param() -> None:
    stub = PromptStub().start()
    try:
        client = ApiClient(stub.url + "/", "ad_x", timeout_s=2.0)
        with client, pytest.raises(AgentdeckAPIError) as caught:
            client.get(prompt_path("missing", "resolve"), label="production", sticky=None)
        error = caught.value
        assert (error.status, error.code, error.message, error.param) == (
            404, "s404", "stub says 404", "name"
        )  # fmt: skip
        assert not error.unavailable
        assert str(error) == "stub says 404 (param name) [404 s404]"
        assert stub.requests == [("missing", {"label": "production"})]
    finally:
        stub.stop()
    offline = ApiClient(stub.url, timeout_s=1.0)
    with offline, pytest.raises(AgentdeckAPIError) as down:
        offline.get("/prompts")
    assert (down.value.status, down.value.code) == (0, "unreachable")
    assert down.value.unavailable
    assert isinstance(down.value.__cause__, httpx.ConnectError)
