"""Property: a process following another's do-not-call changes never lets
through a number the store lists, whatever the order of adds, removals,
re-adds and prunes between its looks (SQLite; the follow logic is the same
on PostgreSQL, whose removals the example tests in test_dnc_lists.py run).

The other process is played by direct writes to the store; the follower's
look (``_follow_dnc``) is called by hand, so the order is the test's.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from service_testing import make_campaign, telephony

from dialer.errors import NotFound
from dialer.runtime.service import DialerService
from dialer.runtime.settings import Settings
from dialer.storage import dnc
from dialer.storage.records import DncScope

PHONES = ("+14155550101", "+14155550102")

# (op, phone index, list, whether the follower looks after it). A number
# may be on the internal list and a registry's rows at once: a removal
# takes it off the internal one only, and it stays blocked.
Op = tuple[str, int, str, bool]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "prune"]),
        st.integers(0, len(PHONES) - 1),
        st.sampled_from(["internal", "campaign", "registry"]),
        st.booleans(),
    ),
    min_size=3,
    max_size=12,
)


async def _run(ops: list[Op], folder: Path) -> None:
    svc = DialerService(
        Settings(
            database_url=f"sqlite+aiosqlite:///{folder / 'dialer.db'}",
            api_key="secret",
            dnc_refresh_s=3600.0,  # the looks are the test's
        ),
        telephony=telephony(),
    )
    await svc.start()
    try:
        cid = await make_campaign(svc)
        other = await make_campaign(svc)
        db = svc.store.db

        async def check() -> None:
            await svc._follow_dnc()
            async with db.transaction() as s:
                for phone in PHONES:
                    for campaign in (cid, other):
                        listed = await dnc.is_blocked(s, phone=phone, campaign_id=campaign)
                        assert svc.dnc.blocked(phone, campaign) is listed, (phone, campaign)

        for op, i, listed_on, look in ops:
            phone = PHONES[i]
            scope = DncScope(listed_on)
            campaign_id = cid if scope is DncScope.CAMPAIGN else None
            # Not on that list: NotFound, and the transaction rolls back
            # (its change count with it).
            with contextlib.suppress(NotFound):
                async with db.transaction() as s:
                    if op == "add":
                        await dnc.add_numbers(
                            s, numbers=[phone], scope=scope, campaign_id=campaign_id
                        )
                    elif op == "remove" and scope is not DncScope.REGISTRY:
                        await dnc.remove_number(s, phone=phone, campaign_id=campaign_id)
                    elif op == "prune":  # as if the follower had slept a day
                        await dnc.prune_removals(s, before=datetime.now(UTC) + timedelta(days=2))
            if look:
                await check()
        await check()
    finally:
        await svc.stop()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=OPS)
# Seen, and kept: a removal whose row was pruned before the follower looked.
@example(
    ops=[
        ("add", 0, "internal", True),
        ("remove", 0, "internal", False),
        ("prune", 0, "internal", True),
    ]
)
# A removal off the internal list of a number a registry's rows list too.
@example(
    ops=[
        ("add", 0, "registry", False),
        ("add", 0, "internal", True),
        ("remove", 0, "internal", True),
    ]
)
def test_the_follower_blocks_exactly_what_the_store_lists(ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_run(ops, Path(folder)))
