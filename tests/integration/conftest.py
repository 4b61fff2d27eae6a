"""Integration fixtures: the real server and the fake upstream as subprocesses on loopback.

The main stack (fake upstream + recording upstream + gateway) starts once per session. When a
test fails, the logs of every agentdeck process running at that moment are attached to its
report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import openai
import pytest

from tests.integration._recorder import RecordingUpstream
from tests.integration._stack import FAKE_MODELS, Stack, gateway_config
from tests.integration._support import LIVE, start_fake_upstream, start_gateway


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the server logs to the report of a failed test."""
    report = yield
    if report.failed:
        for proc in LIVE:
            text = proc.log_text()[-8000:] or "(empty)"
            report.sections.append((f"{proc.name} log ({proc.log_path})", text))
    return report


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Fake upstream and gateway, started once for the session; always stopped."""
    workdir: Path = tmp_path_factory.mktemp("stack")
    recorder = RecordingUpstream().start()
    upstream = start_fake_upstream(workdir, {"log_level": "warning", "fake_models": FAKE_MODELS})
    gateway = None
    try:
        gateway = start_gateway(workdir, gateway_config(upstream, recorder))
        upstream.wait_ready()
        gateway.wait_ready()
        yield Stack(upstream, gateway, recorder)
    finally:
        if gateway is not None:
            gateway.stop()
        upstream.stop()
        recorder.stop()


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    """A sync OpenAI SDK client for the gateway; no retries, so statuses are seen as sent."""
    with openai.OpenAI(base_url=stack.v1, api_key="sk-test", max_retries=0, timeout=15) as sdk:
        yield sdk


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The cwd for processes a test starts itself."""
    return tmp_path
