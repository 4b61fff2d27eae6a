"""Span exporters registered through the `agentdeck.span_exporters` entry-point group: a
package installed beside agentdeck (a real dist-info on sys.path) is found by name and built
with its options; an unknown name fails naming the known ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentdeck.errors import ConfigurationError
from agentdeck.settings_tracing import ExportSettings
from agentdeck.tracing.export import OtlpExporter
from agentdeck.tracing.exporters import create_exporter, exporter_names
from agentdeck.tracing.metrics import Metrics
from agentdeck.tracing.spans import Span
from tests.plugin_package import installed_package


@pytest.fixture
def installed_exporter(tmp_path: Path) -> Iterator[str]:
    """A package `memexport` with a dist-info declaring the exporter `memory`."""
    with installed_package(
        tmp_path,
        "memexport",
        """
            class MemoryExporter:
                def __init__(self, settings, metrics):
                    self.label = settings.options["label"]
                    self.spans = []
                    self.started = self.stopped = False

                def offer(self, spans):
                    self.spans.extend(spans)

                async def start(self):
                    self.started = True

                async def stop(self):
                    self.stopped = True
            """,
        {"agentdeck.span_exporters": {"memory": "memexport:MemoryExporter"}},
    ):
        yield "memory"


async def test_a_third_party_exporter_is_found_by_name_and_gets_its_options(
    installed_exporter: str,
) -> None:
    assert exporter_names() == ["memory", "otlp"]
    settings = ExportSettings(enabled=True, exporter=installed_exporter, options={"label": "x"})
    exporter = create_exporter(settings, Metrics())
    assert type(exporter).__name__ == "MemoryExporter"
    assert exporter.label == "x"  # type: ignore[attr-defined]
    await exporter.start()
    span = Span(
        tenant_id="t", trace_id="a" * 32, span_id="b" * 16, name="chat m", start_ns=1, end_ns=2
    )
    exporter.offer([span])
    assert exporter.spans == [span]  # type: ignore[attr-defined]


def test_the_builtin_otlp_exporter_is_the_default() -> None:
    settings = ExportSettings(enabled=True, endpoint="http://127.0.0.1:4318")
    exporter = create_exporter(settings, Metrics())
    assert isinstance(exporter, OtlpExporter)
    assert exporter.url == "http://127.0.0.1:4318/v1/traces"


def test_an_unknown_exporter_is_a_configuration_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_exporter(ExportSettings(enabled=True, exporter="nope"), Metrics())
    assert caught.value.message == ("tracing.export.exporter: unknown exporter 'nope'; known: otlp")
