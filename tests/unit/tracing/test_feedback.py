"""Feedback in the store (SQLite, and PostgreSQL when configured): what is stored, filters,
newest-first keyset pages, tenant isolation, bad cursors, and the table migration 0005 built."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from agentdeck.errors import InvalidRequestError
from agentdeck.tracing.feedback import (
    FeedbackFilter,
    FeedbackStore,
    NewFeedback,
    encode_cursor,
    feedback,
)
from tests.unit.tracing.conftest import BASE_NS, SECOND_NS

A, B = "tenant-a", "tenant-b"
T1, T2 = "1" * 32, "2" * 32
S1 = "000000000000000a"


def _given(tenant_id: str = A, trace_id: str = T1, **fields: object) -> NewFeedback:
    return NewFeedback(
        tenant_id=tenant_id,
        project_id=fields.pop("project_id", "p1"),  # type: ignore[arg-type]
        principal_id="u-1",
        trace_id=trace_id,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def stored(store: AsyncEngine) -> FeedbackStore:
    """Five pieces of A's feedback one second apart (oldest first), and two of B's."""
    found = FeedbackStore(store)
    given = [
        _given(thumbs="up", comment="great"),
        _given(span_id=S1, score=0.25, name="helpfulness"),
        _given(trace_id=T2, thumbs="down", score=0.5, user_id="h:abc", metadata={"k": [1, 2]}),
        _given(trace_id=T2, score=7, name="helpfulness", project_id="p2"),
        _given(thumbs="down"),
        _given(tenant_id=B, thumbs="up", comment="b's"),
        _given(tenant_id=B, trace_id=T2, score=1, name="helpfulness"),
    ]
    for n, one in enumerate(given):
        await found.add(one, now_ns=BASE_NS + n * SECOND_NS)
    return found


async def _comments_and_scores(
    store: FeedbackStore, where: FeedbackFilter, tenant_id: str = A
) -> list[tuple[str, str | None, float | None]]:
    page, after = await store.list(tenant_id, where)
    assert after is None
    return [(row["trace_id"][0], row["thumbs"], row["score"]) for row in page]


async def test_add_returns_the_stored_row(store: AsyncEngine) -> None:
    added = await FeedbackStore(store).add(
        _given(span_id=S1, score=0.75, thumbs="up", comment="ok", user_id="h:1",
               metadata={"a": {"b": None}}, name="accuracy"),
        now_ns=BASE_NS + 123_456_789,
    )  # fmt: skip
    assert added["id"].startswith("fb_")
    assert len(added["id"]) == 27
    assert {key: value for key, value in added.items() if key != "id"} == {
        "tenant_id": A,
        "project_id": "p1",
        "principal_id": "u-1",
        "trace_id": T1,
        "span_id": S1,
        "name": "accuracy",
        "score": 0.75,
        "thumbs": "up",
        "comment": "ok",
        "user_id": "h:1",
        "metadata": {"a": {"b": None}},
        "created_ns": BASE_NS + 123_456_789,
        "created_time": "2023-11-14T22:13:20.123457Z",
    }
    page, _ = await FeedbackStore(store).list(A, FeedbackFilter())
    assert page == [added]


async def test_list_is_newest_first_within_the_tenant(stored: FeedbackStore) -> None:
    assert await _comments_and_scores(stored, FeedbackFilter()) == [
        ("1", "down", None),
        ("2", None, 7.0),
        ("2", "down", 0.5),
        ("1", None, 0.25),
        ("1", "up", None),
    ]
    assert await _comments_and_scores(stored, FeedbackFilter(), B) == [
        ("2", None, 1.0),
        ("1", "up", None),
    ]
    assert await _comments_and_scores(stored, FeedbackFilter(), "tenant-c") == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (FeedbackFilter(trace_id=T2), [("2", None, 7.0), ("2", "down", 0.5)]),
        (FeedbackFilter(span_id=S1), [("1", None, 0.25)]),
        (FeedbackFilter(name="helpfulness"), [("2", None, 7.0), ("1", None, 0.25)]),
        (FeedbackFilter(project_id="p2"), [("2", None, 7.0)]),
        # created time: since inclusive, until exclusive
        (FeedbackFilter(since_ns=BASE_NS + 3 * SECOND_NS), [("1", "down", None), ("2", None, 7.0)]),
        (FeedbackFilter(until_ns=BASE_NS + SECOND_NS), [("1", "up", None)]),
        (
            FeedbackFilter(since_ns=BASE_NS + SECOND_NS, until_ns=BASE_NS + 3 * SECOND_NS),
            [("2", "down", 0.5), ("1", None, 0.25)],
        ),
        (FeedbackFilter(trace_id=T2, name="helpfulness"), [("2", None, 7.0)]),
        (FeedbackFilter(trace_id="f" * 32), []),
    ],
)
async def test_filters(
    stored: FeedbackStore, where: FeedbackFilter, expected: list[tuple[str, str, float]]
) -> None:
    assert await _comments_and_scores(stored, where) == expected


async def test_filters_never_reach_another_tenant(stored: FeedbackStore) -> None:
    page, _ = await stored.list(B, FeedbackFilter(trace_id=T1))
    assert [(row["tenant_id"], row["comment"]) for row in page] == [(B, "b's")]
    page, _ = await stored.list(A, FeedbackFilter(name="helpfulness", trace_id=T2))
    assert [(row["tenant_id"], row["score"]) for row in page] == [(A, 7.0)]


async def test_pages_return_every_row_once(store: AsyncEngine) -> None:
    found = FeedbackStore(store)
    # Seven rows, three of them recorded at the same nanosecond (ordered by id then).
    for n, at in enumerate([5, 9, 9, 9, 1, 2, 3]):
        await found.add(_given(score=n), now_ns=BASE_NS + at)
    everything, end = await found.list(A, FeedbackFilter(), limit=100)
    assert end is None
    assert len(everything) == 7
    keys = [(row["created_ns"], row["id"]) for row in everything]
    assert keys == sorted(keys, reverse=True)
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        page, cursor = await found.list(A, FeedbackFilter(), limit=3, cursor=cursor)
        seen += [row["id"] for row in page]
        sizes.append(len(page))
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == [row["id"] for row in everything]


async def test_the_last_full_page_has_no_next_cursor(stored: FeedbackStore) -> None:
    first, after = await stored.list(A, FeedbackFilter(), limit=3)
    assert after == encode_cursor(first[-1])
    rest, end = await stored.list(A, FeedbackFilter(), limit=2, cursor=after)
    assert [row["score"] for row in rest] == [0.25, None]
    assert end is None


@pytest.mark.parametrize(
    "cursor",
    ["!!!", "a", "", "YTpi", "MTox OjI", "__79", "MToyOjM", "MTg0NDY3NDQwNzM3MDk1NTE2MTY6YQ"],
)
async def test_a_bad_cursor_is_an_invalid_request_naming_it(
    stored: FeedbackStore, cursor: str
) -> None:
    with pytest.raises(InvalidRequestError, match="cursor") as caught:
        await stored.list(A, FeedbackFilter(), cursor=cursor)
    assert caught.value.param == "cursor"
    assert caught.value.status == 400


async def test_the_migration_builds_the_declared_table(store: AsyncEngine) -> None:
    async with store.connect() as conn:
        columns, indexes, primary = await conn.run_sync(
            lambda sync: (
                {c["name"]: c["nullable"] for c in sa.inspect(sync).get_columns("feedback")},
                {i["name"]: i["column_names"] for i in sa.inspect(sync).get_indexes("feedback")},
                sa.inspect(sync).get_pk_constraint("feedback")["constrained_columns"],
            )
        )
    assert columns == {column.name: column.nullable for column in feedback.c}
    assert indexes == {
        "ix_feedback_tenant_created": ["tenant_id", "created_ns"],
        "ix_feedback_tenant_trace": ["tenant_id", "trace_id"],
    }
    assert primary == ["id"]
