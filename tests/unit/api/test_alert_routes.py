"""Alerts and SLOs through the in-process app: webhook channels (secrets shown once, sealed at
rest), metric rules and SLOs (validation naming the field, permissions, audit), evaluation
driven by the test (alerts off in the background), signed deliveries to a real loopback
receiver with retries, the alert history with its cursor and filters, and exact SLO figures
for spans made through the gateway or recorded directly."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiohttp import web
from multidict import CIMultiDict

from agentdeck.settings_alerts import AlertSettings
from agentdeck.tracing.alerts.signing import verify
from agentdeck.tracing.alerts.tables import alert_channels, alert_deliveries
from agentdeck.tracing.alerts.worker import AlertWorker
from agentdeck.tracing.recorder import SpanRecorder
from agentdeck.tracing.spans import Span
from tests.unit.api._deck import MODELS, Deck

SECOND_NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RULE = {"name": "busy", "metric": "requests", "threshold": 0}
SLO = {"name": "up", "objective": "availability", "target": 0.875}
QUIET = {"enabled": False, "allow_private_urls": True}  # the test evaluates; loopback hooks


@dataclass
class Receiver:
    """A webhook receiver on loopback: what it got, and the statuses it answers with."""

    url: str = ""
    answers: list[int] = field(default_factory=list)  # in order; 200 once used up
    got: list[tuple[CIMultiDict[str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def hook(request: web.Request) -> web.Response:
        found.got.append((CIMultiDict(request.headers), await request.read()))
        return web.Response(status=found.answers.pop(0) if found.answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


@pytest.fixture
async def quiet(store_database: dict[str, str] | None, open_deck: Any) -> Deck:
    """The app with alerts off in the background, on SQLite and on PostgreSQL."""
    where = {"database": store_database} if store_database else {}
    found: Deck = await open_deck(alerts=QUIET, **where)
    return found


async def tick(deck: Deck, now_ns: int | None = None) -> tuple[int, int]:
    """One round of the alert worker: (rules evaluated, deliveries attempted)."""
    worker = AlertWorker(deck.services.engine, AlertSettings(), deck.services.alert_deliverer)
    return await worker.tick(now_ns)


async def tenant_of(deck: Deck) -> str:
    found: str = (await deck.api("GET", "/me"))["tenant_id"]
    return found


async def record(deck: Deck, spans: list[Span]) -> None:
    """Store `spans` through the recorder, as the gateway and ingest do."""
    recorder = SpanRecorder(deck.services.engine, interval_s=0.01)
    await recorder.start()
    assert recorder.record_all(spans) is True
    await recorder.stop()
    assert recorder.writer.written == len(spans)


def span(tenant_id: str, n: int, start_ns: int, duration_us: int = 1000, **fields: Any) -> Span:
    return Span(tenant_id=tenant_id, trace_id=f"{n:032x}", span_id=f"{n:016x}", name=f"span {n}",
                start_ns=start_ns, end_ns=start_ns + duration_us * 1000, **fields)  # fmt: skip


async def stored_spans(deck: Deck, count: int, within_s: float = 10.0) -> None:
    """Wait until the tenant has `count` spans (the recorder writes in the background)."""
    deadline = time.monotonic() + within_s
    while True:
        page = await deck.api("GET", "/spans?limit=500")
        if len(page["data"]) >= count:
            assert len(page["data"]) == count
            return
        assert time.monotonic() < deadline, f"{len(page['data'])} of {count} spans stored"
        await asyncio.sleep(0.05)


async def new_channel(deck: Deck, url: str, name: str = "c") -> dict[str, Any]:
    """A new channel of the owner's tenant, as created (with its secret)."""
    found: dict[str, Any] = await deck.api(
        "POST", "/alerts/channels", json={"name": name, "url": url}, expect=201
    )
    return found


async def error(deck: Deck, method: str, path: str, body: Any, status: int = 400) -> Any:
    found = await deck.api(method, path, json=body, expect=status)
    return found["error"]


