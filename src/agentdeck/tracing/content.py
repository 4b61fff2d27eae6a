"""Which projects keep span content, and how it is redacted first: the one reading of
`tracing.content` that OTLP ingest and gateway spans share.

The redactor is given by the app (the guardrails' PII detector, `guardrails.pii.redactor`):
tracing sits below guardrails and does not import them."""

from __future__ import annotations

from collections.abc import Callable

from agentdeck.settings_tracing import ContentSettings
from agentdeck.tracing.conventions import ContentPolicy

RedactorFactory = Callable[[tuple[str, ...]], Callable[[str], str]]


class ContentPolicies:
    """The content policy of each project (the default for projects not listed)."""

    def __init__(self, settings: ContentSettings, make_redactor: RedactorFactory) -> None:
        redact = make_redactor(tuple(settings.redact)) if settings.redact else None
        self._default = ContentPolicy(settings.capture, redact)
        listed = settings.projects.items()
        self._projects = {project: ContentPolicy(capture, redact) for project, capture in listed}
        self.any_capture = settings.capture or any(settings.projects.values())

    def of(self, project_id: str) -> ContentPolicy:
        """The policy of `project_id`."""
        return self._projects.get(project_id, self._default)
