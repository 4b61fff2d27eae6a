"""Rendering: templates checked when a version is made (compile, schema, declared variables),
variables checked at render (missing, unknown, schema violations, all named), the sandbox's
refusals as 400s, compiled templates reused by content hash."""

from __future__ import annotations

from typing import Any

import pytest

from agentdeck.errors import InvalidRequestError
from agentdeck.prompts import render
from agentdeck.prompts.models import Version, content_hash
from agentdeck.prompts.render import CompiledCache, check_content, render_prompt
from tests.unit.prompts.conftest import chat, text

SCHEMA = {
    "type": "object",
    "properties": {
        "who": {"type": "string", "minLength": 2},
        "tone": {"type": "string", "enum": ["warm", "dry"], "default": "warm"},
        "count": {"type": "integer", "minimum": 1},
    },
    "required": ["who"],
}


def version(content: dict[str, Any], number: int = 1) -> Version:
    """A stored-looking version of `content`."""
    return Version(
        "ten_a", "prj_a", "p", number, content["type"], content, content_hash(content),
        "user:ann", 0, "", False,
    )  # fmt: skip


def refused(content: dict[str, Any], variables: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        render_prompt(version(content), variables)
    return caught.value


def test_a_chat_prompt_renders_every_message_with_its_role() -> None:
    content = chat(
        ("system", "You are {{ tone }} with {{ who }}."),
        ("user", "{% for i in range(count) %}{{ i }},{% endfor %}"),
        variables=SCHEMA,
        params={"temperature": 0.2},
        model="fast",
        tools=[{"type": "function", "function": {"name": "lookup"}}],
    ).canonical()
    found = render_prompt(version(content), {"who": "Ann", "count": 3})
    assert found.messages == [
        {"role": "system", "content": "You are warm with Ann."},
        {"role": "user", "content": "0,1,2,"},
    ]
    assert found.text is None
    assert (found.params, found.model) == ({"temperature": 0.2}, "fast")
    assert found.tools == [{"type": "function", "function": {"name": "lookup"}}]


def test_a_text_prompt_is_one_user_message_and_its_text() -> None:
    content = text("Dear {{ who }},\n<b>{{ tone }}</b>\n").canonical()
    found = render_prompt(version(content), {"who": "<Ann>", "tone": "dry & short"})
    assert found.text == "Dear <Ann>,\n<b>dry & short</b>\n"  # no autoescaping
    assert found.messages == [{"role": "user", "content": found.text}]
    assert (found.params, found.model, found.tools) == ({}, None, None)


def test_answers_are_copies_the_caller_may_change() -> None:
    content = text("x", params={"stop": ["a"]}, tools=[{"type": "function"}]).canonical()
    first = render_prompt(version(content), {})
    first.params["stop"].append("b")
    assert first.tools is not None
    first.tools.append({})
    second = render_prompt(version(content), {})
    assert (second.params, second.tools) == ({"stop": ["a"]}, [{"type": "function"}])


def test_missing_variables_are_all_named_and_the_first_is_the_param() -> None:
    content = text("{{ who }} {{ extra }} {{ more }}").canonical()
    error = refused(content, {"more": 1})
    assert error.message == "missing variables: extra, who"
    assert error.param == "variables.extra"
    declared = text("{{ who }}", variables=SCHEMA).canonical()
    error = refused(declared, {"tone": "dry"})
    assert (error.message, error.param) == ("missing variables: who", "variables.who")


def test_unknown_variables_are_named_when_the_schema_declares_properties() -> None:
    content = text("{{ who }}", variables=SCHEMA).canonical()
    error = refused(content, {"who": "Ann", "zeta": 1, "alpha": 2})
    assert error.message == "unknown variables: alpha, zeta (the prompt declares count, tone, who)"
    assert error.param == "variables.alpha"
    # Without declared properties any variable is welcome.
    assert render_prompt(version(text("{{ a }}").canonical()), {"a": 1, "b": 2}).text == "1"


@pytest.mark.parametrize(
    ("variables", "param", "message"),
    [
        ({"who": "A"}, "variables.who", "'A' is too short"),
        ({"who": "Ann", "tone": "loud"}, "variables.tone", "'loud' is not one of ['warm', 'dry']"),
        ({"who": "Ann", "count": 0}, "variables.count", "0 is less than the minimum of 1"),
        ({"who": 7}, "variables.who", "7 is not of type 'string'"),
    ],
)
def test_a_schema_violation_names_the_variable(
    variables: dict[str, Any], param: str, message: str
) -> None:
    error = refused(text("{{ who }}", variables=SCHEMA).canonical(), variables)
    assert (error.param, error.message) == (param, f"{param}: {message}")


def test_schema_defaults_fill_in_variables_not_given() -> None:
    found = render_prompt(
        version(text("{{ who }} {{ tone }}", variables=SCHEMA).canonical()), {"who": "Ann"}
    )
    assert found.text == "Ann warm"


@pytest.mark.parametrize(
    ("template", "variables", "param", "says"),
    [
        ("{{ x.__class__ }}", {"x": 1}, "template", "unsafe"),
        ("{{ x.append(1) }}", {"x": []}, "template", "unsafe"),
        ("{{ range(100001) | list }}", {}, "template", "range longer than 10000"),
        ("{{ 'a' * 2000000 }}", {}, "template", "repetition longer than 1000000"),
        ("{{ 2 ** 100000 }}", {}, "template", "more than 65536 bits"),
        ("{{ 1 / x }}", {"x": 0}, "template", "division by zero"),
        ("{{ x.y }}", {"x": {}}, "variables", "has no attribute 'y'"),
        (
            "{% for i in range(10000) %}{{ 'a' * 200 }}{% endfor %}",
            {},
            "template",
            "renders longer than 1000000 characters",
        ),
    ],
)
def test_the_sandbox_refuses_with_a_400(
    template: str, variables: dict[str, Any], param: str, says: str
) -> None:
    error = refused(text(template).canonical(), variables)
    assert error.param == param
    assert says in error.message


@pytest.mark.parametrize(
    ("content", "param", "says"),
    [
        (text("{{ who "), "template", "does not compile"),
        (chat(("system", "ok"), ("user", "{% if %}")), "messages.1.content", "does not compile"),
        (text("{{ who }} {{ other }}", variables=SCHEMA), "variables.properties.other", "other"),
        (text("x", variables={"type": "string"}), "variables", "describe an object"),
        (text("x", variables={"type": "object", "required": "who"}), "variables", "not a valid"),
        (text("x", variables={"$ref": "https://example.com/s"}), "variables", "only refer"),
        (text("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"), "template", "nested too deeply"),
        (text("{% if x %}" * 100 + "{% endif %}" * 100), "template", "nested too deeply"),
    ],
)
def test_a_bad_content_is_refused_when_the_version_is_made(
    content: Any, param: str, says: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_content(content.canonical())
    assert caught.value.param == param
    assert says in caught.value.message


def test_the_shape_of_each_type_is_checked() -> None:
    both = {**text("x").canonical(), "messages": [{"role": "user", "content": "y"}]}
    for content, param in (
        (both, "template"),
        ({**text("x").canonical(), "template": None}, "template"),
        ({**chat(("user", "y")).canonical(), "template": "x"}, "messages"),
        ({**chat(("user", "y")).canonical(), "messages": []}, "messages"),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            check_content(content)
        assert caught.value.param == param


def test_a_local_ref_that_does_not_resolve_is_a_400_at_render() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}
    error = refused(text("{{ a }}", variables=schema).canonical(), {"a": 1})
    assert error.param == "variables"
    assert "does not resolve" in error.message


def test_compiled_contents_are_kept_by_hash_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CompiledCache(max_entries=2)
    monkeypatch.setattr(render, "COMPILED", cache)
    compiled: list[object] = []
    real = render.compile_content

    def counting(content: Any) -> Any:
        compiled.append(content)
        return real(content)

    monkeypatch.setattr(render, "compile_content", counting)
    contents = [text(f"{i} {{{{ who }}}}").canonical() for i in range(3)]
    for _ in range(5):
        assert render_prompt(version(contents[0]), {"who": "x"}).text == "0 x"
    assert len(compiled) == 1
    render_prompt(version(contents[1]), {"who": "x"})
    render_prompt(version(contents[2]), {"who": "x"})  # drops the least recently used: 0
    assert len(cache) == 2
    render_prompt(version(contents[2]), {"who": "x"})
    assert len(compiled) == 3
    render_prompt(version(contents[0]), {"who": "x"})
    assert len(compiled) == 4