def iso_us(ns: int) -> str:
    """An exact ISO 8601 time of `ns`, cut to the microsecond."""
    return (EPOCH + timedelta(microseconds=ns // 1000)).isoformat().replace("+00:00", "Z")


# --- channels ------------------------------------------------------------------------------


async def test_a_channel_shows_its_secret_once_and_keeps_it_sealed(quiet: Deck) -> None:
    deck = quiet
    made = await new_channel(deck, "https://x.example/h", "ops")
    secret = made.pop("secret")
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 43
    assert made["id"].startswith("ach_")
    assert (made["name"], made["url"], made["secret_sealed"]) == (
        "ops",
        "https://x.example/h",
        True,
    )
    assert made["created_by"] == "user:owner"
    assert made["created_at"] == made["updated_at"]
    assert await deck.api("GET", f"/alerts/channels/{made['id']}") == made
    given = await deck.api(
        "POST",
        "/alerts/channels",
        json={"name": "two", "url": "http://y.example", "secret": "s" * 16},
        expect=201,
    )
    assert given["secret"] == "s" * 16
    listed = await deck.api("GET", "/alerts/channels")
    assert [c["id"] for c in listed] == [made["id"], given["id"]]
    assert all("secret" not in c and c["secret_sealed"] is True for c in listed)
    async with deck.services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(alert_channels))).all()
    assert {row.secret for row in rows} == {None}  # only the sealed form is stored
    assert all(
        b"whsec_" not in row.secret_sealed and b"s" * 16 not in row.secret_sealed for row in rows
    )
    # Changes: name and url (the secret is not shown), then the secret (shown this once).
    path = f"/alerts/channels/{made['id']}"
    renamed = await deck.api("PATCH", path, json={"name": "ops-2", "url": "http://z.example/n"})
    assert "secret" not in renamed
    assert (renamed["name"], renamed["url"]) == ("ops-2", "http://z.example/n")
    rekeyed = await deck.api("PATCH", path, json={"secret": "n" * 20})
    assert (rekeyed["secret"], rekeyed["name"]) == ("n" * 20, "ops-2")
    assert "secret" not in await deck.api("GET", path)
    target = await deck.services.alerts.channel_target(await tenant_of(deck), made["id"])
    assert target == ("http://z.example/n", "n" * 20)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "url": "ftp://x.example/h"}, "url"),
        ({"name": "x", "url": "http://"}, "url"),
        ({"name": "x", "url": "/relative"}, "url"),
        ({"name": "x", "url": "http://x.example", "secret": "short"}, "secret"),
        ({"name": "", "url": "http://x.example"}, "name"),
        ({"name": "x", "url": "http://x.example", "colour": "red"}, "colour"),
    ],
)
async def test_a_bad_channel_is_a_400_naming_the_field(
    open_deck: Any, body: dict[str, Any], param: str
) -> None:
    deck = await open_deck(alerts=QUIET)
    assert (await error(deck, "POST", "/alerts/channels", body))["param"] == param
    made = await new_channel(deck, "http://x.example", "x")
    change = {k: v for k, v in body.items() if k != "name" or v == ""}
    assert (await error(deck, "PATCH", f"/alerts/channels/{made['id']}", change))["param"] == param
    assert await deck.api("GET", "/alerts/channels") == [
        {k: v for k, v in made.items() if k != "secret"}
    ]


async def test_a_channel_in_use_cannot_be_deleted(deck: Deck) -> None:
    made = await new_channel(deck, "http://x.example", "ops")
    path = f"/alerts/channels/{made['id']}"
    unknown = await error(deck, "POST", "/alerts/rules", {**RULE, "channels": ["ach_nope"]})
    assert (unknown["param"], unknown["message"]) == ("channels", "no alert channel 'ach_nope'")
    slo_unknown = await error(deck, "POST", "/slos", {**SLO, "channels": [made["id"], "ach_x"]})
    assert slo_unknown["param"] == "channels"
    rule = await deck.api(
        "POST",
        "/alerts/rules",
        json={**RULE, "threshold": 1e9, "channels": [made["id"]]},
        expect=201,
    )
    slo = await deck.api("POST", "/slos", json={**SLO, "channels": [made["id"]]}, expect=201)
    busy = await error(deck, "DELETE", path, None, 409)
    assert busy["message"] == (
        f"alert channel {made['id']} is used by busy, up: take it off those rules first"
    )
    replaced = await error(
        deck, "PUT", f"/alerts/rules/{rule['id']}", {**RULE, "channels": ["ach_gone"]}
    )
    assert replaced["param"] == "channels"
    await deck.api("DELETE", f"/alerts/rules/{rule['id']}", expect=204)
    await error(deck, "DELETE", path, None, 409)
    await deck.api("PUT", f"/slos/{slo['id']}", json={**SLO, "channels": []})
    await deck.api("DELETE", path, expect=204)
    gone = await error(deck, "GET", path, None, 404)
    assert gone["message"] == f"no alert channel {made['id']!r}"
    await error(deck, "DELETE", path, None, 404)
    await error(deck, "PATCH", path, {"name": "again"}, 404)
    await error(deck, "POST", f"{path}/test", None, 404)
    assert await deck.api("GET", "/alerts/channels") == []


# --- rules and SLOs: what is accepted --------------------------------------------------------


