"""Changes made to output text after the guardrails: control characters removed, HTML
escaped for answers shown in a web page. Both work character by character, so a stream is
sanitized piece by piece with the same result as the whole text."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from agentdeck.settings_guardrails import Sanitize

# C0 and C1 controls and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

Sanitizer = Callable[[str], str]


def strip_control(text: str) -> str:
    """`text` without control characters (tab and line breaks kept)."""
    return _CONTROL.sub("", text)


def escape_html(text: str) -> str:
    """`text` with <, >, &, " and ' escaped."""
    return html.escape(text, quote=True)


def sanitizer(settings: Sanitize) -> Sanitizer | None:
    """The sanitizer a policy asks for (None when it asks none)."""
    steps = [
        step
        for wanted, step in ((settings.strip_control, strip_control),
                             (settings.html_escape, escape_html))
        if wanted
    ]  # fmt: skip
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def both(text: str) -> str:
        return escape_html(strip_control(text))

    return both
