"""The optional LiteLLM row: its proxy in a separate virtualenv, routed to the same upstream.

The install is tried once; a failure is remembered in the venv so later runs skip at once
(delete bench/.litellm-venv to try again). Nothing here may fail the run: every problem
becomes a `RowSkippedError` with the reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".litellm-venv"
FAILED_MARKER = VENV / "INSTALL_FAILED"
MODEL = "bench"
READY_PATH = "/health/readiness"


class RowSkippedError(Exception):
    """The LiteLLM row cannot be measured; the message is the reason printed in its place."""


def ensure_installed(timeout_s: float) -> Path:
    """Path of the `litellm` CLI, installing `litellm[proxy]` into VENV the first time."""
    cli = VENV / "bin" / "litellm"
    if cli.exists() and not FAILED_MARKER.exists():
        return cli
    if FAILED_MARKER.exists():
        raise RowSkippedError(f"earlier install failed ({FAILED_MARKER.read_text().strip()})")
    print(f"installing litellm[proxy] into {VENV} (once, at most {timeout_s:.0f}s)...")
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [
            str(VENV / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "litellm[proxy]",
        ],
    ]
    for argv in steps:
        reason = _run_bounded(argv, timeout_s)
        if reason is not None:
            VENV.mkdir(parents=True, exist_ok=True)
            FAILED_MARKER.write_text(reason + "\n")
            raise RowSkippedError(f"install failed: {reason}")
    if not cli.exists():
        FAILED_MARKER.write_text("no litellm CLI after install\n")
        raise RowSkippedError("install finished but bin/litellm is missing")
    return cli


def _run_bounded(argv: list[str], timeout_s: float) -> str | None:
    """Run argv with a time limit; None on success, else a one-line reason."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"{Path(argv[0]).name} timed out after {timeout_s:.0f}s"
    if proc.returncode != 0:
        errors = [
            line
            for line in out.decode(errors="replace").splitlines()
            if "ERROR" in line or "error" in line
        ]
        last = errors[-1] if errors else f"exit {proc.returncode}"
        return last.strip()[:200]
    return None


def write_config(directory: Path, upstream_port: int) -> Path:
    """A proxy config with one model, `bench`, routed to the fake upstream."""
    path = directory / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/fake\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-bench-not-a-real-key\n"
        "      input_cost_per_token: 0.000001\n"
        "      output_cost_per_token: 0.000002\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
        "general_settings:\n"
        # agentdeck's bench config has no keys either; both sides skip authentication.
        "  dangerously_permit_weak_or_unset_master_key: true\n"
    )
    return path


def command(cli: Path, config: Path, port: int) -> list[str]:
    """The proxy command line: one worker, as agentdeck runs one process."""
    return [
        str(cli),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]


def environment() -> dict[str, str]:
    """The proxy's environment: quiet, offline, no telemetry, no database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM", "DATABASE_URL"))}
    env.update(
        {
            # Use the bundled price list instead of fetching it from GitHub at import.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "TELEMETRY": "False",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env