async def test_rules_and_slos_show_their_defaults_and_stay_apart(deck: Deck) -> None:
    rule = await deck.api("POST", "/alerts/rules", json=RULE, expect=201)
    assert rule["id"].startswith("alr_")
    assert rule["kind"] == "metric"
    expected = {"condition": "above", "threshold": 0.0, "window_s": 3600, "baseline_windows": 24,
                "min_requests": 1, "severity": "warning", "interval_s": 60, "enabled": True,
                "channels": [], "state": "ok", "firing_severity": None}  # fmt: skip
    assert {k: rule[k] for k in expected} == expected
    assert set(rule["scope"].values()) == {None}
    slo = await deck.api("POST", "/slos", json=SLO, expect=201)
    assert slo["id"].startswith("slo_")
    assert slo["kind"] == "slo"
    assert (slo["period_days"], slo["threshold_ms"], slo["target"]) == (30, None, 0.875)
    alerts = [
        (a["severity"], a["long_s"], a["short_s"], a["burn_rate"]) for a in slo["burn_alerts"]
    ]
    assert alerts == [("critical", 3600, 300, 14.4), ("critical", 21600, 1800, 6.0),
                      ("warning", 86400, 7200, 3.0), ("warning", 259200, 21600, 1.0)]  # fmt: skip
    assert [r["id"] for r in await deck.api("GET", "/alerts/rules")] == [rule["id"]]
    assert [s["id"] for s in await deck.api("GET", "/slos")] == [slo["id"]]
    await deck.api("GET", f"/alerts/rules/{slo['id']}", expect=404)
    await deck.api("GET", f"/slos/{rule['id']}", expect=404)
    await deck.api("PUT", f"/slos/{rule['id']}", json=SLO, expect=404)
    await deck.api("DELETE", f"/alerts/rules/{slo['id']}", expect=404)
    scoped = {**RULE, "scope": {"model": "fake-a", "project_id": "p1"}, "interval_s": 5}
    replaced = await deck.api("PUT", f"/alerts/rules/{rule['id']}", json=scoped)
    assert (replaced["scope"]["model"], replaced["interval_s"]) == ("fake-a", 5)
    assert replaced["created_at"] == rule["created_at"]


LONG_WEEK = {**RULE, "condition": "above_baseline", "threshold": 2, "window_s": 7 * 86400}
SAME_WINDOWS = {"severity": "critical", "long_s": 600, "short_s": 600, "burn_rate": 2}


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/slos", {**SLO, "objective": "latency"}, "threshold_ms"),
        ("/slos", {**SLO, "threshold_ms": 100}, "threshold_ms"),
        ("/slos", {**SLO, "target": 1}, "target"),
        ("/slos", {**SLO, "period_days": 91}, "period_days"),
        ("/slos", {**SLO, "burn_alerts": [SAME_WINDOWS]}, "burn_alerts.0.short_s"),
        ("/alerts/rules", {**LONG_WEEK, "baseline_windows": 20}, "baseline_windows"),
        ("/alerts/rules", {**RULE, "threshold": -1}, "threshold"),
        ("/alerts/rules", {**RULE, "metric": "vibes"}, "metric"),
        ("/alerts/rules", {**RULE, "condition": "sideways"}, "condition"),
        ("/alerts/rules", {**RULE, "window_s": 5}, "window_s"),
        ("/alerts/rules", {**RULE, "colour": "red"}, "colour"),
        ("/alerts/rules", {**RULE, "scope": {"colour": "red"}}, "scope.colour"),
        ("/alerts/rules", {**RULE, "name": "a\x00b"}, None),
        ("/alerts/rules", {"name": "r", "metric": "requests"}, "threshold"),
    ],
)
async def test_a_bad_rule_or_slo_is_a_400_naming_the_field(
    open_deck: Any, path: str, body: dict[str, Any], param: str | None
) -> None:
    deck = await open_deck(alerts=QUIET)
    assert (await error(deck, "POST", path, body))["param"] == param
    good = SLO if path == "/slos" else RULE
    made = await deck.api("POST", path, json=good, expect=201)
    assert (await error(deck, "PUT", f"{path}/{made['id']}", body))["param"] == param
    assert [r["id"] for r in await deck.api("GET", path)] == [made["id"]]


async def test_the_default_baseline_is_bounded_too(open_deck: Any) -> None:
    deck = await open_deck(alerts=QUIET)
    assert (await error(deck, "POST", "/alerts/rules", LONG_WEEK))["param"] == "baseline_windows"


