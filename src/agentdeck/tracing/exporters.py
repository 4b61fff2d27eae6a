"""Span exporters by name, found through the `agentdeck.span_exporters` entry-point group.

An exporter is built as `factory(settings, metrics)` from `tracing.export` (a third party
reads its own settings from `tracing.export.options`) and implements `SpanExporter`.
"""

from __future__ import annotations

from agentdeck.plugins import load_plugin, plugin_names
from agentdeck.settings_tracing import ExportSettings
from agentdeck.tracing.export import SpanExporter
from agentdeck.tracing.metrics import Metrics

GROUP = "agentdeck.span_exporters"
_BUILTIN = {"otlp": "agentdeck.tracing.export:OtlpExporter"}


def exporter_names() -> list[str]:
    """Every exporter name `tracing.export.exporter` may hold."""
    return plugin_names(GROUP, _BUILTIN)


def create_exporter(settings: ExportSettings, metrics: Metrics) -> SpanExporter:
    """The configured exporter; an unknown name is a configuration error."""
    factory = load_plugin(GROUP, _BUILTIN, settings.exporter, "tracing.export.exporter", "exporter")
    exporter: SpanExporter = factory(settings, metrics)
    return exporter
