"""`agentdeck init`, `users`, `keys`, `limits`, `budgets`, `credentials` and `audit` as a user
runs them: a real process on a SQLite file in a fresh directory."""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import orjson

from agentdeck.identity.keys import parse_key
from tests.integration._support import AGENTDECK, clean_env, run_cli

KEY = re.compile(r"ad_live_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}")


def _ok(*args: str, cwd: Path) -> str:
    result = run_cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_prints_a_working_owner_key_once_and_again_adds_one(tmp_path: Path) -> None:
    first = _ok("init", cwd=tmp_path)
    assert first.startswith("created tenant default (ten_")
    keys = KEY.findall(first)
    assert len(keys) == 1
    parse_key(keys[0])  # shape and checksum hold
    second = _ok("init", cwd=tmp_path)
    assert second.startswith("found tenant default")
    assert KEY.findall(second) != keys
    listed = _ok("keys", "list", cwd=tmp_path)
    assert listed.count("owner") >= 2
    assert keys[0] not in listed  # a key is shown once, never listed


def test_users_keys_limits_budgets_and_a_clean_audit_chain(tmp_path: Path) -> None:
    _ok("init", cwd=tmp_path)
    user = _ok("users", "create", "alice", "--role", "developer", cwd=tmp_path).strip()
    assert user.startswith("usr_")
    made = _ok("keys", "create", user, "--name", "alice-laptop", cwd=tmp_path)
    key_id = made.split(":")[0]
    assert KEY.search(made)
    assert "$1.50 per month" in _ok("budgets", "set", "tenant:-", "--usd", "1.5", cwd=tmp_path)
    assert "100 requests/minute" in _ok(
        "limits", "set", f"user:{user}", "--requests", "100", cwd=tmp_path
    )
    listed = _ok("limits", "list", cwd=tmp_path)
    assert "1500000" in listed
    assert "requests" in listed
    assert f"revoked {key_id}" in _ok("keys", "revoke", key_id, cwd=tmp_path)
    verdict = _ok("audit", "verify", cwd=tmp_path)
    # init: tenant, project, owner, binding, key; then user, binding, key, two limits, revoke
    assert re.search(r"ten_\w+: ok, 11 events", verdict), verdict
    bad = run_cli("users", "create", "bob", "--role", "no-such-role", cwd=tmp_path)
    assert bad.returncode == 1
    assert "no role 'no-such-role'" in bad.stderr


def test_audit_verify_names_an_edited_event_and_export_writes_jsonl(tmp_path: Path) -> None:
    _ok("init", cwd=tmp_path)
    _ok("users", "create", "carol", cwd=tmp_path)
    out = tmp_path / "audit.jsonl"
    assert "wrote 6 events" in _ok("audit", "export", "-o", str(out), cwd=tmp_path)
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [e["position"] for e in events] == list(range(1, 7))
    assert events[-1]["action"] == "user.create"
    with sqlite3.connect(tmp_path / "agentdeck.db") as db:
        db.execute("UPDATE audit_events SET actor = 'someone else' WHERE position = 3")
    result = run_cli("audit", "verify", cwd=tmp_path)
    assert result.returncode == 1
    assert "BAD at position 3" in result.stdout


def test_credentials_are_stored_encrypted_and_never_listed(tmp_path: Path) -> None:
    env = {
        **clean_env(),
        "TEST_MASTER": base64.b64encode(os.urandom(32)).decode(),
        "AGENTDECK_IDENTITY__MASTER_KEY_ENV": "TEST_MASTER",
    }
    _ok("init", cwd=tmp_path)
    secret = "sk-live-very-secret-value"
    put = subprocess.run(
        [*AGENTDECK, "credentials", "put", "openai"],
        input=secret + "\n",
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert put.returncode == 0, put.stderr
    assert "stored openai (version 1)" in put.stdout
    listed = subprocess.run(
        [*AGENTDECK, "credentials", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "openai" in listed.stdout
    assert secret not in listed.stdout
    raw = (tmp_path / "agentdeck.db").read_bytes()
    assert secret.encode() not in raw
    no_master = subprocess.run(
        [*AGENTDECK, "credentials", "put", "other"],
        input="x\n",
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert no_master.returncode == 1
    assert "credential store is off" in no_master.stderr