async def test_a_huge_min_requests_is_a_400(open_deck: Any) -> None:
    deck = await open_deck(alerts=QUIET)
    response = await deck.client.post(
        "/api/v1/alerts/rules", json={**RULE, "min_requests": 2**70}, headers=deck.owner
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "min_requests"


# --- permissions and audit --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "developer"])
async def test_readers_read_but_only_managers_change(open_deck: Any, role: str) -> None:
    deck = await open_deck(alerts=QUIET)
    await record(deck, [span(await tenant_of(deck), 1, time.time_ns() - SECOND_NS)])
    channel = await new_channel(deck, "http://x.example", "c")
    rule = await deck.api("POST", "/alerts/rules", json=RULE, expect=201)
    slo = await deck.api("POST", "/slos", json=SLO, expect=201)
    await tick(deck)
    event = (await deck.api("GET", "/alerts/events"))["data"][0]
    reader = (await deck.member(f"m-{role}", role)).headers
    for path in ("/alerts/channels", f"/alerts/channels/{channel['id']}", "/alerts/rules",
                 f"/alerts/rules/{rule['id']}", "/alerts/events", f"/alerts/events/{event['id']}",
                 "/slos", f"/slos/{slo['id']}"):  # fmt: skip
        await deck.api("GET", path, reader)
    changes = [
        ("POST", "/alerts/channels", {"name": "c", "url": "http://x.example"}),
        ("PATCH", f"/alerts/channels/{channel['id']}", {"name": "d"}),
        ("DELETE", f"/alerts/channels/{channel['id']}", None),
        ("POST", f"/alerts/channels/{channel['id']}/test", None),
        ("POST", "/alerts/rules", RULE),
        ("PUT", f"/alerts/rules/{rule['id']}", RULE),
        ("DELETE", f"/alerts/rules/{rule['id']}", None),
        ("POST", "/slos", SLO),
        ("PUT", f"/slos/{slo['id']}", SLO),
        ("DELETE", f"/slos/{slo['id']}", None),
    ]
    for method, path, body in changes:
        refused = await deck.api(method, path, reader, body, expect=403)
        assert "lacks permission" in refused["error"]["message"]
        assert "alerts:manage" in refused["error"]["message"]
    admin = (await deck.member("an-admin", "admin")).headers
    made = await deck.api(
        "POST", "/alerts/channels", admin, {"name": "a", "url": "http://a.example"}, 201
    )
    await deck.api("PATCH", f"/alerts/channels/{made['id']}", admin, {"name": "b"})
    await deck.api("PUT", f"/alerts/rules/{rule['id']}", admin, {**RULE, "threshold": 9})
    await deck.api("PUT", f"/slos/{slo['id']}", admin, {**SLO, "target": 0.5})
    await deck.api("POST", "/slos", admin, SLO, expect=201)
    for path in (
        f"/alerts/rules/{rule['id']}",
        f"/slos/{slo['id']}",
        f"/alerts/channels/{made['id']}",
    ):
        await deck.api("DELETE", path, admin, expect=204)


async def test_every_change_is_audited_and_a_test_delivery_stores_nothing(
    open_deck: Any, receiver: Receiver
) -> None:
    deck = await open_deck(alerts=QUIET)
    start = len(await deck.audit_events())
    channel = await new_channel(deck, receiver.url, "c")
    ch = f"/alerts/channels/{channel['id']}"
    await deck.api("PATCH", ch, json={"secret": "x" * 16})
    assert (await deck.api("POST", f"{ch}/test"))["delivered"] is True
    rule = await deck.api("POST", "/alerts/rules", json=RULE, expect=201)
    await deck.api("PUT", f"/alerts/rules/{rule['id']}", json={**RULE, "threshold": 3})
    await deck.api("DELETE", f"/alerts/rules/{rule['id']}", expect=204)
    slo = await deck.api("POST", "/slos", json=SLO, expect=201)
    await deck.api("PUT", f"/slos/{slo['id']}", json={**SLO, "enabled": False})
    await deck.api("DELETE", f"/slos/{slo['id']}", expect=204)
    await deck.api("DELETE", ch, expect=204)
    events = (await deck.audit_events())[start:]
    found = [(e["action"], e["resource"], e["actor"]) for e in events]
    r, s = f"alert-rule/{rule['id']}", f"slo/{slo['id']}"
    assert found == [
        (action, resource, "user:owner")
        for action, resource in [
            ("alert-channel.create", f"alert-channel/{channel['id']}"),
            ("alert-channel.update", f"alert-channel/{channel['id']}"),
            ("alert-rule.create", r), ("alert-rule.update", r), ("alert-rule.delete", r),
            ("slo.create", s), ("slo.update", s), ("slo.delete", s),
            ("alert-channel.delete", f"alert-channel/{channel['id']}"),
        ]
    ]  # fmt: skip
    assert (await deck.api("GET", "/audit/verify"))["ok"] is True
    assert (await deck.api("GET", "/alerts/events"))["data"] == []
    async with deck.services.engine.connect() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(alert_deliveries))
        ).scalar() == 0


# --- firing, delivering, resolving -------------------------------------------------------------


