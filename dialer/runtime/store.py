"""The runtime's persistence: one transaction per operation over dialer.storage.

The repositories take a session and never commit; this adapter gives each
service operation its own transaction, keeps a small cache of campaign
settings (retry delays are needed at every call's end), and decides where a
lead goes after each attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.calls import CallRecord
from dialer.campaign import CallOutcome, CampaignSettings, Lead
from dialer.commands import PlaceCall, SkipLead
from dialer.compliance.registry import Registry
from dialer.errors import ConflictError, NotFound
from dialer.storage import agents as agent_repo
from dialer.storage import calls as call_repo
from dialer.storage import campaigns as campaign_repo
from dialer.storage import dnc as dnc_repo
from dialer.storage import dnc_registry as registry_repo
from dialer.storage import leads as lead_repo
from dialer.storage import processes as process_repo
from dialer.storage import retention as retention_repo
from dialer.storage import skips as skip_repo
from dialer.storage.database import Database, Statement, Write
from dialer.storage.migrate import upgrade_async
from dialer.storage.models import DncEntryRow, LeadRow, SettingRow
from dialer.storage.records import (
    AddResult,
    CallPage,
    CampaignTotals,
    DncScope,
    DncVersions,
    LeadStatus,
    NewLead,
    RejectedLead,
    SkippedDial,
    StoredAgent,
    StoredCall,
    StoredCampaign,
    StoredLead,
    StoredRegistryLoad,
)

__all__ = ["DEFAULT_RETRY_DELAYS_S", "DNC_PER_TRANSACTION", "SLICE_GAP_S", "RuntimeStore"]

_LEADS_PER_TRANSACTION = 1_000
# Do-not-call numbers per transaction: one for 50,000 held SQLite's write
# lock for 40 s, and the heartbeat failed behind it.
DNC_PER_TRANSACTION = 5_000
# When a lead the gate refused on lists it had not caught up with comes back.
_STALE_LIST_RETRY = timedelta(seconds=30)
# A gap between the transactions of a big load, for writers waiting on
# SQLite's lock: its busy handler sleeps between looks, and would miss a lock
# held again at once.
SLICE_GAP_S = 0.05

# Seconds before a lead is tried again, by what happened (campaigns override).
DEFAULT_RETRY_DELAYS_S: dict[str, float] = {
    "no_answer": 3600.0,
    "busy": 600.0,
    "machine": 3600.0,
    "abandoned": 3600.0,
    "failed": 600.0,
}


class _WallClock:
    __slots__ = ("_to_wall",)

    def __init__(self, to_wall: Callable[[float], float]) -> None:
        self._to_wall = to_wall

    def wall_epoch(self, now: float) -> float:
        return self._to_wall(now)


def _epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class RuntimeStore:
    def __init__(self, url: str, *, owner: str) -> None:
        self.url = url
        self.owner = owner
        self._db: Database | None = None
        self._settings: dict[str, CampaignSettings] = {}
        # Whether a national registry copy in force lists a number (the
        # service sets it: the copies live in its memory, not here).
        self.on_registry: Callable[[str], bool] = lambda _phone: False

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    # ------------------------------------------------------------------ life
    async def open(self) -> None:
        """Create or upgrade the schema (alembic), then connect."""
        await upgrade_async(self.url)
        self._db = Database(self.url)
        await self._db.reserve_write_alone()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.dispose()
            self._db = None

    async def ping(self) -> bool:
        return self._db is not None and await self._db.ping(timeout_s=2.0)

    async def register_process(self) -> None:
        async with self.db.transaction() as s:
            await process_repo.register(s, process_id=self.owner, now=datetime.now(UTC))

    async def heartbeat(self) -> bool:
        """Beat; False if another process had taken this one for dead meanwhile."""
        async with self.db.transaction() as s:
            return await process_repo.beat(s, process_id=self.owner, now=datetime.now(UTC))

    async def publish_figures(self, figures: str) -> None:
        """Store this process's live figures for the others' reads."""
        async with self.db.transaction() as s:
            await process_repo.publish_figures(s, process_id=self.owner, figures=figures)

    async def floor_figures(self, *, lease_s: float) -> list[tuple[str, str | None]]:
        """(process id, JSON text) of the figures the other live processes published."""
        cutoff = datetime.now(UTC) - timedelta(seconds=lease_s)
        async with self.db.transaction() as s:
            return await process_repo.live_figures(s, since=cutoff, other_than=self.owner)

    async def unregister_process(self) -> None:
        async with self.db.transaction() as s:
            await process_repo.unregister(s, process_id=self.owner)

    async def recover(self, *, lease_s: float) -> tuple[int, int]:
        """Close the calls and free the leads of processes that died; (calls, leads).

        A process is dead when its heartbeat is older than ``lease_s`` (or it
        never registered: a crash before this schema). Live ones, this one
        and any other on the database, keep everything they hold. A call
        left open by a dead process is over (its telephony went with it): it
        is closed as ``failed`` and its lead counts the attempt, so a restart
        never dials a lead twice for one attempt. A person who had been
        bridged to an agent was reached: the lead is done, as it would be
        after a disposition-less talk, not dialed again at once; the same for
        a call that ended while its agent was wrapping it up. Safe to run at
        any time and from several processes at once: a call is closed once.
        """
        now = datetime.now(UTC)
        cutoff = now - timedelta(seconds=lease_s)
        async with self.db.transaction() as s:
            live = await self._live_processes(s, cutoff)
            # Live processes' calls stay in the database: at a thousand
            # agents that is a thousand rows every heartbeat otherwise.
            closed = await self._close_calls(
                s, await call_repo.open_calls(s, not_placed_by=live), now
            )
            await self._finish_talked(s, await lead_repo.awaiting_disposition(s, live=live))
            freed = await lead_repo.release_orphans(s, live=live)
            await process_repo.forget_dead(s, before=cutoff)
        return closed, freed

    async def _live_processes(self, s: AsyncSession, cutoff: datetime) -> set[str]:
        """Processes that beat since ``cutoff``, this one always among them."""
        live = await process_repo.live_ids(s, since=cutoff)
        live.add(self.owner)
        return live

    @staticmethod
    async def _close_calls(s: AsyncSession, calls: Sequence[StoredCall], now: datetime) -> int:
        """Close calls whose process has lost them, each once; how many this closed."""
        closed = 0
        for call in calls:
            if not await call_repo.close_orphan(s, call_id=call.id, ended_at=now):
                continue  # another process closed it first
            closed += 1
            talked = call.bridged_at is not None and call.outcome is CallOutcome.HUMAN
            with contextlib.suppress(NotFound):  # the lead went with its campaign
                await lead_repo.finish_attempt(
                    s,
                    lead_id=call.lead_id,
                    outcome="interrupted",
                    next_status=LeadStatus.DONE if talked else LeadStatus.RETRY,
                    next_attempt_at=None if talked else now,
                )
        return closed

    @staticmethod
    async def _finish_talked(s: AsyncSession, lead_ids: Sequence[str]) -> None:
        """Leads whose person talked to an agent, the disposition never came: done."""
        for lead_id in lead_ids:
            await lead_repo.finish_attempt(
                s, lead_id=lead_id, outcome=CallOutcome.HUMAN.value, next_status=LeadStatus.DONE
            )

    async def close_own_calls(self) -> int:
        """At a clean stop: this process's calls still open are over (its
        telephony goes with it), closed and their attempts counted as
        recovery would, and so are the calls its agents were wrapping up.
        Left to another process's recovery, a lead freed meanwhile by the
        stop could be claimed and dialed by a third process, then reset
        under it when that recovery finished the old attempt."""
        async with self.db.transaction() as s:
            closed = await self._close_calls(
                s, await call_repo.open_calls(s, placed_by=self.owner), datetime.now(UTC)
            )
            await self._finish_talked(s, await lead_repo.awaiting_disposition(s, owner=self.owner))
        return closed

    async def release_claims(self) -> None:
        async with self.db.transaction() as s:
            await lead_repo.release_leads(s, owner=self.owner)

    # -------------------------------------------------------------- settings
    async def get_setting(self, key: str) -> str | None:
        async with self.db.transaction() as s:
            row = await s.get(SettingRow, key)
            return row.value if row is not None else None

    async def set_setting(self, key: str, value: str) -> None:
        async with self.db.transaction() as s:
            row = await s.get(SettingRow, key)
            if row is None:
                s.add(SettingRow(key=key, value=value))
            else:
                row.value = value

    # ------------------------------------------------------------- campaigns
    def _remember(self, campaign: StoredCampaign) -> StoredCampaign:
        self._settings[campaign.id] = campaign.settings
        return campaign

    async def create_campaign(self, settings: CampaignSettings) -> StoredCampaign:
        async with self.db.transaction() as s:
            return self._remember(await campaign_repo.create_campaign(s, settings=settings))

    async def get_campaign(self, campaign_id: str) -> StoredCampaign:
        async with self.db.transaction() as s:
            return self._remember(await campaign_repo.get_campaign(s, campaign_id=campaign_id))

    async def delete_campaign(self, campaign_id: str) -> None:
        """Delete a stopped campaign that never placed a call, its leads with it
        (see :func:`dialer.storage.campaigns.delete_campaign`)."""
        async with self.db.transaction() as s:
            await campaign_repo.delete_campaign(s, campaign_id=campaign_id)
        self.forget_campaign(campaign_id)

    def forget_campaign(self, campaign_id: str) -> None:
        """A campaign deleted (here, or through another process): drop what is cached of it."""
        self._settings.pop(campaign_id, None)

    async def list_campaigns(self) -> list[StoredCampaign]:
        async with self.db.transaction() as s:
            return [self._remember(c) for c in await campaign_repo.list_campaigns(s)]

    async def campaign_versions(self) -> dict[str, datetime]:
        """Every campaign's id and when its settings last changed."""
        async with self.db.transaction() as s:
            return await campaign_repo.versions(s)

    async def update_campaign(self, settings: CampaignSettings) -> StoredCampaign:
        return await self.modify_campaign(settings.id, lambda _current: settings)

    async def modify_campaign(
        self,
        campaign_id: str,
        change: Callable[[CampaignSettings], CampaignSettings | None],
    ) -> StoredCampaign:
        """Replace the campaign's settings by ``change(current settings)`` (None:
        leave them), read and written in one transaction with the row locked,
        so a change made meanwhile, by this process or another, is not lost."""
        async with self.db.transaction() as s:
            current = await campaign_repo.get_campaign(s, campaign_id=campaign_id, for_update=True)
            settings = change(current.settings)
            if settings is None:
                return self._remember(current)
            changes = {
                name: getattr(settings, name)
                for name in settings.__dataclass_fields__
                if name != "id"
            }
            return self._remember(
                await campaign_repo.update_campaign(s, campaign_id=campaign_id, changes=changes)
            )

    async def _campaign_settings(self, campaign_id: str) -> CampaignSettings:
        cached = self._settings.get(campaign_id)
        if cached is not None:
            return cached
        return (await self.get_campaign(campaign_id)).settings

    async def abandonment_counts(self, campaign_id: str, since: datetime) -> tuple[int, int]:
        async with self.db.transaction() as s:
            counts = await call_repo.abandonment_counts(s, campaign_id=campaign_id, since=since)
        return counts.human_answered, counts.abandoned

    async def list_skips(
        self, campaign_id: str, *, since: datetime | None, limit: int
    ) -> list[SkippedDial]:
        async with self.db.transaction() as s:
            return await skip_repo.list_skips(s, campaign_id=campaign_id, since=since, limit=limit)

    async def purge_records(self, before: datetime) -> retention_repo.Purged:
        async with self.db.transaction() as s:
            return await retention_repo.purge(s, before=before)

    async def campaign_totals(self, campaign_id: str) -> CampaignTotals:
        async with self.db.transaction() as s:
            return await call_repo.campaign_totals(s, campaign_id=campaign_id)

    async def count_remaining(self, campaign_id: str) -> int:
        async with self.db.transaction() as s:
            return await lead_repo.count_remaining(s, campaign_id=campaign_id)

    # ----------------------------------------------------------------- leads
    async def add_leads(self, campaign_id: str, leads: Sequence[NewLead]) -> AddResult:
        """Load ``leads``, a transaction per slice of them.

        One transaction for 50,000 leads held SQLite's write lock for seconds,
        and the record of an answered call, which its bridge waits for,
        waited behind it: people were connected up to 16 s late. A slice
        takes a fraction of a second. Duplicates across slices are still
        found (the insert skips numbers already loaded).
        """
        if not leads:  # still NotFound for an unknown campaign
            async with self.db.transaction() as s:
                return await lead_repo.add_leads(s, campaign_id=campaign_id, leads=leads)
        accepted = duplicates = 0
        rejected: list[RejectedLead] = []
        for start in range(0, len(leads), _LEADS_PER_TRANSACTION):
            part = leads[start : start + _LEADS_PER_TRANSACTION]
            async with self.db.transaction() as s:
                result = await lead_repo.add_leads(s, campaign_id=campaign_id, leads=part)
            accepted += result.accepted
            duplicates += result.duplicates
            rejected += [dataclasses.replace(r, row=r.row + start) for r in result.rejected]
            if start + _LEADS_PER_TRANSACTION < len(leads):
                await asyncio.sleep(SLICE_GAP_S)
        return AddResult(accepted=accepted, duplicates=duplicates, rejected=tuple(rejected))

    async def list_leads(
        self, campaign_id: str, *, status: str | None, limit: int, offset: int
    ) -> list[StoredLead]:
        async with self.db.transaction() as s:
            return await lead_repo.list_leads(
                s,
                campaign_id=campaign_id,
                status=LeadStatus(status) if status else None,
                limit=limit,
                offset=offset,
            )

    async def claim(self, campaign_id: str, count: int) -> tuple[list[Lead], bool]:
        async with self.db.transaction() as s:
            leads = await lead_repo.claim_leads(
                s, campaign_id=campaign_id, owner=self.owner, limit=count, now=datetime.now(UTC)
            )
        return leads, len(leads) < count

    async def claim_number(self, campaign_id: str, phone: str) -> Lead:
        """A manual dial's lead, claimed for this process: the campaign's lead for
        ``phone``, created if it has none. Raises ConflictError when another
        process holds it, InvalidInput when it may not be dialed again."""
        async with self.db.transaction() as s:
            return await lead_repo.claim_number(
                s, campaign_id=campaign_id, phone=phone, owner=self.owner, now=datetime.now(UTC)
            )

    # Writes the driver batches: each takes the batch's session (see run_batch).
    async def leads_unclaimed(self, s: AsyncSession, lead_ids: Sequence[str]) -> None:
        """Leads this process claimed and will not dial (their campaign stopped,
        or its agents here are all away)."""
        await lead_repo.unclaim(s, lead_ids=lead_ids, owner=self.owner)

    async def lead_skipped(self, s: AsyncSession, cmd: SkipLead) -> None:
        """The gate kept a claimed lead back: record why, and when it may come again."""
        now = datetime.now(UTC)
        lead = await lead_repo.get_lead(s, lead_id=cmd.lead_id)
        if cmd.reason == "dnc" and await self._still_listed(s, lead.phone, cmd.campaign_id):
            status, when = LeadStatus.DNC, None
        elif cmd.reason == "dnc":
            # The gate's copy of the lists was behind (a removal through
            # another process, not yet taken in): "dnc" would end the lead for
            # good. It comes back once this process has caught up.
            status = lead_repo.status_back(lead)
            when = now + _STALE_LIST_RETRY
        elif cmd.reason == "max_attempts":
            status, when = LeadStatus.EXHAUSTED, None
        else:
            # Calling hours and the like: back when the rule allows it; a
            # booked callback stays booked.
            status = lead_repo.status_back(lead)
            when = _epoch(cmd.retry_at) if cmd.retry_at else now + timedelta(minutes=15)
        await lead_repo.set_lead_status(s, lead_id=cmd.lead_id, status=status, next_attempt_at=when)
        # The compliance decision stays with the lead (GET .../leads shows why)
        # and in the record of skipped dials.
        await s.execute(
            update(LeadRow)
            .where(LeadRow.id == cmd.lead_id)
            .values(last_outcome=f"skipped:{cmd.reason}"[:64])
        )
        await skip_repo.record_skip(
            s,
            campaign_id=cmd.campaign_id,
            lead_id=cmd.lead_id,
            phone=lead.phone,
            reason=cmd.reason,
            decided_at=now,
            retry_at=when,
            decided_by=self.owner,
        )

    async def _still_listed(self, s: AsyncSession, phone: str, campaign_id: str) -> bool:
        """Whether the lists stored now, or a registry (for a campaign that
        scrubs against them, as stored now), stop ``phone`` for ``campaign_id``."""
        if await dnc_repo.is_blocked(s, phone=phone, campaign_id=campaign_id):
            return True
        if not self.on_registry(phone):
            return False
        try:
            stored = await campaign_repo.get_campaign(s, campaign_id=campaign_id)
        except NotFound:
            return True  # no campaign to say it does not scrub
        return stored.settings.scrub_national_registry

    # ----------------------------------------------------------------- calls
    async def call_placed(
        self, s: AsyncSession, cmd: PlaceCall, dialed_at_epoch: float, decision: str = "allowed"
    ) -> None:
        await call_repo.record_call_placed(
            s,
            call_id=cmd.call_id,
            campaign_id=cmd.campaign_id,
            lead_id=cmd.lead_id,
            phone=cmd.phone,
            dialed_at=_epoch(dialed_at_epoch),
            agent_id=cmd.agent_id,
            decision=decision,
            placed_by=self.owner,
        )

    def call_write(self, record: CallRecord, to_wall: Callable[[float], float]) -> Statement:
        """The write of what ``record`` says now, nothing read back (see call_repo.call_write)."""
        return call_repo.call_write(
            self.db.dialect, record=record, clock=_WallClock(to_wall), amd=record.amd
        )

    async def call_finished(self, s: AsyncSession, record: CallRecord) -> None:
        """The attempt is over: where its lead goes next."""
        settings = self._settings.get(record.campaign_id)
        call = await call_repo.get_call(s, call_id=record.id)
        outcome = record.outcome.value if record.outcome is not None else "failed"
        when: datetime | None = None
        callback_agent = None
        if record.disposition == "dnc":
            status = LeadStatus.DNC
        elif record.disposition == "callback" and call.callback_at is not None:
            status, when = LeadStatus.CALLBACK, call.callback_at
            callback_agent = call.callback_agent_id
        elif (
            record.bridged_at is not None and outcome == CallOutcome.HUMAN.value
        ) or outcome == CallOutcome.INVALID.value:
            status = LeadStatus.DONE
        else:
            key = "abandoned" if record.abandoned else outcome
            own = settings.retry_delays_s if settings is not None else {}
            delays = {**DEFAULT_RETRY_DELAYS_S, **own}
            status = LeadStatus.RETRY
            when = datetime.now(UTC) + timedelta(seconds=delays.get(key, 3600.0))
        with contextlib.suppress(NotFound):  # the lead went with its campaign
            await lead_repo.finish_attempt(
                s,
                lead_id=record.lead_id,
                outcome=record.disposition or outcome,
                next_status=status,
                next_attempt_at=when,
                callback_agent_id=callback_agent,
                claimed_by=self.owner,
            )

    async def run_batch(self, ops: Sequence[Write]) -> list[BaseException | None]:
        """Run ``ops`` in one transaction; alone each if that fails (Database.run_batch)."""
        return await self.db.run_batch(ops)

    async def write_alone(self, statements: Sequence[Statement]) -> list[BaseException | None]:
        """Commit single-statement writes in one round trip (Database.write_alone)."""
        return await self.db.write_alone(statements)

    async def set_disposition(
        self,
        call_id: str,
        *,
        code: str,
        notes: str | None,
        callback_at: datetime | None,
        callback_agent_id: str | None = None,
    ) -> StoredCall:
        async with self.db.transaction() as s:
            return await call_repo.set_disposition(
                s,
                call_id=call_id,
                code=code,
                notes=notes,
                callback_at=callback_at,
                callback_agent_id=callback_agent_id,
            )

    async def get_call(self, call_id: str) -> StoredCall:
        async with self.db.transaction() as s:
            return await call_repo.get_call(s, call_id=call_id)

    async def list_calls(
        self, *, campaign_id: str | None, since: datetime | None, limit: int, cursor: str | None
    ) -> CallPage:
        async with self.db.transaction() as s:
            return await call_repo.list_calls(
                s, campaign_id=campaign_id, since=since, limit=limit, cursor=cursor
            )

    # ------------------------------------------------------------------- dnc
    async def all_dnc(self) -> tuple[DncVersions, list[tuple[str, str | None]]]:
        """Every entry, and the change counters they include at least."""
        async with self.db.transaction() as s:
            # The counters first: entries read after them hold every change
            # they count (and maybe later ones, which the next poll repeats).
            versions = await dnc_repo.versions(s)
            rows = await s.execute(select(DncEntryRow.phone, DncEntryRow.campaign_id))
            return versions, [(phone, cid) for phone, cid in rows]

    async def dnc_versions(self) -> DncVersions:
        async with self.db.transaction() as s:
            return await dnc_repo.versions(s)

    async def dnc_added_since(self, version: int) -> list[tuple[str, str | None, int]]:
        async with self.db.transaction() as s:
            return await dnc_repo.added_since(s, version=version)

    async def dnc_removed_since(self, version: int) -> list[tuple[str, str | None, int]]:
        async with self.db.transaction() as s:
            return await dnc_repo.removed_since(s, version=version)

    async def dnc_entries_of(self, phones: Collection[str]) -> list[tuple[str, str | None]]:
        async with self.db.transaction() as s:
            return await dnc_repo.entries_of(s, phones=phones)

    async def prune_dnc_removals(self, before: datetime) -> int:
        async with self.db.transaction() as s:
            return await dnc_repo.prune_removals(s, before=before)

    async def add_dnc(
        self, phones: Sequence[str], campaign_id: str | None, *, source: str = "api"
    ) -> int:
        """List ``phones`` (every campaign, or ``campaign_id``'s) and mark their
        unclaimed leads ``dnc``, in one transaction; how many were not listed
        yet. Callers slice big lists (:data:`DNC_PER_TRANSACTION`)."""
        scope = DncScope.CAMPAIGN if campaign_id is not None else DncScope.INTERNAL
        async with self.db.transaction() as s:
            added = await dnc_repo.add_numbers(
                s, numbers=phones, scope=scope, campaign_id=campaign_id, source=source
            )
            await lead_repo.mark_dnc(s, phones=phones, campaign_id=campaign_id)
            return added

    async def remove_dnc(self, phone: str, *, consent: bool = False) -> int:
        """Take ``phone`` off the internal list; its leads that the list had
        stopped, and that nothing else stops now (another list, or a registry
        for a campaign that scrubs), may be dialed again: how many.

        An entry the person asked for on a call (a ``dnc`` disposition) goes
        only with ``consent`` (they have agreed to be called since); else
        :class:`ConflictError`.
        """
        async with self.db.transaction() as s:
            asked = [
                e
                for e in await dnc_repo.lookup(s, phone=phone)
                if e.scope is DncScope.INTERNAL and e.source == dnc_repo.DISPOSITION
            ]
            if asked and not consent:
                raise ConflictError(
                    f"{phone} asked on a call on {asked[0].added_at:%Y-%m-%d} not to be "
                    "called again; remove it only with consent=true, once they have "
                    "agreed to be called"
                )
            await dnc_repo.remove_number(s, phone=phone)
            lifted = 0
            now = datetime.now(UTC)
            for lead_id, campaign_id in await lead_repo.listed_leads(s, phone=phone):
                if await self._still_listed(s, phone, campaign_id):
                    continue
                await lead_repo.lift_dnc(s, lead_id=lead_id, now=now)
                lifted += 1
            return lifted

    async def dnc_scopes(self, phone: str) -> list[tuple[str, str | None]]:
        async with self.db.transaction() as s:
            listings = await dnc_repo.lookup(s, phone=phone)
        return [(entry.scope.value, entry.campaign_id) for entry in listings]

    # ------------------------------------------------------ do-not-call registries
    async def replace_registry(
        self,
        registry: Registry,
        numbers: npt.NDArray[np.int64],
        *,
        name: str,
        published_on: date,
        rejected_count: int,
        duplicates: int,
        sha256: str,
    ) -> StoredRegistryLoad:
        async with self.db.transaction() as s:
            return await registry_repo.replace_registry(
                s,
                registry=registry,
                numbers=numbers,
                name=name,
                published_on=published_on,
                rejected_count=rejected_count,
                duplicates=duplicates,
                sha256=sha256,
            )

    async def current_registry_copies(
        self, *, held: Collection[str] = ()
    ) -> list[tuple[StoredRegistryLoad, npt.NDArray[np.int64]]]:
        """Each registry's current load and its numbers, but for the load ids in ``held``.

        Read chunk by chunk; a load another process replaces meanwhile is read
        again as its successor (PostgreSQL), so what comes back is never a mix.
        """
        copies: list[tuple[StoredRegistryLoad, npt.NDArray[np.int64]]] = []
        async with self.db.transaction() as s:
            pending = [c for c in await registry_repo.current_loads(s) if c.id not in held]
            while pending:
                load = pending.pop(0)
                read = await registry_repo.read_numbers(s, load=load)
                if read.numbers is not None:
                    copies.append((load, read.numbers))
                    continue
                newer = [
                    c for c in await registry_repo.current_loads(s) if c.registry == load.registry
                ]
                pending.extend(newer)
        return copies

    async def current_registry_loads(self) -> list[StoredRegistryLoad]:
        async with self.db.transaction() as s:
            return await registry_repo.current_loads(s)

    async def registry_loads(
        self, registry: Registry | None, *, limit: int
    ) -> list[StoredRegistryLoad]:
        async with self.db.transaction() as s:
            return await registry_repo.list_loads(s, registry=registry, limit=limit)

    # ---------------------------------------------------------------- agents
    async def create_agent(self, name: str, campaign_ids: list[str]) -> tuple[StoredAgent, str]:
        async with self.db.transaction() as s:
            return await agent_repo.create_agent(s, name=name, campaign_ids=campaign_ids)

    async def replace_agent_token(self, agent_id: str) -> str:
        async with self.db.transaction() as s:
            return await agent_repo.replace_token(s, agent_id=agent_id)

    async def agent_token_hashes(self, agent_ids: Sequence[str]) -> dict[str, str]:
        if not agent_ids:
            return {}
        async with self.db.transaction() as s:
            return await agent_repo.token_hashes(s, agent_ids=agent_ids)

    async def list_agents(self) -> list[StoredAgent]:
        async with self.db.transaction() as s:
            return await agent_repo.list_agents(s)

    async def get_agents(self, agent_ids: Sequence[str]) -> list[StoredAgent]:
        """Those of the agents named that exist, oldest first."""
        if not agent_ids:
            return []
        async with self.db.transaction() as s:
            return await agent_repo.list_agents(s, agent_ids=agent_ids)

    async def update_agent(
        self, agent_id: str, *, name: str | None, campaign_ids: Sequence[str] | None
    ) -> StoredAgent:
        async with self.db.transaction() as s:
            return await agent_repo.update_agent(
                s, agent_id=agent_id, name=name, campaign_ids=campaign_ids
            )

    async def delete_agent(self, agent_id: str, *, lease_s: float) -> bool:
        """Delete the agent; False if another live process holds its socket."""
        cutoff = datetime.now(UTC) - timedelta(seconds=lease_s)
        async with self.db.transaction() as s:
            live = await self._live_processes(s, cutoff)
            return await agent_repo.delete_agent(
                s, agent_id=agent_id, process_id=self.owner, live=live
            )

    async def attach_agent_socket(
        self, agent_id: str, *, lease_s: float
    ) -> tuple[StoredAgent, str] | None:
        """Hold the agent's softphone socket here: the agent and its token
        digest, read in the same transaction; None if another live process
        holds it. Raises NotFound.

        One transaction, not three (the agent, the hold, the digest): at a
        shift's start a thousand softphones attach at once, each holding a
        pooled connection meanwhile, and the rest of the service waits for one.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=lease_s)
        async with self.db.transaction() as s:
            live = await self._live_processes(s, cutoff)
            if not await agent_repo.attach_socket(
                s, agent_id=agent_id, process_id=self.owner, live=live
            ):
                return None
            agent = await agent_repo.get_agent(s, agent_id=agent_id)
            digests = await agent_repo.token_hashes(s, agent_ids=[agent_id])
        return agent, digests.get(agent_id, "")

    async def detach_agent_socket(self, agent_id: str | None = None) -> None:
        """This process holds the agent's socket (no agent: any agent's) no more."""
        async with self.db.transaction() as s:
            await agent_repo.detach_socket(s, process_id=self.owner, agent_id=agent_id)

    async def get_agent(self, agent_id: str) -> StoredAgent:
        async with self.db.transaction() as s:
            return await agent_repo.get_agent(s, agent_id=agent_id)

    async def verify_agent_token(self, agent_id: str, token: str) -> bool:
        async with self.db.transaction() as s:
            return await agent_repo.verify_token(s, agent_id=agent_id, token=token)
