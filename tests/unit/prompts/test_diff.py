"""The diff of two contents: the canonical text, its unified diff, and the changed JSON paths
in order."""

from __future__ import annotations

from agentdeck.prompts.diff import canonical_text, json_changes, unified
from tests.unit.prompts.conftest import chat


def test_the_canonical_text_orders_fields_and_keeps_types_apart() -> None:
    content = chat(
        ("system", "line one\nline two"),
        params={"top_p": 1, "temperature": 0.2},
        model="fast",
        metadata={"owner": "ann", "odd key": None},
    ).canonical()
    assert canonical_text(content) == (
        'type: "chat"\n'
        'model: "fast"\n'
        "params:\n"
        "  temperature: 0.2\n"
        "  top_p: 1\n"
        "variables:\n"
        '  type: "object"\n'
        "template: null\n"
        "messages:\n"
        "  -\n"
        "    content: |\n"
        "      line one\n"
        "      line two\n"
        '    role: "system"\n'
        "tools: null\n"
        "metadata:\n"
        '  "odd key": null\n'
        '  owner: "ann"\n'
    )


def test_the_unified_diff_shows_the_changed_lines_under_the_given_names() -> None:
    a = chat(("system", "Be brief."), params={"temperature": 0.2}).canonical()
    b = chat(("system", "Be brief."), params={"temperature": 0.7}).canonical()
    assert unified(a, b, "p@1", "p@production") == (
        "--- p@1\n"
        "+++ p@production\n"
        "@@ -1,7 +1,7 @@\n"
        ' type: "chat"\n'
        " model: null\n"
        " params:\n"
        "-  temperature: 0.2\n"
        "+  temperature: 0.7\n"
        " variables:\n"
        '   type: "object"\n'
        " template: null\n"
    )
    assert unified(a, a, "p@1", "p@1") == ""


def test_json_changes_are_dotted_paths_sorted_with_indexes_in_number_order() -> None:
    messages = [("user", f"m{i}") for i in range(12)]
    a = chat(*messages, params={"temperature": 0.2, "stop": ["x"]}).canonical()
    changed = [*messages[:2], ("user", "M2"), *messages[3:10], ("user", "M10"), messages[11]]
    b = chat(
        *changed, ("assistant", "new"), params={"temperature": 0.2, "max_tokens": 9}
    ).canonical()
    assert json_changes(a, b) == [
        {"path": "messages.2.content", "from": "m2", "to": "M2"},
        {"path": "messages.10.content", "from": "m10", "to": "M10"},
        {"path": "messages.12", "from": None, "to": {"role": "assistant", "content": "new"}},
        {"path": "params.max_tokens", "from": None, "to": 9},
        {"path": "params.stop", "from": ["x"], "to": None},
    ]
    assert json_changes(a, a) == []


def test_a_value_of_another_type_is_a_change_even_when_equal() -> None:
    a = chat(("user", "x"), params={"n": 1, "flag": 1}).canonical()
    b = chat(("user", "x"), params={"n": 1.0, "flag": True}).canonical()
    assert [c["path"] for c in json_changes(a, b)] == ["params.flag", "params.n"]
