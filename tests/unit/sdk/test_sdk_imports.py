"""The SDK's prompt client, the CLI and webhook checks work without the OpenTelemetry SDK
(the `sdk` extra): the tracing functions are imported on first use only."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return set(done.stdout.split())


def test_importing_the_sdk_leaves_opentelemetry_alone() -> None:
    loaded = _modules_after("from agentdeck import sdk\nsdk.PromptClient\nsdk.verify_webhook")
    assert not any(name.startswith("opentelemetry") for name in loaded)


def test_the_tracing_functions_load_on_first_use() -> None:
    loaded = _modules_after("from agentdeck import sdk\nsdk.trace_headers")
    assert "opentelemetry.sdk.trace" in loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    from agentdeck import sdk

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sdk.nope  # noqa: B018