async def test_a_rule_fires_on_gateway_calls_and_its_event_is_delivered_signed(
    quiet: Deck, receiver: Receiver
) -> None:
    deck = quiet
    channel = await new_channel(deck, receiver.url, "ops")
    for _ in range(3):
        assert (await deck.chat("fake-a", deck.owner)).status_code == 200
    await stored_spans(deck, 3)
    body = {**RULE, "threshold": 2, "channels": [channel["id"]], "severity": "critical"}
    rule = await deck.api("POST", "/alerts/rules", json=body, expect=201)
    quiet_rule = await deck.api("POST", "/alerts/rules", json={**RULE, "threshold": 3}, expect=201)
    assert await tick(deck) == (2, 1)
    page = await deck.api("GET", "/alerts/events")
    assert page["next"] is None
    [event] = page["data"]
    assert {k: event[k] for k in ("rule_id", "rule_kind", "rule_name", "state", "severity")} == {
        "rule_id": rule["id"], "rule_kind": "metric", "rule_name": "busy", "state": "firing",
        "severity": "critical",
    }  # fmt: skip
    assert (event["value"], event["threshold"]) == (3.0, 2.0)
    assert event["message"] == "busy: requests is 3, above 2"
    assert event["details"] == {"metric": "requests", "window_s": 3600}
    assert event["id"].startswith("ale_")
    assert event["at"].endswith("Z")
    shown = await deck.api("GET", f"/alerts/events/{event['id']}")
    [delivery] = shown.pop("deliveries")
    assert shown == event
    assert delivery["id"] == f"{event['id']}_0"
    assert {k: delivery[k] for k in ("channel_id", "status", "attempts", "last_status")} == {
        "channel_id": channel["id"], "status": "delivered", "attempts": 1, "last_status": 200,
    }  # fmt: skip
    assert (delivery["last_error"], delivery["next_attempt_at"]) == (None, None)
    assert delivery["delivered_at"] is not None
    [(headers, sent)] = receiver.got
    assert verify(channel["secret"], headers["X-Agentdeck-Signature"], sent) is True
    assert verify("whsec_someone-else", headers["X-Agentdeck-Signature"], sent) is False
    assert verify(channel["secret"], headers["X-Agentdeck-Signature"], sent + b" ") is False
    t, v1 = (part.split("=", 1)[1] for part in headers["X-Agentdeck-Signature"].split(","))
    key = channel["secret"].encode()
    assert v1 == hmac.new(key, f"{t}.".encode() + sent, hashlib.sha256).hexdigest()
    assert (
        verify(channel["secret"], headers["X-Agentdeck-Signature"], sent, now=int(t) + 301) is False
    )
    assert (headers["X-Agentdeck-Event"], headers["X-Agentdeck-Delivery"]) == (
        event["id"],
        delivery["id"],
    )
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("agentdeck/")
    assert orjson.loads(sent) == {
        "type": "alert.firing",
        "tenant_id": await tenant_of(deck),
        "delivery_id": delivery["id"],
        "attempt": 1,
        "event": event,
    }
    now = await deck.api("GET", f"/alerts/rules/{rule['id']}")
    assert (now["state"], now["firing_severity"], now["last_value"]) == ("firing", "critical", 3.0)
    calm = await deck.api("GET", f"/alerts/rules/{quiet_rule['id']}")
    assert (calm["state"], calm["last_value"], calm["last_evaluated_at"] is not None) == (
        "ok",
        3.0,
        True,
    )
    assert await tick(deck) == (0, 0)  # nothing due until the interval passes


async def test_the_background_worker_evaluates_and_delivers(
    open_deck: Any, receiver: Receiver
) -> None:
    deck = await open_deck(alerts={"tick_s": 0.05, "allow_private_urls": True})
    channel = await new_channel(deck, receiver.url, "ops")
    assert (await deck.chat("fake-a", deck.owner)).status_code == 200
    await stored_spans(deck, 1)
    await deck.api("POST", "/alerts/rules", json={**RULE, "channels": [channel["id"]]}, expect=201)
    deadline = time.monotonic() + 10
    while not receiver.got:
        assert time.monotonic() < deadline, "no delivery from the background worker"
        await asyncio.sleep(0.05)
    [(headers, sent)] = receiver.got
    assert verify(channel["secret"], headers["X-Agentdeck-Signature"], sent) is True
    [event] = (await deck.api("GET", "/alerts/events"))["data"]
    assert orjson.loads(sent)["event"] == event
    assert (event["state"], event["value"]) == ("firing", 1.0)


async def test_a_refused_delivery_is_retried_and_a_rejected_one_fails(
    open_deck: Any, receiver: Receiver
) -> None:
    deck = await open_deck(alerts={**QUIET, "retry_backoff_s": [10], "max_attempts": 3})
    await record(deck, [span(await tenant_of(deck), 1, time.time_ns() - SECOND_NS)])
    channel = await new_channel(deck, receiver.url, "c")
    await deck.api("POST", "/alerts/rules", json={**RULE, "channels": [channel["id"]]}, expect=201)
    now = time.time_ns()
    receiver.answers = [500, 503]
    assert await tick(deck, now) == (1, 1)
    [event] = (await deck.api("GET", "/alerts/events"))["data"]

    async def delivery() -> Any:
        return (await deck.api("GET", f"/alerts/events/{event['id']}"))["deliveries"][0]

    first = await delivery()
    assert {k: first[k] for k in ("status", "attempts", "last_status", "last_error")} == {
        "status": "pending", "attempts": 1, "last_status": 500,
        "last_error": "the receiver answered 500",
    }  # fmt: skip
    assert first["next_attempt_at"] is not None
    deliverer = deck.services.alert_deliverer
    assert await deliverer.deliver_due(now + 8 * SECOND_NS) == 0  # 10 s, give or take 10 %
    assert await deliverer.deliver_due(now + 12 * SECOND_NS) == 1
    assert ((await delivery())["attempts"], (await delivery())["last_status"]) == (2, 503)
    assert await deliverer.deliver_due(now + 24 * SECOND_NS) == 1
    done = await delivery()
    assert (done["status"], done["attempts"], done["last_status"]) == ("delivered", 3, 200)
    bodies = [orjson.loads(sent) for _, sent in receiver.got]
    assert [b["attempt"] for b in bodies] == [1, 2, 3]
    assert {b["delivery_id"] for b in bodies} == {done["id"]}
    assert all(verify(channel["secret"], h["X-Agentdeck-Signature"], s) for h, s in receiver.got)
    # A 4xx other than 408/425/429 refuses the request as such: failed at once.
    rule = await deck.api(
        "POST", "/alerts/rules", json={**RULE, "channels": [channel["id"]]}, expect=201
    )
    receiver.answers = [410]
    assert await tick(deck) == (1, 1)
    failed = (await deck.api("GET", f"/alerts/events?rule_id={rule['id']}"))["data"][0]
    [gone] = (await deck.api("GET", f"/alerts/events/{failed['id']}"))["deliveries"]
    assert (gone["status"], gone["attempts"], gone["last_status"]) == ("failed", 1, 410)
    assert gone["next_attempt_at"] is None
    assert await deliverer.deliver_due(time.time_ns() + 3600 * SECOND_NS) == 0


