"""Denials carry text from requests: a NUL or an overlong name must be stored (made storable),
never block the queue for the events after it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.identity.audit_log import AuditEvent, AuditQueue, events, verify_tenant


async def test_odd_denials_are_stored_and_the_ones_after_them_too(store: AsyncEngine) -> None:
    dropped: list[int] = []
    queue = AuditQueue(store, on_drop=lambda: dropped.append(1))
    await queue.start()
    queue.add(AuditEvent("ten_a", "service:" + "s" * 200, "model.denied", "model/a\x00b"))
    queue.add(AuditEvent("ten_a", "user:u", "model.denied", "model/" + "m" * 400))
    queue.add(AuditEvent("ten_a", "user:u", "api.denied", "GET /api/v1/keys"))
    await queue.stop()
    stored = [event async for event in events(store, "ten_a")]
    assert [e["action"] for e in stored] == ["model.denied", "model.denied", "api.denied"]
    assert stored[0]["resource"] == "model/a\ufffdb"
    assert len(stored[0]["actor"]) == 200
    assert len(stored[1]["resource"]) == 300
    assert dropped == []
    assert (await verify_tenant(store, "ten_a")).ok
