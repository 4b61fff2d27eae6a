"""The alert worker over a real store (SQLite, and PostgreSQL when configured) and a real
webhook receiver on loopback: a rule fires and resolves, each change recorded once and delivered
signed; retries honour the backoff and Retry-After; refusals fail at once; two replicas claim
each rule and each delivery once; a stale evaluation records nothing; secrets are sealed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import ConfigurationError
from agentdeck.identity.changes import Changes
from agentdeck.identity.tables import audit_events, tenants
from agentdeck.identity.vault import Vault
from agentdeck.settings_alerts import AlertSettings
from agentdeck.tracing.alerts.history import AlertHistory, record_evaluation
from agentdeck.tracing.alerts.models import MetricRuleSpec, Verdict
from agentdeck.tracing.alerts.signing import verify
from agentdeck.tracing.alerts.store import AlertStore, Author
from agentdeck.tracing.alerts.tables import alert_channels, alert_deliveries, alert_rules
from agentdeck.tracing.alerts.webhooks import WebhookDeliverer, private_target
from agentdeck.tracing.alerts.worker import AlertWorker
from tests.unit.tracing.alerts.test_evaluate import NOW, A, B, record, span
from tests.unit.tracing.conftest import SECOND_NS

AUTHOR = Author(A, "user:tester", "req-1")
MASTER = bytes(range(32))
SECRET = "whsec_0123456789abcdef"


@dataclass
class Receiver:
    """A webhook receiver answering from a script (default 200), recording what arrived."""

    url: str = ""
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.got]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def take(request: web.Request) -> web.Response:
        found.got.append((dict(request.headers), await request.read()))
        status, headers = found.answers.pop(0) if found.answers else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/hook"
    yield found
    await runner.cleanup()


def settings(**values: Any) -> AlertSettings:
    values.setdefault("allow_private_urls", True)  # the receiver is on loopback
    values.setdefault("retry_backoff_s", [1.0, 5.0])
    values.setdefault("delivery_timeout_s", 2)
    return AlertSettings(**values)


def worker(engine: AsyncEngine, store: AlertStore, **values: Any) -> AlertWorker:
    alert_settings = settings(**values)
    return AlertWorker(engine, alert_settings, WebhookDeliverer(engine, store, alert_settings))


@pytest.fixture
async def alerts(store: AsyncEngine) -> AlertStore:
    """The alert store of tenants A and B (real tenant rows: their data keys refer to them)."""
    async with store.begin() as conn:
        await conn.execute(
            tenants.insert(),
            [{"id": t, "slug": t, "name": t, "created_at": datetime.now(UTC)} for t in (A, B)],
        )
    return AlertStore(store, Vault(Changes(store), [MASTER]))


async def deliveries(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        query = sa.select(alert_deliveries).order_by(alert_deliveries.c.id)
        return list((await conn.execute(query)).all())


async def a_rule(alerts: AlertStore, url: str, **fields: Any) -> dict[str, Any]:
    channel = await alerts.create_channel(AUTHOR, "ops", url, SECRET)
    fields.setdefault("metric", "requests")
    fields.setdefault("threshold", 0)
    spec = MetricRuleSpec(name="traffic", window_s=60, channels=[channel["id"]], **fields)
    made = await alerts.create_rule(AUTHOR, spec)
    # Due at NOW, the tests' clock (a rule is due when made, by the wall clock).
    async with alerts._engine.begin() as conn:
        await conn.execute(
            alert_rules.update().where(alert_rules.c.id == made["id"]).values(next_eval_ns=NOW)
        )
    return made


async def test_a_rule_fires_and_resolves_each_delivered_signed_once(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    made = await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS) for _ in range(3)])
    run = worker(store, alerts)
    assert await run.tick(NOW) == (1, 1)
    assert await run.tick(NOW + SECOND_NS) == (0, 0)  # not due again for 60 s
    headers, body = receiver.got[0]
    assert verify(SECRET, headers["X-Agentdeck-Signature"], body) is True
    sent = orjson.loads(body)
    assert (sent["type"], sent["tenant_id"], sent["attempt"]) == ("alert.firing", A, 1)
    event = sent["event"]
    assert (event["rule_id"], event["state"], event["value"], event["threshold"]) == (
        made["id"], "firing", 3.0, 0.0,
    )  # fmt: skip
    assert headers["X-Agentdeck-Event"] == event["id"]
    assert headers["X-Agentdeck-Delivery"] == sent["delivery_id"]
    rule = await alerts.rule(A, "metric", made["id"])
    assert (rule["state"], rule["firing_severity"], rule["last_value"]) == ("firing", "warning", 3)
    # A minute later the window is empty: 0 requests, resolved.
    assert await run.tick(NOW + 60 * SECOND_NS) == (1, 1)
    assert [b["type"] for b in receiver.bodies()] == ["alert.firing", "alert.resolved"]
    history = await AlertHistory(store).events(A)
    assert [e["state"] for e in history["data"]] == ["resolved", "firing"]
    detail = await AlertHistory(store).event(A, event["id"])
    assert [(d["status"], d["attempts"], d["last_status"]) for d in detail["deliveries"]] == [
        ("delivered", 1, 200)
    ]
    await run.stop()


async def test_a_retry_waits_for_retry_after_and_arrives_once_more(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    receiver.answers = [(503, {"Retry-After": "2"})]
    run = worker(store, alerts)
    assert await run.tick(NOW) == (1, 1)
    [pending] = await deliveries(store)
    assert (pending.status, pending.attempts, pending.last_status) == ("pending", 1, 503)
    assert pending.next_attempt_ns == NOW + 2 * SECOND_NS  # max(1 s backoff, Retry-After 2 s)
    assert pending.last_error == "the receiver answered 503"
    assert await run.deliverer.deliver_due(NOW + 2 * SECOND_NS - 1) == 0
    assert await run.deliverer.deliver_due(NOW + 2 * SECOND_NS) == 1
    [done] = await deliveries(store)
    assert (done.status, done.attempts, done.last_status, done.last_error) == (
        "delivered", 2, 200, None,
    )  # fmt: skip
    first, second = receiver.bodies()
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["event"] == second["event"]
    assert first["delivery_id"] == second["delivery_id"]
    await run.stop()


async def test_a_refusal_fails_at_once_and_attempts_run_out(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    receiver.answers = [(400, {})]
    run = worker(store, alerts)
    await run.tick(NOW)
    [refused] = await deliveries(store)
    assert (refused.status, refused.attempts, refused.last_status) == ("failed", 1, 400)
    # A receiver that keeps failing: 500, 500, then attempts (2) are spent.
    await a_rule(alerts, receiver.url, metric="errors", condition="below", threshold=1)
    receiver.answers = [(500, {}), (500, {})]
    run = worker(store, alerts, max_attempts=2)
    await run.evaluate_due(NOW)
    later = NOW
    for _ in range(2):
        await run.deliverer.deliver_due(later)
        later += 6 * SECOND_NS  # past the largest pause with its jitter
    spent = [d for d in await deliveries(store) if d.id != refused.id]
    assert [(d.status, d.attempts, d.last_status) for d in spent] == [("failed", 2, 500)]
    await run.stop()


async def test_an_unreachable_receiver_is_retried(store: AsyncEngine, alerts: AlertStore) -> None:
    await a_rule(alerts, "http://127.0.0.1:9/nothing-listens")
    await record(store, [span(NOW - SECOND_NS)])
    run = worker(store, alerts)
    await run.tick(NOW)
    [pending] = await deliveries(store)
    assert (pending.status, pending.attempts, pending.last_status) == ("pending", 1, None)
    assert "Connect" in pending.last_error
    assert NOW + 0.9 * SECOND_NS <= pending.next_attempt_ns <= NOW + 1.1 * SECOND_NS
    await run.stop()


async def test_two_replicas_evaluate_and_deliver_each_once(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    for _ in range(10):
        await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    one, two = worker(store, alerts), worker(store, alerts)
    evaluated = await asyncio.gather(one.evaluate_due(NOW), two.evaluate_due(NOW))
    assert sum(evaluated) == 10
    sent = await asyncio.gather(one.deliverer.deliver_due(NOW), two.deliverer.deliver_due(NOW))
    assert sum(sent) == 10
    assert len(receiver.got) == 10
    assert len({b["event"]["rule_id"] for b in receiver.bodies()}) == 10
    await one.stop()
    await two.stop()


async def test_an_evaluation_of_a_rule_changed_meanwhile_records_nothing(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    made = await a_rule(alerts, receiver.url)
    row = await alerts.rule_row(A, "metric", made["id"])
    spec = MetricRuleSpec.model_validate({**orjson.loads(row.spec), "threshold": 5})
    await alerts.replace_rule(AUTHOR, made["id"], spec)
    firing = Verdict(True, 9.0, 0.0, "traffic: requests is 9, above 0", "warning")
    assert await record_evaluation(store, row, firing, NOW) is None
    assert (await AlertHistory(store).events(A))["data"] == []
    fresh = await alerts.rule_row(A, "metric", made["id"])
    assert await record_evaluation(store, fresh, firing, NOW) is not None


async def test_deleting_or_switching_off_a_firing_rule_resolves_it(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    first = await a_rule(alerts, receiver.url)
    second = await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    run = worker(store, alerts)
    await run.tick(NOW)
    await alerts.delete_rule(AUTHOR, "metric", first["id"])
    row = await alerts.rule_row(A, "metric", second["id"])
    off = MetricRuleSpec.model_validate({**orjson.loads(row.spec), "enabled": False})
    await alerts.replace_rule(AUTHOR, second["id"], off)
    events = (await AlertHistory(store).events(A))["data"]
    resolved = {e["rule_id"]: e["message"] for e in events if e["state"] == "resolved"}
    assert resolved == {
        first["id"]: "traffic: resolved, the rule was deleted",
        second["id"]: "traffic: resolved, the rule was switched off",
    }
    assert await run.evaluate_due(NOW + 60 * SECOND_NS) == 0  # one gone, the other off
    # Resolved now, by the wall clock: both delivered.
    assert await run.deliverer.deliver_due(time.time_ns()) == 2
    assert [b["type"] for b in receiver.bodies()].count("alert.resolved") == 2
    await run.stop()


async def test_a_delivery_whose_channel_is_gone_fails(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    made = await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    run = worker(store, alerts)
    await run.evaluate_due(NOW)
    row = await alerts.rule_row(A, "metric", made["id"])
    spec = MetricRuleSpec.model_validate({**orjson.loads(row.spec), "channels": []})
    await alerts.replace_rule(AUTHOR, made["id"], spec)
    await alerts.delete_channel(AUTHOR, orjson.loads(row.channel_ids)[0])
    assert await run.deliverer.deliver_due(NOW) == 1
    [gone] = await deliveries(store)
    assert (gone.status, gone.last_error) == ("failed", "the channel or the event was deleted")
    assert receiver.got == []
    await run.stop()


async def test_secrets_are_sealed_with_a_master_key_and_kept_as_is_without(
    store: AsyncEngine, alerts: AlertStore
) -> None:
    sealed = await alerts.create_channel(AUTHOR, "sealed", "https://hooks.example/a", SECRET)
    plain_store = AlertStore(store, Vault(Changes(store), []))
    plain = await plain_store.create_channel(AUTHOR, "plain", "https://hooks.example/b", None)
    assert (sealed["secret_sealed"], plain["secret_sealed"]) == (True, False)
    assert plain["secret"].startswith("whsec_")
    assert len(plain["secret"]) > 40
    async with store.connect() as conn:
        rows = {r.id: r for r in await conn.execute(sa.select(alert_channels))}
    assert rows[sealed["id"]].secret is None
    assert SECRET.encode() not in rows[sealed["id"]].secret_sealed
    assert rows[plain["id"]].secret == plain["secret"]
    assert await alerts.channel_target(A, sealed["id"]) == ("https://hooks.example/a", SECRET)
    assert "secret" not in await alerts.channel(A, sealed["id"])
    # Copied to another tenant, the sealed secret does not open.
    assert await alerts.channel_target(B, sealed["id"]) is None
    copied = rows[sealed["id"]].secret_sealed
    vault = Vault(Changes(store), [MASTER])
    assert await vault.seal_value(B, "anything", "x") is not None  # B has a data key too
    with pytest.raises(ConfigurationError, match=r"does not decrypt for this tenant"):
        await vault.open_value(B, f"alert-channel:{sealed['id']}", copied)


async def test_changes_are_audited(store: AsyncEngine, alerts: AlertStore) -> None:
    made = await a_rule(alerts, "https://hooks.example/a")
    await alerts.delete_rule(AUTHOR, "metric", made["id"])
    async with store.connect() as conn:
        found = (
            await conn.execute(
                sa.select(audit_events.c.action, audit_events.c.resource, audit_events.c.actor)
                .where(audit_events.c.tenant_id == A)
                .order_by(audit_events.c.position)
            )
        ).all()
    assert [(action, resource.split("/")[0], actor) for action, resource, actor in found] == [
        ("alert-channel.create", "alert-channel", "user:tester"),
        ("alert-rule.create", "alert-rule", "user:tester"),
        ("alert-rule.delete", "alert-rule", "user:tester"),
    ]
    async with store.connect() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(alert_rules))) == 0


async def test_private_addresses_are_refused_unless_allowed(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    await a_rule(alerts, receiver.url)
    await record(store, [span(NOW - SECOND_NS)])
    run = worker(store, alerts, allow_private_urls=False)
    assert await run.tick(NOW) == (1, 1)
    [refused] = await deliveries(store)
    assert (refused.status, refused.attempts, refused.last_status) == ("failed", 1, None)
    assert refused.last_error == (
        "127.0.0.1 is 127.0.0.1, not a public address: deliveries there need "
        "alerts.allow_private_urls"
    )
    assert receiver.got == []
    await run.stop()


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:9/a", True),
        ("http://localhost/a", True),
        ("http://10.1.2.3/a", True),
        ("http://192.168.0.7/a", True),
        ("http://169.254.169.254/latest/meta-data", True),  # cloud metadata
        ("http://[::1]/a", True),
        ("http://[fd00::1]/a", True),
        ("http://0.0.0.0/a", True),
        ("https://93.184.216.34/hook", False),
        ("https://[2606:4700::1111]/hook", False),
    ],
)
async def test_which_targets_are_private(url: str, refused: bool) -> None:
    assert (await private_target(url) is not None) is refused


async def test_a_firing_rule_without_data_resolves(
    store: AsyncEngine, alerts: AlertStore, receiver: Receiver
) -> None:
    made = await a_rule(alerts, receiver.url, metric="error_rate", threshold=0.1)
    await record(store, [span(NOW - SECOND_NS, status="error")])
    run = worker(store, alerts)
    await run.evaluate_due(NOW)
    assert (await alerts.rule(A, "metric", made["id"]))["state"] == "firing"
    await run.evaluate_due(NOW + 60 * SECOND_NS)  # no spans in the window: no data
    rule = await alerts.rule(A, "metric", made["id"])
    assert (rule["state"], rule["last_value"]) == ("ok", None)
    events = (await AlertHistory(store).events(A))["data"]
    assert [(e["state"], e["message"]) for e in events] == [
        ("resolved", "traffic: no data for error_rate"),
        ("firing", "traffic: error_rate is 1, above 0.1"),
    ]
    await run.stop()