async def test_the_test_delivery_reports_the_receivers_answer(
    open_deck: Any, receiver: Receiver
) -> None:
    deck = await open_deck(alerts=QUIET)
    channel = await new_channel(deck, receiver.url, "c")
    path = f"/alerts/channels/{channel['id']}/test"
    assert await deck.api("POST", path) == {"delivered": True, "status": 200, "error": None}
    [(headers, sent)] = receiver.got
    assert verify(channel["secret"], headers["X-Agentdeck-Signature"], sent) is True
    body = orjson.loads(sent)
    assert (body["type"], body["tenant_id"], body["attempt"]) == (
        "alert.test",
        await tenant_of(deck),
        1,
    )
    assert body["delivery_id"] == headers["X-Agentdeck-Delivery"]
    assert body["event"]["id"] == headers["X-Agentdeck-Event"]
    assert (body["event"]["state"], body["event"]["rule_id"]) == ("test", None)
    receiver.answers = [500]
    assert await deck.api("POST", path) == {"delivered": False, "status": 500, "error": None}
    assert len(receiver.got) == 2  # no retry
    await deck.api(
        "PATCH", f"/alerts/channels/{channel['id']}", json={"url": "http://127.0.0.1:9/"}
    )
    closed = await deck.api("POST", path)
    assert (closed["delivered"], closed["status"]) == (False, None)
    assert closed["error"]


async def test_switching_off_or_deleting_a_firing_rule_resolves_it(
    open_deck: Any, receiver: Receiver
) -> None:
    deck = await open_deck(alerts=QUIET)
    await record(deck, [span(await tenant_of(deck), 1, time.time_ns() - SECOND_NS)])
    channel = await new_channel(deck, receiver.url, "c")
    body = {**RULE, "channels": [channel["id"]]}
    rule = await deck.api("POST", "/alerts/rules", json=body, expect=201)
    path = f"/alerts/rules/{rule['id']}"
    assert await tick(deck) == (1, 1)
    off = await deck.api("PUT", path, json={**body, "enabled": False})
    assert (off["state"], off["firing_severity"], off["enabled"]) == ("ok", None, False)
    [resolved, fired] = (await deck.api("GET", "/alerts/events"))["data"]
    assert (fired["state"], resolved["state"]) == ("firing", "resolved")
    assert resolved["message"] == "busy: resolved, the rule was switched off"
    assert (resolved["severity"], resolved["value"], resolved["threshold"]) == (None, None, None)
    assert await tick(deck) == (0, 1)  # a switched-off rule is not evaluated; its end is sent
    assert await deck.api("PUT", path, json=body)
    assert await tick(deck) == (1, 1)
    await deck.api("DELETE", path, expect=204)
    await deck.api("GET", path, expect=404)
    events = (await deck.api("GET", f"/alerts/events?rule_id={rule['id']}"))["data"]
    assert [e["state"] for e in events] == ["resolved", "firing", "resolved", "firing"]
    assert events[0]["message"] == "busy: resolved, the rule was deleted"
    assert await tick(deck) == (0, 1)
    types = [orjson.loads(sent)["type"] for _, sent in receiver.got]
    assert types == ["alert.firing", "alert.resolved", "alert.firing", "alert.resolved"]
    # Switching off or deleting a rule that is not firing records nothing.
    calm = await deck.api("POST", "/alerts/rules", json={**RULE, "threshold": 5}, expect=201)
    await deck.api("PUT", f"/alerts/rules/{calm['id']}", json={**RULE, "enabled": False})
    await deck.api("DELETE", f"/alerts/rules/{calm['id']}", expect=204)
    assert len((await deck.api("GET", "/alerts/events"))["data"]) == 4


async def test_the_history_pages_with_a_cursor_and_filters(quiet: Deck) -> None:
    deck = quiet
    await record(deck, [span(await tenant_of(deck), 1, time.time_ns() - SECOND_NS)])
    one = await deck.api("POST", "/alerts/rules", json=RULE, expect=201)
    two = await deck.api("POST", "/alerts/rules", json={**RULE, "name": "two"}, expect=201)
    assert await tick(deck) == (2, 0)  # both fire at the same instant
    for threshold in (5, 0, 5):  # one resolves, fires again, resolves
        await deck.api("PUT", f"/alerts/rules/{one['id']}", json={**RULE, "threshold": threshold})
        assert await tick(deck) == (1, 0)
    every = (await deck.api("GET", "/alerts/events"))["data"]
    assert len(every) == 5
    assert [e["at_ns"] for e in every] == sorted((e["at_ns"] for e in every), reverse=True)
    assert every[3]["at_ns"] == every[4]["at_ns"]
    assert every[3]["id"] > every[4]["id"]
    mine = [e["state"] for e in every if e["rule_id"] == one["id"]]
    assert mine == ["resolved", "firing", "resolved", "firing"]
    for size in (1, 2, 4):
        seen, cursor = [], None
        while True:
            query = f"limit={size}" + (f"&cursor={cursor}" if cursor else "")
            page = await deck.api("GET", f"/alerts/events?{query}")
            seen += page["data"]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == every, size

    async def ids(query: str) -> list[str]:
        return [e["id"] for e in (await deck.api("GET", f"/alerts/events?{query}"))["data"]]

    assert await ids(f"rule_id={two['id']}") == [
        e["id"] for e in every if e["rule_id"] == two["id"]
    ]
    assert await ids("state=firing") == [e["id"] for e in every if e["state"] == "firing"]
    assert await ids(f"state=resolved&rule_id={one['id']}") == [every[0]["id"], every[2]["id"]]
    assert await ids(f"since={iso_us(every[1]['at_ns'])}") == [e["id"] for e in every[:2]]
    assert await ids(f"until={iso_us(every[2]['at_ns'])}") == [e["id"] for e in every[3:]]
    between = f"since={iso_us(every[2]['at_ns'])}&until={iso_us(every[1]['at_ns'])}"
    assert await ids(between) == [every[2]["id"]]
    assert await ids("rule_id=alr_nope") == []
    bad = [
        ("cursor=!!", "cursor"),
        ("state=pending", "query.state"),
        ("since=2024-01-01T00:00:00", "since"),  # no time zone
        ("limit=501", "query.limit"),
    ]
    for query, param in bad:
        assert (await error(deck, "GET", f"/alerts/events?{query}", None))["param"] == param
    await deck.api("GET", "/alerts/events/ale_nope", expect=404)


# --- SLO figures -------------------------------------------------------------------------------


async def test_an_availability_slo_counts_gateway_errors_exactly(open_deck: Any) -> None:
    models = {**MODELS, "broken": {"deployments": [{"provider": "fake", "model": "broken"}]}}
    deck = await open_deck(
        alerts=QUIET, models=models, fake_models={"broken": {"fail_status": 400}}
    )
    for model in ["fake-a"] * 5 + ["fake-b"] + ["broken"] * 2:
        expected = 200 if model != "broken" else 400
        assert (await deck.chat(model, deck.owner)).status_code == expected
    await stored_spans(deck, 8)
    slo = await deck.api("POST", "/slos", json=SLO, expect=201)
    status = (await deck.api("GET", f"/slos/{slo['id']}"))["status"]
    burns = status.pop("burn_alerts")
    assert status == {
        "period_days": 30, "total": 8, "good": 6, "bad": 2, "sli": 0.75, "target": 0.875,
        "error_budget": 1.0, "error_budget_remaining": -1.0, "firing": True, "severity": "warning",
    }  # fmt: skip
    # 2 bad of 8 against an allowance of 1 in 8: the budget burns at 2x over every window.
    rates = [
        (b["burn_rate"], b["long_burn_rate"], b["short_burn_rate"], b["firing"]) for b in burns
    ]
    assert rates == [(14.4, 2.0, 2.0, False), (6.0, 2.0, 2.0, False), (3.0, 2.0, 2.0, False),
                     (1.0, 2.0, 2.0, True)]  # fmt: skip
    scoped = {**SLO, "target": 0.75, "scope": {"model": "fake-a"}, "period_days": 1}
    fine = await deck.api("POST", "/slos", json=scoped, expect=201)
    status = (await deck.api("GET", f"/slos/{fine['id']}"))["status"]
    assert (status["total"], status["bad"], status["sli"], status["period_days"]) == (5, 0, 1.0, 1)
    assert (status["error_budget"], status["error_budget_remaining"]) == (1.25, 1.0)
    assert (status["firing"], status["severity"]) == (False, None)
    assert {b["long_burn_rate"] for b in status["burn_alerts"]} == {0.0}
    assert await tick(deck) == (2, 0)
    [event] = (await deck.api("GET", "/alerts/events"))["data"]
    assert (event["rule_id"], event["rule_kind"], event["state"], event["severity"]) == (
        slo["id"], "slo", "firing", "warning",
    )  # fmt: skip
    assert (event["value"], event["threshold"]) == (2.0, 1.0)
    assert event["message"] == "up: error budget burning at 2x over 3d and 2x over 6h (alert at 1x)"
    assert (await deck.api("GET", f"/slos/{slo['id']}"))["state"] == "firing"
    await deck.api("DELETE", f"/slos/{slo['id']}", expect=204)
    [resolved, _] = (await deck.api("GET", "/alerts/events"))["data"]
    assert (resolved["state"], resolved["rule_kind"]) == ("resolved", "slo")
    assert resolved["message"] == "up: resolved, the rule was deleted"
    project = (await deck.api("GET", "/me"))["project_id"]
    for scope, total in (({"project_id": project}, 8), ({"project_id": "p-other"}, 0)):
        made = await deck.api("POST", "/slos", json={**SLO, "scope": scope}, expect=201)
        assert (await deck.api("GET", f"/slos/{made['id']}"))["status"]["total"] == total


async def test_a_latency_slo_burns_over_its_long_and_short_windows(quiet: Deck) -> None:
    deck = quiet
    tenant, now = await tenant_of(deck), time.time_ns()
    earlier, recent = now - 2000 * SECOND_NS, now - 100 * SECOND_NS
    durations_us = [(earlier, 150_000), (earlier, 200_000), (earlier, 300_000), (earlier, 50_000),
                    (recent, 100_000), (recent, 100_001), (recent, 10_000), (recent, 20_000),
                    (now - 2 * 86_400 * SECOND_NS, 500_000)]  # fmt: skip
    await record(deck, [span(tenant, n + 1, at, us) for n, (at, us) in enumerate(durations_us)])
    body = {
        "name": "fast", "objective": "latency", "target": 0.5, "threshold_ms": 100,
        "period_days": 1,
        "burn_alerts": [
            {"severity": "critical", "long_s": 3600, "short_s": 300, "burn_rate": 1},
            {"severity": "warning", "long_s": 3600, "short_s": 300, "burn_rate": 0.5},
        ],
    }  # fmt: skip
    slo = await deck.api("POST", "/slos", json=body, expect=201)
    assert slo["threshold_ms"] == 100.0
    status = (await deck.api("GET", f"/slos/{slo['id']}"))["status"]
    # Within the day: 8 spans, 4 slower than 100 ms (100 ms itself is good); the 2-day-old
    # one is outside the period. Last hour: 4 bad of 8 = 1x; last 5 minutes: 1 of 4 = 0.5x.
    assert {k: status[k] for k in ("total", "good", "bad", "sli", "error_budget")} == {
        "total": 8, "good": 4, "bad": 4, "sli": 0.5, "error_budget": 4.0,
    }  # fmt: skip
    assert status["error_budget_remaining"] == 0.0
    rates = [
        (b["long_burn_rate"], b["short_burn_rate"], b["firing"]) for b in status["burn_alerts"]
    ]
    assert rates == [(1.0, 0.5, False), (1.0, 0.5, True)]
    assert (status["firing"], status["severity"]) == (True, "warning")
    assert await tick(deck) == (1, 0)
    [event] = (await deck.api("GET", "/alerts/events"))["data"]
    assert (event["severity"], event["value"], event["threshold"]) == ("warning", 1.0, 0.5)
    assert [a["firing"] for a in event["details"]["burn_alerts"]] == [False, True]
    assert event["details"]["objective"] == "latency"


async def test_each_metric_is_measured_over_the_window(open_deck: Any) -> None:
    deck = await open_deck(alerts=QUIET)
    tenant, at = await tenant_of(deck), time.time_ns() - 10 * SECOND_NS
    chat = {"operation": "chat", "request_model": "fake-a"}
    await record(deck, [
        span(tenant, 1, at, 100_000, cost_micros=1_500_000, input_tokens=100, output_tokens=50,
             **chat),
        span(tenant, 2, at, 300_000, cost_micros=500_000, input_tokens=10, output_tokens=5,
             status="error", **chat),
        span(tenant, 3, at, 10_000, operation="execute_tool", tool_name="search", status="error"),
        span(tenant, 4, at, 20_000, operation="execute_tool", tool_name="search"),
        span(tenant, 5, at - 7200 * SECOND_NS, 900_000, cost_micros=10**9, **chat),  # too old
    ])  # fmt: skip
    rules = {  # metric, condition, threshold -> (last value, state)
        ("cost_usd", "above", 1.5): (2.0, "firing"),
        ("error_rate", "above", 0.5): (0.5, "ok"),
        ("latency_p95_ms", "above", 250): (300.0, "firing"),  # nearest rank: the 4th of 4
        ("tool_error_rate", "above", 0.4): (0.5, "firing"),
        ("tokens", "below", 200): (165.0, "firing"),
    }
    ids = {}
    for metric, condition, threshold in rules:
        body = {"name": metric, "metric": metric, "condition": condition, "threshold": threshold}
        ids[metric] = (await deck.api("POST", "/alerts/rules", json=body, expect=201))["id"]
    assert await tick(deck) == (5, 0)
    for (metric, _, _), expected in rules.items():
        found = await deck.api("GET", f"/alerts/rules/{ids[metric]}")
        assert (found["last_value"], found["state"]) == expected, metric


async def test_a_decimal_target_gives_exact_figures(open_deck: Any) -> None:
    deck = await open_deck(alerts=QUIET)
    tenant, at = await tenant_of(deck), time.time_ns() - SECOND_NS
    await record(
        deck, [span(tenant, n, at, status="error" if n == 1 else "ok") for n in range(1, 11)]
    )
    slo = await deck.api("POST", "/slos", json={**SLO, "target": 0.9}, expect=201)
    status = (await deck.api("GET", f"/slos/{slo['id']}"))["status"]
    assert (status["sli"], status["error_budget"], status["error_budget_remaining"]) == (
        0.9,
        1.0,
        0.0,
    )
    assert {b["long_burn_rate"] for b in status["burn_alerts"]} == {1.0}
