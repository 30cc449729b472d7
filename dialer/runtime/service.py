"""The service facade: everything api/ may ask of the running dialer.

api/ talks to the core only through this class (an import-linter contract
checks it). It owns the database, the telephony adapter, the core driver, the
agents' sockets and the metrics; ``start``/``stop`` bracket its life.

Every method raises only DialerError subclasses (NotFound, ConflictError,
InvalidInput, IllegalTransition) for bad requests; the API maps them to HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from dialer.campaign import CampaignSettings, RunState
from dialer.commands import DialRefused
from dialer.compliance.gate import ComplianceGate, DncIndex
from dialer.compliance.hours import zone
from dialer.compliance.phones import normalize_phone, parse_phone
from dialer.compliance.profiles import AbandonWindow, Problem, check_campaign, profile
from dialer.compliance.windows import window_span
from dialer.core import DialerCore
from dialer.errors import ConflictError, DialerError, InvalidInput, NotFound, ServiceStopping
from dialer.events import (
    AgentCampaignsChanged,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentReady,
    AgentRequestedDial,
    CampaignRemoved,
    CampaignUpdated,
    DispositionSubmitted,
    LeadsClaimed,
)
from dialer.ports import Telephony
from dialer.runtime.driver import CoreDriver, ServiceClock, dial_refused_frame
from dialer.runtime.fencing import FencedGate, RecordsHealth
from dialer.runtime.floor import (
    AgentFigure,
    CampaignFigure,
    ProcessFigures,
    counted_here,
    floor_campaign,
    merge_agents,
)
from dialer.runtime.hub import AgentHub, AgentSession, CloseAgentSocket, SendToAgent
from dialer.runtime.metrics import AGENT_STATES, Metrics
from dialer.runtime.registry import RegistryLoadResult, RegistryManager
from dialer.runtime.settings import Settings
from dialer.runtime.store import DNC_PER_TRANSACTION, SLICE_GAP_S, RuntimeStore
from dialer.storage.database import is_transient
from dialer.storage.dnc import DISPOSITION
from dialer.storage.records import (
    CallPage,
    DncVersions,
    NewLead,
    SkippedDial,
    StoredAgent,
    StoredCall,
    StoredCampaign,
    StoredLead,
    StoredRegistryLoad,
    priority_problem,
    unstorable,
)

__all__ = [
    "AgentView",
    "CloseAgentSocket",
    "DialerService",
    "DncAddResult",
    "DncLookup",
    "LeadLoadResult",
    "RowError",
    "SendToAgent",
]

log = logging.getLogger(__name__)
# Of the pool's 15 connections (SQLAlchemy's 5 + 10 overflow), what softphones
# attaching at once may hold: the rest stay for the service's own work.
_ATTACHING_AT_ONCE = 4

_API_KEY_SETTING = "api_key_sha256"
_WINDOW_REFRESH_S = 30.0
# A process's published figures are written again this often even unchanged
# (one taken for dead and registered afresh has none until then).
_FIGURES_REWRITE_S = 10.0
_DRAIN_POLL_S = 0.2  # how often a drain looks whether the calls have ended


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # 1-based: the n-th lead of a JSON list; for CSV the file's line number
    phone: str
    reason: str


@dataclass(frozen=True, slots=True)
class LeadLoadResult:
    accepted: int
    rejected: tuple[RowError, ...]
    duplicates: int
    dnc: int


@dataclass(frozen=True, slots=True)
class DncAddResult:
    added: int
    rejected: tuple[RowError, ...]


@dataclass(frozen=True, slots=True)
class DncLookup:
    phone: str
    listed: bool
    scopes: tuple[str, ...]  # "internal", "registry", "campaign:<id>"
    registries: tuple[str, ...] = ()  # for scope "registry": which ("us", "uk", "ca")


@dataclass(frozen=True, slots=True)
class AgentView:
    agent: StoredAgent
    state: str  # "logged_out" | "ready" | "paused" | "on_call" | "wrap_up"
    connected: bool
    call_id: str | None = None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _home_region(settings: CampaignSettings) -> str:
    """Where the campaign's numbers written without a country code are (its profile's)."""
    return profile(settings.compliance_profile).home_region


def _parse_numbers(
    numbers: Sequence[object], region: str, first_row: int
) -> tuple[list[str], list[RowError]]:
    """Do-not-call numbers in E.164, and the rows that are not numbers."""
    rejected: list[RowError] = []
    phones: list[str] = []
    for i, raw in enumerate(numbers):
        try:
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                raise InvalidInput("number must be a string", field="numbers")
            phones.append(normalize_phone(str(raw), region))
        except InvalidInput as exc:
            rejected.append(RowError(first_row + i, str(raw), str(exc)))
    return phones, rejected


# WebSocket close codes (application codes live in 4000-4999): 4401 mirrors
# HTTP 401, 4409 HTTP 409.
WS_UNAUTHORIZED = 4401
WS_REPLACED = 4409
# The standard "service restart": the softphone should reconnect (through the
# load balancer, to another process).
WS_RESTARTING = 1012
_STOPPING_REASON = "this dialer process is stopping: reconnect"


class DialerService:
    """See the module docstring."""

    def __init__(self, settings: Settings, *, telephony: Telephony | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.hub = AgentHub()
        self.dnc = DncIndex()
        self.clock = ServiceClock()
        self.store = RuntimeStore(settings.database_url, owner=settings.process_id)
        self.registries = RegistryManager(self.store, self.dnc.registries)
        self.store.on_registry = self.dnc.registries.__contains__
        # Nothing is dialed that cannot be recorded, nor on a lease that may have lapsed.
        self.records_health = RecordsHealth(settings.process_lease_s)
        self.records_health.on_restored(self._records_restored)
        self._telephony = telephony
        self._api_key_hash: str | None = None
        self._driver: CoreDriver | None = None
        self._background: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._last_window = 0.0
        self._figures_text = ""  # the figures last published, and when
        self._figures_at = 0.0
        # Weak: a lock lives while some change holds or awaits it, so ids
        # that name no campaign (bad requests) leave nothing behind.
        self._campaign_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._demo: Any = None
        # The do-not-call changes the index holds, and one change at a time
        # to it: a reload must not drop a number added while it read.
        self._dnc_versions = DncVersions(0, 0)
        self._dnc_lock = asyncio.Lock()
        # agent id -> the token digest its open socket here was opened with.
        self._socket_tokens: dict[str, str] = {}
        # Agents whose softphone went while they had a call here: held to this
        # process until it is over (see agent_disconnected).
        self._held_for_calls: set[str] = set()
        # Agents whose softphone went (paused here since): monotonic time it went.
        self._away_since: dict[str, float] = {}
        # Softphones attaching at once (a shift's start): each holds a pooled
        # connection while it attaches, and unbounded they took the whole pool
        # (the lead claims, gauges and calls' writes waited seconds behind them).
        self._attach_slots = asyncio.Semaphore(_ATTACHING_AT_ONCE)
        # campaign id -> the version (updated_at) of its settings last told the core.
        self._campaign_versions: dict[str, datetime] = {}
        self.generated_api_key: str | None = None
        self.started = False

    # ------------------------------------------------------------------ life
    @property
    def driver(self) -> CoreDriver:
        if self._driver is None:
            raise DialerError("the service is not started")
        return self._driver

    @property
    def core(self) -> DialerCore:
        return self.driver.core

    async def start(self) -> None:
        await self.store.open()
        await self._load_api_key()
        self._dnc_versions, entries = await self.store.all_dnc()
        self.dnc.replace_lists(entries)
        await self.registries.refresh()  # before the core exists: nothing dials unchecked
        telephony = self._telephony or self._make_telephony()
        self._telephony = telephony
        core = DialerCore(
            clock=self.clock,
            gate=FencedGate(ComplianceGate(self.dnc), self.records_health),
            id_prefix=f"{self.settings.process_id}-",
            hand_back_after_s=self.settings.lead_hand_back_s,
        )
        self._driver = CoreDriver(
            core,
            telephony=telephony,
            store=self.store,
            hub=self.hub,
            metrics=self.metrics,
            clock=self.clock,
            health=self.records_health,
        )
        # A previous process may have died holding leads or with calls open;
        # another may be running on this database: only the dead lose theirs.
        await self.store.register_process()
        self.records_health.beat()
        await self._recover()
        for campaign in await self.store.list_campaigns():
            await self._push_campaign(campaign, submit=False)
        await self.driver.start()
        self._stopping.clear()
        self._background += [
            asyncio.create_task(self._lag_monitor(), name="dialer-lag"),
            asyncio.create_task(
                self._every(self.settings.stats_interval_s, self._refresh, "refreshing figures"),
                name="dialer-stats",
            ),
            # Once a day (and at start), records past their retention period go.
            asyncio.create_task(
                self._every(86_400.0, self.purge_old_records, "the retention job", first=True),
                name="dialer-retention",
            ),
            # Alive for the other processes; what dead ones held, taken back.
            asyncio.create_task(
                self._every(self.settings.process_lease_s / 6, self._beat, "the heartbeat"),
                name="dialer-heartbeat",
            ),
            # Campaigns created or changed through other processes.
            asyncio.create_task(
                self._every(
                    self.settings.campaign_refresh_s, self._follow_campaigns, "campaign changes"
                ),
                name="dialer-campaigns",
            ),
            # Do-not-call changes made through other processes on the database.
            asyncio.create_task(
                self._every(self.settings.dnc_refresh_s, self._follow_dnc, "do-not-call lists"),
                name="dialer-dnc-lists",
            ),
            # Registry copies that other processes on the same database loaded.
            asyncio.create_task(
                self._every(
                    self.settings.registry_refresh_s, self._refresh_registries, "registries"
                ),
                name="dialer-dnc",
            ),
        ]
        self.started = True
        if self.settings.demo:
            from dialer.runtime.demo import DemoFloor

            self._demo = DemoFloor(self, self.settings.demo_agents)
            await self._demo.start()

    async def drain(self, timeout_s: float, *, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Get ready to stop without cutting anyone off; True if nothing was left.

        Dials nothing more (every campaign is blocked with ``process_stopping``);
        lets the calls already placed be answered and reach agents as usual;
        once none is left looking for an agent, sends each softphone whose
        agent has no call away with 1012, to reconnect to another process,
        and the others as their agents dispose. Waits at most ``timeout_s``
        (or until ``give_up()``, a second Ctrl-C): :meth:`stop` then closes
        what is left, as it always did.
        """
        self.records_health.stop_dialing()
        if self.core.live_call_count():
            # Shown at the default log level: whoever pressed Ctrl-C sees why
            # the process has not gone yet, and how to make it go.
            log.warning(
                "stopping: no more dialing; waiting up to %.0f s for the %d call(s) in "
                "progress to end and be disposed (Ctrl-C again to stop now)",
                timeout_s,
                self.core.live_call_count(),
            )
        deadline = time.monotonic() + timeout_s
        while True:
            core = self.core
            if not self._lines_looking_for_agents():
                for agent_id in self.hub.agent_ids():
                    if core.agent_call(agent_id) is None:
                        await self._cut_off(agent_id, _STOPPING_REASON, code=WS_RESTARTING)
                busy = [a for a in core.logged_in_agents() if core.agent_call(a) is not None]
                if not busy:
                    log.info("drained: no call left here")
                    return True
            if time.monotonic() >= deadline or give_up():
                log.warning(
                    "drain: gave up with %d call(s) in progress; they are closed now",
                    core.live_call_count(),
                )
                return False
            await asyncio.sleep(_DRAIN_POLL_S)

    def _lines_looking_for_agents(self) -> int:
        """Calls placed here not yet with an agent (ringing, in AMD, waiting)."""
        core = self.core
        return sum(core.stats(cid).lines_in_flight for cid in core.campaign_ids())

    @property
    def draining(self) -> bool:
        return self.records_health.stopping

    async def stop(self) -> None:
        if self._demo is not None:
            await self._demo.stop()
        # Loops finish the round they are in: one cancelled inside a database
        # transaction could leave SQLite's write lock held by a lost connection.
        self._stopping.set()
        if self._background:
            _done, late = await asyncio.wait(self._background, timeout=10.0)
            for task in late:
                task.cancel()
            for task in self._background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._background.clear()
        if self._driver is not None:
            await self._driver.stop()
            # A database that is locked or gone may refuse this tidy-up, and
            # stopping must still close everything: the leads this process
            # claimed and its own row both lapse with their lease, and the
            # next process's recover() frees them, so nothing is lost.
            for what, tidy in (
                ("let go of its agents' sockets", self.store.detach_agent_socket),
                ("close its calls", self.store.close_own_calls),
                ("free its leads", self.store.release_claims),
                ("unregister", self.store.unregister_process),
            ):
                try:
                    await tidy()
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("stopping: could not %s, its lease will: %s", what, exc)
        if self._telephony is not None:
            await self._telephony.close()
        await self.store.close()
        self.started = False

    def _make_telephony(self) -> Telephony:
        from simulator.telephony import DEFAULT_CALLEES, CalleeBehaviour, SimulatedTelephony

        behaviour = DEFAULT_CALLEES
        if self.settings.scenario is not None:
            from simulator.scenario import load_scenario

            behaviour = CalleeBehaviour.from_scenario(load_scenario(self.settings.scenario))
        return SimulatedTelephony(
            behaviour, seed=self.settings.seed, time_scale=self.settings.time_scale
        )

    async def _load_api_key(self) -> None:
        if self.settings.api_key:
            self._api_key_hash = _sha256(self.settings.api_key)
            return
        stored = await self.store.get_setting(_API_KEY_SETTING)
        if stored:
            self._api_key_hash = stored
            log.info("using the stored API key (set DIALER_API_KEY to choose your own)")
            return
        key = secrets.token_urlsafe(32)
        self._api_key_hash = _sha256(key)
        await self.store.set_setting(_API_KEY_SETTING, self._api_key_hash)
        self.generated_api_key = key
        # Printed once: only its hash is kept.
        print(f"dialer: generated API key (shown once, keep it): {key}", flush=True)

    def authenticate_api_key(self, key: str) -> bool:
        if self._api_key_hash is None:
            return False
        return hmac.compare_digest(_sha256(key), self._api_key_hash)

    # ------------------------------------------------------------ campaigns
    async def _push_campaign(self, campaign: StoredCampaign, *, submit: bool = True) -> None:
        """Tell the core a campaign's settings and its window's counts from the records.

        The settings carry their version (when they were stored): a push that
        read them before a newer change was announced refreshes only the counts.
        A campaign just stopped has its leads claimed here go back to the
        store, however the stop came (through this process or another): not
        dialed, not to be dialed, not left listed in_progress until it runs
        again.
        """
        settings = campaign.settings
        known = self._campaign_versions.get(settings.id)
        newest = known is None or campaign.updated_at >= known
        if newest:
            self._campaign_versions[settings.id] = campaign.updated_at
        wall = time.time()
        span = window_span(profile(settings.compliance_profile).abandon_window, wall)
        humans, abandoned = await self.store.abandonment_counts(
            settings.id, datetime.fromtimestamp(span.since, UTC)
        )
        ends_at = None if span.ends_at is None else self.clock.now() + (span.ends_at - wall)
        event = CampaignUpdated(
            settings,
            window_human_answered=humans,
            window_abandoned=abandoned,
            window_ends_at=ends_at,
            version=campaign.updated_at.timestamp(),
        )
        # Stopped by this change (not a re-push of the same settings, nor the
        # first push at start-up, before the core runs and when nothing is held).
        stopped = (
            known is not None and campaign.updated_at > known and settings.state is RunState.STOPPED
        )
        if submit or stopped:  # the core must know of a stop before its leads go
            await self.driver.submit(event)
        else:
            self.driver.post(event)
        if stopped:
            self.driver.release_campaign_leads(settings.id)

    @staticmethod
    def _checked(settings: CampaignSettings) -> CampaignSettings:
        """``settings`` if its profile allows them, with the profile's window length.

        Raises InvalidInput naming the first field that asks for more than the
        profile allows (every problem is in the message).
        """
        problems = check_campaign(
            profile_name=settings.compliance_profile,
            max_abandon_rate=settings.max_abandon_rate,
            ring_timeout_s=settings.ring_timeout_s,
            connect_deadline_s=settings.connect_deadline_s,
            calling_hours_start_min=settings.calling_hours_start_min,
            calling_hours_end_min=settings.calling_hours_end_min,
            registry_max_age_days=settings.registry_max_age_days,
        )
        if settings.assume_time_zone is not None and zone(settings.assume_time_zone) is None:
            problems.append(
                Problem("assume_time_zone", f"unknown time zone {settings.assume_time_zone!r}")
            )
        if problems:
            raise InvalidInput(
                "; ".join(f"{p.field}: {p.message}" for p in problems), field=problems[0].field
            )
        span = profile(settings.compliance_profile).abandon_window.span_s
        return dataclasses.replace(settings, abandon_window_s=span)

    @staticmethod
    def _ready_to_run(settings: CampaignSettings) -> CampaignSettings:
        """A campaign about to dial must be able to tell an abandoned person who called.

        Without a safe-harbor message of its own, one is made from the
        campaign's name and caller id; with neither, it may not start.
        """
        if settings.safe_harbor_message.strip() or settings.mode.value == "preview":
            return settings
        if not settings.caller_id:
            raise InvalidInput(
                "a campaign that may abandon calls needs a safe_harbor_message (the seller's "
                "name and a number to call back) or a caller_id to make one from",
                field="safe_harbor_message",
            )
        message = (
            f"This call was from {settings.name}. Please call us back on {settings.caller_id}."
        )
        return dataclasses.replace(settings, safe_harbor_message=message)

    @staticmethod
    def _with_caller_id(settings: CampaignSettings) -> CampaignSettings:
        """``settings`` with its caller id as E.164, read in the profile's home region.

        The regulators ask for a number the called person can call back (the
        TSR, Ofcom's CLI rules), and the telephony sends it as such: free
        text or a number that does not parse is refused when it is set.
        """
        if settings.caller_id is None:
            return settings
        region = _home_region(settings)
        try:
            number = normalize_phone(settings.caller_id, region)
        except InvalidInput as exc:
            raise InvalidInput(f"caller_id: {exc}", field="caller_id") from None
        return dataclasses.replace(settings, caller_id=number)

    async def create_campaign(self, settings: CampaignSettings) -> StoredCampaign:
        settings = self._checked(settings)
        settings = self._with_caller_id(settings)
        if settings.state is RunState.RUNNING:
            settings = self._ready_to_run(settings)
        stored = await self.store.create_campaign(settings)
        await self._push_campaign(stored)
        return stored

    async def list_campaigns(self) -> list[StoredCampaign]:
        return await self.store.list_campaigns()

    async def get_campaign(self, campaign_id: str) -> StoredCampaign:
        return await self.store.get_campaign(campaign_id)

    def _campaign_lock(self, campaign_id: str) -> asyncio.Lock:
        """Changes to one campaign are announced to the core in the order they
        were stored (the store's row lock keeps them from losing each other,
        across processes too)."""
        lock = self._campaign_locks.get(campaign_id)
        if lock is None:
            lock = asyncio.Lock()
            self._campaign_locks[campaign_id] = lock
        return lock

    async def update_campaign(
        self,
        campaign_id: str,
        changes: Mapping[str, Any] | Callable[[CampaignSettings], Mapping[str, Any]],
    ) -> StoredCampaign:
        """Apply ``changes`` (or what ``changes(current settings)`` answers, for a
        change that depends on the current ones, such as a merge) to the
        campaign. Read, changed and written in one locked step: before, each
        request read the settings, changed a field and wrote them all back,
        so two at once lost one (a PATCH could undo a pause that had
        answered 200)."""

        def changed(current: CampaignSettings) -> CampaignSettings | None:
            wanted = changes(current) if callable(changes) else changes
            return self._changed_settings(current, wanted) if wanted else None

        async with self._campaign_lock(campaign_id):
            stored = await self.store.modify_campaign(campaign_id, changed)
            await self._push_campaign(stored)
        return stored

    def _changed_settings(
        self, current: CampaignSettings, changes: Mapping[str, Any]
    ) -> CampaignSettings:
        fields = {f.name for f in dataclasses.fields(CampaignSettings)} - {"id", "state"}
        unknown = set(changes) - fields
        if unknown:
            raise InvalidInput(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
        try:
            settings = dataclasses.replace(current, **dict(changes))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(str(exc)) from None
        settings = self._checked(settings)
        if "caller_id" in changes or "compliance_profile" in changes:
            # Only when set: a campaign stored before this check keeps working.
            settings = self._with_caller_id(settings)
        if settings.state is RunState.RUNNING:
            settings = self._ready_to_run(settings)
        return settings

    async def set_campaign_state(self, campaign_id: str, state: RunState) -> StoredCampaign:
        def changed(current: CampaignSettings) -> CampaignSettings:
            settings = dataclasses.replace(current, state=state)
            return self._ready_to_run(settings) if state is RunState.RUNNING else settings

        async with self._campaign_lock(campaign_id):
            stored = await self.store.modify_campaign(campaign_id, changed)
            await self._push_campaign(stored)  # a stop hands the leads back
        return stored

    async def delete_campaign(self, campaign_id: str) -> None:
        """Delete a stopped campaign that never placed a call (a mistake, a
        test), with its leads, agent links and do-not-call entries.

        Raises NotFound, and ConflictError while it runs or is paused, or once
        it has call records: those are kept for compliance (a stopped campaign
        dials no more).
        Its agents here serve their other campaigns from now on; other
        processes follow within ``campaign_refresh_s``.
        """
        async with self._campaign_lock(campaign_id):
            await self.store.delete_campaign(campaign_id)
            await self._forget_campaign(campaign_id)
        self._campaign_locks.pop(campaign_id, None)

    async def _forget_campaign(self, campaign_id: str) -> None:
        """A campaign deleted (here or through another process) leaves this
        process: its agents' lists, the core, the cache, the gauges and its
        own do-not-call list (the store's entries cascaded with it)."""
        self._campaign_versions.pop(campaign_id, None)
        self.store.forget_campaign(campaign_id)
        for agent_id in self.core.logged_in_agents():
            current = self.core.agent_campaigns(agent_id)
            if current is None or campaign_id not in current:
                continue
            rest = tuple(c for c in current if c != campaign_id)
            with contextlib.suppress(DialerError):
                await self.driver.submit(AgentCampaignsChanged(agent_id, rest))
            if self.hub.connected(agent_id):
                await self.hub.send(agent_id, {"type": "campaigns", "campaign_ids": list(rest)})
        if campaign_id in self.core.campaign_ids():
            await self.driver.submit(CampaignRemoved(campaign_id))
        self.metrics.forget_campaign(campaign_id)
        self.dnc.drop_campaign(campaign_id)

    def blocked_reason(self, campaign_id: str) -> str | None:
        """Why a running campaign dials nothing just now (None: nothing stops it)."""
        if campaign_id not in self.core.campaign_ids():
            return None
        return self.core.stats(campaign_id).blocked_reason

    async def campaign_stats(self, campaign_id: str) -> dict[str, Any]:
        campaign = await self.store.get_campaign(campaign_id)
        live = self.core.stats(campaign_id)
        processes = await self._floor()
        floor = floor_campaign(campaign_id, processes, merge_agents(processes))
        now = datetime.now(UTC)
        h24, a24 = await self.store.abandonment_counts(campaign_id, now - timedelta(hours=24))
        h30, a30 = await self.store.abandonment_counts(campaign_id, now - timedelta(days=30))
        prof = profile(campaign.settings.compliance_profile)
        span = window_span(prof.abandon_window, now.timestamp())
        hw, aw = await self.store.abandonment_counts(
            campaign_id, datetime.fromtimestamp(span.since, UTC)
        )
        totals = await self.store.campaign_totals(campaign_id)
        remaining = await self.store.count_remaining(campaign_id)
        return {
            "campaign_id": campaign_id,
            "state": campaign.settings.state.value,
            "mode": campaign.settings.mode.value,
            # Live figures over every live process on the database (another
            # process's are at most one refresh, stats_interval_s, old).
            "lines_in_flight": floor.lines_in_flight,
            "agents": {**floor.agents, "logged_in": sum(floor.agents.values())},
            "processes": floor.processes,
            "dialed": totals.dialed,
            "human_answered": totals.human_answered,
            "abandoned": totals.abandoned,
            "abandon_rate_24h": a24 / h24 if h24 else 0.0,
            "abandon_rate_30d": a30 / h30 if h30 else 0.0,
            "compliance_profile": prof.name,
            # The profile's own window (us: 30 days, uk: 24 hours, ca: this month).
            "abandon_window": prof.abandon_window.value,
            "abandon_rate_window": aw / hw if hw else 0.0,
            "window_human_answered": hw,
            "window_abandoned": aw,
            "max_abandon_rate": campaign.settings.max_abandon_rate,
            "capped": floor.capped,
            "blocked_reason": live.blocked_reason,
            "dial_level": floor.dial_level,
            "leads_remaining": remaining,
        }

    # ---------------------------------------------------------------- leads
    async def add_leads(
        self, campaign_id: str, rows: Sequence[Mapping[str, Any]], *, first_row: int = 1
    ) -> LeadLoadResult:
        campaign = await self.store.get_campaign(campaign_id)  # NotFound before any work
        region = _home_region(campaign.settings)
        if len(rows) > self.settings.max_leads_per_request:
            raise InvalidInput(
                f"at most {self.settings.max_leads_per_request} leads per request",
                field="leads",
            )
        if len(rows) > 500:
            # Parsing numbers is CPU work: keep the event loop (and pacing) responsive.
            good, rejected, dnc = await asyncio.to_thread(
                self._validate_leads, campaign.settings, rows, first_row, region
            )
        else:
            good, rejected, dnc = self._validate_leads(campaign.settings, rows, first_row, region)
        result = await self.store.add_leads(campaign_id, good)
        if result.accepted:
            # The hopper may have given up on an empty store: look again.
            self.driver.post(LeadsClaimed(campaign_id, (), exhausted=False))
        return LeadLoadResult(
            accepted=result.accepted,
            rejected=tuple(rejected),
            duplicates=result.duplicates,
            dnc=dnc,
        )

    def _validate_leads(
        self,
        campaign: CampaignSettings,
        rows: Sequence[Mapping[str, Any]],
        first_row: int,
        region: str = "US",
    ) -> tuple[list[NewLead], list[RowError], int]:
        """Each row checked on its own; numbers without a country code read in ``region``."""
        rejected: list[RowError] = []
        good: list[NewLead] = []
        for i, row in enumerate(rows):
            number = first_row + i
            raw = row.get("phone")
            shown = raw if isinstance(raw, str) else repr(raw)
            try:
                if not isinstance(raw, str | int) or isinstance(raw, bool):
                    raise InvalidInput("phone must be a string", field="phone")
                phone, extension = parse_phone(str(raw), region)
                tz = row.get("timezone")
                if tz is not None and (not isinstance(tz, str) or zone(tz) is None):
                    raise InvalidInput(f"unknown time zone {tz!r}", field="timezone")
                data = row.get("data") or {}
                if not isinstance(data, dict):
                    raise InvalidInput("data must be an object", field="data")
                if (problem := unstorable(data)) is not None:
                    raise InvalidInput(f"data: {problem}", field="data")
                if extension is not None and "extension" not in data:
                    # Not dialable, but the agent needs it: kept with the lead.
                    data = {**data, "extension": extension}
                priority = row.get("priority", 0)
                if (problem := priority_problem(priority)) is not None:
                    raise InvalidInput(problem, field="priority")
            except InvalidInput as exc:
                rejected.append(RowError(number, shown, str(exc)))
                continue
            good.append(NewLead(phone=phone, timezone=tz, data=data, priority=priority))
        # One vectorised registry search for the batch, not one per row.
        blocked = self.dnc.blocked_many(
            [lead.phone for lead in good],
            campaign.id,
            registries=campaign.scrub_national_registry,
        )
        dnc = sum(blocked)
        return [lead for lead, no in zip(good, blocked, strict=True) if not no], rejected, dnc

    async def list_leads(
        self, campaign_id: str, *, status: str | None, limit: int, offset: int
    ) -> list[StoredLead]:
        await self.store.get_campaign(campaign_id)
        return await self.store.list_leads(campaign_id, status=status, limit=limit, offset=offset)

    # ----------------------------------------------------------- do-not-call
    async def add_dnc(
        self, numbers: Sequence[object], campaign_id: str | None, *, first_row: int = 1
    ) -> DncAddResult:
        region = self.settings.default_region  # the whole floor's list
        if campaign_id is not None:
            campaign = await self.store.get_campaign(campaign_id)
            region = _home_region(campaign.settings)
        if len(numbers) > 500:  # CPU work: keep the event loop (and pacing) responsive
            phones, rejected = await asyncio.to_thread(_parse_numbers, numbers, region, first_row)
        else:
            phones, rejected = _parse_numbers(numbers, region, first_row)
        added = 0
        for start in range(0, max(len(phones), 1), DNC_PER_TRANSACTION):
            part = phones[start : start + DNC_PER_TRANSACTION]
            # Stored and in the gate together, a slice at a time (so a reload
            # of the lists, or a dnc disposition, waits for one slice at most);
            # all before we answer: no dial after this returns.
            async with self._dnc_lock:
                added += await self.store.add_dnc(part, campaign_id)
                for phone in part:
                    self.dnc.add(phone, campaign_id)
            if start + DNC_PER_TRANSACTION < len(phones):
                await asyncio.sleep(SLICE_GAP_S)
        return DncAddResult(added=added, rejected=tuple(rejected))

    async def remove_dnc(self, phone: str, *, consent: bool = False) -> int:
        """Take a number off the internal list; how many of its leads may be
        dialed again (those the list alone had stopped). One the person asked
        for on a call needs ``consent`` (ConflictError without)."""
        normal = normalize_phone(phone, self.settings.default_region)
        async with self._dnc_lock:
            lifted = await self.store.remove_dnc(normal, consent=consent)
            scopes = await self.store.dnc_scopes(normal)
            if not any(scope == "registry" for scope, _ in scopes):
                self.dnc.discard(normal)
        return lifted

    async def _follow_campaigns(self) -> None:
        """Tell the core of campaigns created or changed through another process:
        before, a stop there left this process dialing until its 30 s refresh,
        and a campaign created there was never dialed here at all."""
        try:
            stored = await self.store.campaign_versions()
        except Exception as exc:
            if not is_transient(exc):
                raise
            return  # the database is away: dialing is fenced meanwhile
        for cid in [c for c in self._campaign_versions if c not in stored]:
            # Gone, or made here after that read: only a look now tells.
            try:
                await self.store.get_campaign(cid)
            except NotFound:
                await self._forget_campaign(cid)  # deleted through another process
        for cid, version in stored.items():
            if self._campaign_versions.get(cid) == version:
                continue
            try:
                campaign = await self.store.get_campaign(cid)
            except NotFound:
                continue  # removed meanwhile
            await self._push_campaign(campaign, submit=False)  # a stop hands leads back

    async def _follow_dnc(self) -> None:
        """Take in the do-not-call changes other processes made since the last look."""
        async with self._dnc_lock:
            known = self._dnc_versions
            try:
                now = await self.store.dnc_versions()
                if now.removed != known.removed:
                    now = await self._follow_dnc_removals(known, now)
                elif now.added > known.added:
                    for phone, campaign_id, _ in await self.store.dnc_added_since(known.added):
                        self.dnc.add(phone, campaign_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                return  # the database is away: dialing is fenced meanwhile
            self._dnc_versions = now

    async def _follow_dnc_removals(self, known: DncVersions, now: DncVersions) -> DncVersions:
        """Take in removals (and adds) made since ``known``; the counters taken in.

        Each removal is a row naming its number (dnc_removals): the numbers
        come off the index, then whatever lists them in the store now (added
        again since, or on another list) goes back on, so a number the store
        lists is never let through here. Only when rows are missing (pruned:
        this process was a day behind) are the whole lists read again, which
        at 200,000 entries held the event loop for about 200 ms.
        """
        removals = await self.store.dnc_removed_since(known.removed)
        expected = set(range(known.removed + 1, now.removed + 1))
        if now.removed < known.removed or not expected <= {v for _, _, v in removals}:
            fresh, entries = await self.store.all_dnc()
            self.dnc.replace_lists(entries)
            return fresh
        added = await self.store.dnc_added_since(known.added) if now.added > known.added else []
        # Read after the removals: it holds every add that came back since.
        still = await self.store.dnc_entries_of({phone for phone, _, _ in removals})
        for phone, campaign_id, _ in removals:
            self.dnc.discard(phone, campaign_id)
        for phone, campaign_id, _ in added:
            self.dnc.add(phone, campaign_id)
        for phone, campaign_id in still:
            self.dnc.add(phone, campaign_id)
        return now

    async def lookup_dnc(self, phone: str) -> DncLookup:
        normal = normalize_phone(phone, self.settings.default_region)
        scopes = await self.store.dnc_scopes(normal)
        registries = tuple(r.value for r in self.dnc.registries.listing(normal))
        if registries:
            scopes.append(("registry", None))
        names = tuple(
            sorted({f"campaign:{cid}" if scope == "campaign" else scope for scope, cid in scopes})
        )
        return DncLookup(phone=normal, listed=bool(names), scopes=names, registries=registries)

    # ---------------------------------------------------- national registries
    async def load_registry(
        self,
        registry: str,
        body: AsyncIterable[bytes],
        *,
        name: str | None = None,
        published_on: date | None = None,
        allow_shrink: bool = False,
        allow_older: bool = False,
    ) -> RegistryLoadResult:
        """Load a registry file (see :meth:`RegistryManager.load_file`).

        Campaigns the old copy had blocked (stale, missing) dial again at once.
        """
        result = await self.registries.load_file(
            registry,
            body,
            name=name,
            published_on=published_on,
            allow_shrink=allow_shrink,
            allow_older=allow_older,
        )
        await self._announce_campaigns()
        return result

    async def _announce_campaigns(self) -> None:
        """Tell the core every campaign again: a block it holds may have lifted."""
        for campaign in await self.store.list_campaigns():
            await self._push_campaign(campaign, submit=False)

    async def list_registry_loads(
        self, registry: str | None = None, *, limit: int = 100
    ) -> list[StoredRegistryLoad]:
        return await self.registries.list_loads(registry, limit=limit)

    def registry_age_days(self, registry: str, wall_epoch: float | None = None) -> float | None:
        """Days since ``registry``'s copy in force was published; None if none is loaded."""
        when = time.time() if wall_epoch is None else wall_epoch
        return self.registries.age_days(registry, when)

    async def _refresh_registries(self) -> None:
        if await self.registries.refresh():
            await self._announce_campaigns()

    # --------------------------------------------------------------- agents
    async def create_agent(self, name: str, campaign_ids: Sequence[str]) -> tuple[StoredAgent, str]:
        for cid in campaign_ids:
            await self.store.get_campaign(cid)
        return await self.store.create_agent(name, list(campaign_ids))

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        campaign_ids: Sequence[str] | None = None,
    ) -> AgentView:
        """Rename an agent or move it to other campaigns (None: unchanged).

        A move takes effect here at once, on another process at its next
        refresh: the agent is offered the new campaigns' calls from then on,
        and a call it is on stays its campaign's to the end of wrap-up.
        Raises :class:`NotFound` (the agent; a campaign, as ``campaign_ids``).
        """
        try:
            agent = await self.store.update_agent(agent_id, name=name, campaign_ids=campaign_ids)
        except NotFound as exc:
            if exc.kind != "campaign":
                raise
            raise InvalidInput(f"no campaign {exc.ident!r}", field="campaign_ids") from exc
        await self._follow_campaigns_of(agent)
        return self._view(agent, await self._floor_agents())

    async def _follow_campaigns_of(self, agent: StoredAgent) -> None:
        """Tell the core (and the softphone) if the agent's stored campaigns are
        not those it is logged in to here."""
        current = self.core.agent_campaigns(agent.id)
        if current is None or sorted(current) == sorted(agent.campaign_ids):
            return
        log.info("agent %s: now takes calls for %s", agent.id, ", ".join(agent.campaign_ids))
        await self.driver.submit(AgentCampaignsChanged(agent.id, agent.campaign_ids))
        if self.hub.connected(agent.id):
            await self.hub.send(
                agent.id, {"type": "campaigns", "campaign_ids": list(agent.campaign_ids)}
            )

    async def _follow_moved_agents(self) -> None:
        """Agents moved to other campaigns through another process."""
        here = set(self.hub.agent_ids()) | self._held_for_calls
        for agent in await self.store.get_agents(sorted(here)):
            await self._follow_campaigns_of(agent)

    async def delete_agent(self, agent_id: str) -> None:
        """Delete an agent: its softphone socket is closed (4401) and it is
        logged out; its call records keep its id.

        Raises :class:`ConflictError` while it is on a call or in wrap-up here,
        or its softphone is connected to another live process (that process
        owns its calls; it would go on routing them), and :class:`NotFound`.
        """
        await self.store.get_agent(agent_id)
        on_call = ConflictError(
            "the agent is on a call or wrapping one up; delete it after its disposition"
        )
        if self.core.agent_call(agent_id) is not None:
            raise on_call
        if self.core.agent_campaigns(agent_id) is not None:
            # Offered nothing more while the row goes (a call bridged to it
            # meanwhile would outlive its agent and socket).
            with contextlib.suppress(DialerError):
                await self.driver.submit(AgentPaused(agent_id, "deleted"))
            if self.core.agent_call(agent_id) is not None:
                raise on_call
        if not await self.store.delete_agent(agent_id, lease_s=self.settings.process_lease_s):
            raise ConflictError(
                "the agent's softphone is connected to another dialer process; "
                "close it or delete the agent through that process"
            )
        await self._cut_off(agent_id, "the agent was deleted")
        self._held_for_calls.discard(agent_id)
        if self.core.agent_campaigns(agent_id) is not None:
            with contextlib.suppress(DialerError):
                await self.driver.submit(AgentLoggedOut(agent_id))

    def _view(self, agent: StoredAgent, floor: Mapping[str, AgentFigure]) -> AgentView:
        """The agent as the floor sees it: through the process holding it
        (``floor`` is :meth:`_floor_agents`), logged out if none has it."""
        figure = floor.get(agent.id)
        if figure is None:
            return AgentView(agent=agent, state="logged_out", connected=False)
        return AgentView(
            agent=agent, state=figure.state, connected=figure.connected, call_id=figure.call_id
        )

    async def list_agents(self) -> list[AgentView]:
        agents = await self.store.list_agents()
        floor = await self._floor_agents()
        return [self._view(a, floor) for a in agents]

    async def get_agent(self, agent_id: str) -> AgentView:
        agent = await self.store.get_agent(agent_id)
        return self._view(agent, await self._floor_agents())

    # ---------------------------------------------------------------- floor
    def _own_figures(self) -> ProcessFigures:
        """This process's live figures, as the others read them."""
        core = self.core
        campaigns: dict[str, CampaignFigure] = {}
        for cid in core.campaign_ids():
            live = core.stats(cid)
            campaigns[cid] = CampaignFigure(live.lines_in_flight, live.dial_level, live.capped)
        agents: dict[str, AgentFigure] = {}
        for agent_id in core.logged_in_agents():
            agents[agent_id] = AgentFigure(
                core.agent_state(agent_id).value,
                core.agent_campaigns(agent_id) or (),
                self.hub.connected(agent_id),
                core.agent_call(agent_id),
            )
        return ProcessFigures(campaigns, agents)

    async def _floor(self) -> list[ProcessFigures]:
        """Every live process's figures, this one's first (and freshest)."""
        others = await self._other_figures()
        return [self._own_figures(), *(figures for _, figures in others)]

    async def _other_figures(self) -> list[tuple[str, ProcessFigures]]:
        published = await self.store.floor_figures(lease_s=self.settings.process_lease_s)
        return [(pid, ProcessFigures.from_json(text)) for pid, text in published]

    async def _floor_agents(self) -> dict[str, AgentFigure]:
        return merge_agents(await self._floor())

    async def _publish_figures(self, own: ProcessFigures) -> None:
        """Write this process's figures for the others, when they changed (and
        now and then anyway: a process taken for dead registers afresh, empty)."""
        text = own.to_json()
        due = time.monotonic() - self._figures_at >= _FIGURES_REWRITE_S
        if text == self._figures_text and not due:
            return
        await self.store.publish_figures(text)
        self._figures_text, self._figures_at = text, time.monotonic()

    async def authenticate_agent(self, agent_id: str, token: str) -> bool:
        try:
            return await self.store.verify_agent_token(agent_id, token)
        except NotFound:
            return False

    async def agent_connected(
        self, agent_id: str, send: SendToAgent, *, close: CloseAgentSocket | None = None
    ) -> AgentSession:
        """Attach a softphone's socket; ``close`` ends it if a newer one replaces it.

        Raises :class:`ConflictError` while the agent's softphone is connected
        to another live process on the same database: both would route calls
        to the agent (one was bridged to two people at once); and
        :class:`ServiceStopping` while this process drains, unless the agent
        has a call here to finish.
        """
        if self.draining and self.core.agent_call(agent_id) is None:
            await self.store.get_agent(agent_id)  # an unknown agent is NotFound still
            raise ServiceStopping(_STOPPING_REASON)
        # With the agent, the token the socket opened with: replaced through
        # another process, it is found out by the refresh (_cut_off_replaced_tokens).
        async with self._attach_slots:
            attached = await self.store.attach_agent_socket(
                agent_id, lease_s=self.settings.process_lease_s
            )
        if attached is None:
            raise ConflictError(
                "this agent's softphone or call is on another dialer process; "
                "connect to that one, or close it first"
            )
        agent, digest = attached
        before = self.core.agent_state(agent_id)
        session, previous = self.hub.attach(agent_id, send, close)
        self._socket_tokens[agent_id] = digest
        self._away_since.pop(agent_id, None)
        if previous is not None:
            # One softphone per agent, and the newest wins (a second tab, a
            # reconnect before the old socket timed out). The old one is closed:
            # left open it could make the agent ready again, and its own end
            # would then go unnoticed (it is no longer the agent's socket), so
            # a disconnected agent would be offered calls.
            log.info("agent %s: a newer softphone connection replaced the old one", agent_id)
            if previous.close is not None:
                try:
                    await previous.close(WS_REPLACED, "replaced by a newer connection")
                except Exception:
                    log.debug(
                        "agent %s: closing the replaced socket failed", agent_id, exc_info=True
                    )
            # The old connection is gone as if lost: the agent is paused until
            # the new one says ready (a ready agent was routed calls on a
            # socket that had never said so).
            with contextlib.suppress(DialerError):
                await self.driver.submit(AgentPaused(agent_id, "replaced"))
        await self.driver.submit(AgentLoggedIn(agent_id, tuple(agent.campaign_ids)))
        # A softphone back after a lost connection (a reload, a dropped
        # network) mid-call or in wrap-up is sent the call again first, so it
        # can show the lead and hang up or dispose; the state frame names it.
        resumed = self.driver.resumed_frames(agent_id)
        for frame in resumed:
            await self.hub.send(agent_id, frame)
        state = self.core.agent_state(agent_id)
        if state is before or resumed:
            # Unchanged, the core said nothing; changed, it sent the new
            # state already (once is enough), unless a resumed call came after.
            await self.hub.send(agent_id, self.driver.state_frame(agent_id, state.value))
        return session

    async def _filed_disposition(self, call_id: str, agent_id: str) -> str | None:
        """The disposition already filed for the agent's call ``call_id``, if any."""
        try:
            call = await self.store.get_call(call_id)
        except NotFound:
            return None
        return call.disposition if call.agent_id == agent_id else None

    async def replace_agent_token(self, agent_id: str) -> str:
        """A new softphone token for the agent; the old one stops working, and
        a socket open with it is closed (4401): a leaked token is cut off. Here
        at once; on another process at its next refresh."""
        token = await self.store.replace_agent_token(agent_id)
        await self._cut_off(agent_id, "the agent's token was replaced")
        return token

    async def _cut_off(self, agent_id: str, reason: str, *, code: int = WS_UNAUTHORIZED) -> None:
        session = self.hub.session(agent_id)
        if session is not None:
            # Its end, as any socket's, pauses the agent until the softphone
            # is back (with the new token, on another process) and says ready.
            if session.close is not None:
                await session.close(code, reason)
            await self.agent_disconnected(agent_id, session)

    async def _cut_off_replaced_tokens(self) -> None:
        """Close the sockets whose agent's token was replaced or whose agent was
        deleted (through any process)."""
        open_here = self.hub.agent_ids()
        stored = await self.store.agent_token_hashes(open_here)
        for agent_id in open_here:
            opened_with = self._socket_tokens.get(agent_id)
            if agent_id not in stored:
                log.info("agent %s: it was deleted; closing its socket", agent_id)
                await self._cut_off(agent_id, "the agent was deleted")
            elif opened_with is not None and stored[agent_id] != opened_with:
                log.info("agent %s: its token was replaced; closing its socket", agent_id)
                await self._cut_off(agent_id, "the agent's token was replaced")

    async def agent_message(
        self, agent_id: str, message: Mapping[str, Any], *, session: object | None = None
    ) -> None:
        """Act on a softphone's message; from a replaced ``session``, refuse it."""
        if isinstance(session, AgentSession) and not self.hub.is_current(session):
            raise ConflictError("this connection was replaced by a newer one for the agent")
        kind = message.get("type")
        if kind == "ready":
            await self.driver.submit(AgentReady(agent_id))
        elif kind == "pause":
            await self.driver.submit(AgentPaused(agent_id, str(message.get("reason") or "")))
        elif kind == "hangup":
            await self.driver.submit(AgentHungUp(agent_id, str(message.get("call_id"))))
        elif kind == "disposition":
            await self._disposition(agent_id, message)
        elif kind == "dial":
            await self._dial(agent_id, message)
        else:
            raise InvalidInput(f"unknown message type {kind!r}", field="type")

    async def _disposition(self, agent_id: str, message: Mapping[str, Any]) -> None:
        call_id = str(message.get("call_id"))
        code = str(message.get("code") or "")
        if not code:
            raise InvalidInput("a disposition needs a code", field="code")
        if self.core.agent_call(agent_id) != call_id:
            filed = await self._filed_disposition(str(call_id), agent_id)
            if filed is not None:  # e.g. by the campaign's wrap-up limit
                raise InvalidInput(
                    f"call {call_id} already has its disposition ({filed})", field="call_id"
                )
            raise InvalidInput(f"call {call_id} is not this agent's call", field="call_id")
        callback_at = message.get("callback_at")
        if code == "callback" and not isinstance(callback_at, datetime):
            raise InvalidInput("a callback needs callback_at", field="callback_at")
        if (
            isinstance(callback_at, datetime)
            and callback_at.timestamp() > time.time() + 366 * 86400
        ):
            raise InvalidInput("callback_at is more than a year away", field="callback_at")
        if isinstance(callback_at, datetime) and callback_at.timestamp() < time.time() - 300:
            # A typo (2020 for 2026) would have booked a callback due at once.
            raise InvalidInput("callback_at is in the past", field="callback_at")
        personal = bool(message.get("personal")) and code == "callback"
        call = await self.store.get_call(call_id)
        if code == "dnc":
            # Before the core hears of it: the number is never dialed again.
            async with self._dnc_lock:
                await self.store.add_dnc([call.phone], None, source=DISPOSITION)
                self.dnc.add(call.phone)
        await self.store.set_disposition(
            call_id,
            code=code,
            notes=message.get("notes"),
            callback_at=callback_at if isinstance(callback_at, datetime) else None,
            callback_agent_id=agent_id if personal else None,
        )
        await self.driver.submit(
            DispositionSubmitted(
                agent_id,
                call_id,
                code,
                callback_at=callback_at.timestamp() if isinstance(callback_at, datetime) else None,
                notes=message.get("notes"),
                machine=code in ("machine", "answering_machine"),
            )
        )

    async def _dial(self, agent_id: str, message: Mapping[str, Any]) -> None:
        """A preview or manual dial: the campaign's next lead, or the number given.

        Both go through the same compliance gate as a paced call; a refusal
        comes back to the agent as a ``dial_refused`` message. A manual number
        becomes a lead of the campaign first (normalised, checked against the
        do-not-call lists), so its attempt has a record like any other.
        """
        agent = await self.store.get_agent(agent_id)
        campaign_id = message.get("campaign_id") or (
            agent.campaign_ids[0] if len(agent.campaign_ids) == 1 else None
        )
        if campaign_id is None:
            raise InvalidInput("this agent serves several campaigns: name one", "campaign_id")
        if campaign_id not in agent.campaign_ids:
            raise InvalidInput(f"agent does not serve campaign {campaign_id}", "campaign_id")
        phone = message.get("phone")
        if phone is None:
            await self.driver.submit(AgentRequestedDial(agent_id, str(campaign_id)))
            return
        campaign = await self.store.get_campaign(str(campaign_id))
        normal = normalize_phone(str(phone), _home_region(campaign.settings))
        if self.dnc.blocked(
            normal, str(campaign_id), registries=campaign.settings.scrub_national_registry
        ):
            # Refused as the gate refuses (one shape for the softphone), and
            # before a lead is made for it.
            refusal = DialRefused(agent_id, str(campaign_id), None, "dnc")
            await self.hub.send(agent_id, dial_refused_frame(refusal))
            return
        lead = await self.store.claim_number(str(campaign_id), normal)
        self.driver.lead_claimed(lead)
        await self.driver.submit(AgentRequestedDial(agent_id, str(campaign_id), lead=lead))

    async def agent_disconnected(self, agent_id: str, session: object) -> None:
        if isinstance(session, AgentSession) and self.hub.detach(session):
            self._socket_tokens.pop(agent_id, None)
            self._away_since[agent_id] = time.monotonic()
            # Away means paused: no call is offered until it is back and ready.
            with contextlib.suppress(DialerError):
                await self.driver.submit(AgentPaused(agent_id, "disconnected"))
            if self.core.agent_call(agent_id) is not None:
                # On a call or wrapping one up here: only this process can
                # resume it, so the agent stays ours until it is free (another
                # process took the softphone as ready while its call went on).
                self._held_for_calls.add(agent_id)
                return
            await self._let_go_of_agent(agent_id)

    async def _let_go_of_agent(self, agent_id: str) -> None:
        try:  # free for another process; a lapsed lease frees it anyway
            await self.store.detach_agent_socket(agent_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("agent %s: could not record the socket's end: %s", agent_id, exc)

    async def _log_out_the_long_away(self) -> None:
        """Agents whose softphone has been gone ``away_logout_s``, with no call
        of theirs here, are logged out here: the agent who went home shows as
        logged out, not paused for ever, and no longer counts in this
        process's figures (or its lead claims) for its campaigns. A softphone
        back logs it in again."""
        limit = self.settings.away_logout_s
        now = time.monotonic()
        for agent_id, since in list(self._away_since.items()):
            if self.hub.connected(agent_id) or self.core.agent_campaigns(agent_id) is None:
                del self._away_since[agent_id]  # back, or logged out already
            elif now - since >= limit and self.core.agent_call(agent_id) is None:
                del self._away_since[agent_id]
                log.info("agent %s: away for %.0f s; logged out", agent_id, now - since)
                with contextlib.suppress(DialerError):
                    await self.driver.submit(AgentLoggedOut(agent_id))

    async def _release_agents_done_here(self) -> None:
        """Agents kept for their call after their softphone went: free once it is over."""
        for agent_id in list(self._held_for_calls):
            if self.hub.connected(agent_id):
                self._held_for_calls.discard(agent_id)  # back here: held by its socket
            elif self.core.agent_call(agent_id) is None:
                self._held_for_calls.discard(agent_id)
                await self._let_go_of_agent(agent_id)

    # ---------------------------------------------------------------- calls
    async def list_calls(
        self, *, campaign_id: str | None, since: datetime | None, limit: int, cursor: str | None
    ) -> CallPage:
        return await self.store.list_calls(
            campaign_id=campaign_id, since=since, limit=limit, cursor=cursor
        )

    async def get_call(self, call_id: str) -> StoredCall:
        return await self.store.get_call(call_id)

    async def list_skips(
        self, campaign_id: str, *, since: datetime | None, limit: int
    ) -> list[SkippedDial]:
        await self.store.get_campaign(campaign_id)
        return await self.store.list_skips(campaign_id, since=since, limit=limit)

    async def purge_old_records(self, now: datetime | None = None) -> int:
        """Delete finished records older than the retention period; how many went."""
        now = now or datetime.now(UTC)
        # Removal rows serve processes following the lists; one a day behind
        # reads the lists afresh (_follow_dnc_removals).
        await self.store.prune_dnc_removals(now - timedelta(days=1))
        purged = await self.store.purge_records(now - timedelta(days=self.settings.retention_days))
        if purged.calls or purged.skipped_dials:
            log.info(
                "retention: purged %d call records and %d skipped dials older than %d days",
                purged.calls,
                purged.skipped_dials,
                self.settings.retention_days,
            )
        return purged.calls + purged.skipped_dials

    # ----------------------------------------------------------- operations
    async def health(self) -> dict[str, Any]:
        db = await self.store.ping()
        tel = self._telephony is not None and await self._telephony.healthy()
        return {
            "database": "ok" if db else "unreachable",
            "telephony": "ok" if tel else "unavailable",
            "ok": db and tel and self.started,
        }

    def metrics_text(self) -> tuple[bytes, str]:
        return self.metrics.exposition()

    async def _lag_monitor(self, period_s: float = 0.05) -> None:
        """How late the event loop wakes a sleeper: blocking work shows up here."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            start = loop.time()
            await asyncio.sleep(period_s)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - start - period_s))

    async def _recover(self) -> None:
        calls, leads = await self.store.recover(lease_s=self.settings.process_lease_s)
        if calls or leads:
            log.warning(
                "took back %d open calls and %d claimed leads of processes that stopped",
                calls,
                leads,
            )

    async def _beat(self) -> None:
        if not await self.store.heartbeat():
            # Another process took this one for dead (no beat for a lease)
            # and handed its leads back: they are anyone's now.
            log.error(
                "this process was taken for dead (no heartbeat for %.0f s): "
                "dropping the leads it held undialed",
                self.settings.process_lease_s,
            )
            self.driver.revoke_claims()
        self.records_health.beat()
        await self._recover()

    def _records_restored(self) -> None:
        """Dialing may resume: tell the core every campaign again, to wake its pacers."""
        if not self.started or self._stopping.is_set():
            return
        log.warning("the database takes writes again: dialing resumes")
        task = asyncio.create_task(self._announce_after_outage(), name="dialer-resume")
        self._background.append(task)
        task.add_done_callback(self._forget_background)

    async def _announce_after_outage(self) -> None:
        try:
            await self._announce_campaigns()
        except Exception:  # the next refresh of the figures announces them anyway
            log.exception("announcing campaigns after an outage failed")

    def _forget_background(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._background.remove(task)

    async def _every(
        self,
        period_s: float,
        work: Callable[[], Awaitable[object]],
        what: str,
        *,
        first: bool = False,
    ) -> None:
        """Run ``work`` every ``period_s`` (at once too, if ``first``) until the service stops.

        A failure is logged and the next round comes as usual.
        """
        if not first:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), period_s)
        while not self._stopping.is_set():
            try:
                await work()
            except Exception:
                log.exception("%s failed; trying again in %.0f s", what, period_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), period_s)

    async def _refresh(self) -> None:
        """Gauges every few seconds; now and then, the core's window counts from the records."""
        refresh_window = time.monotonic() - self._last_window >= _WINDOW_REFRESH_S
        if refresh_window:
            self._last_window = time.monotonic()
        m = self.metrics
        now = datetime.now(UTC)
        # First: a failure below must not keep a revoked token's socket open.
        await self._cut_off_replaced_tokens()
        await self._release_agents_done_here()
        await self._log_out_the_long_away()
        await self._follow_moved_agents()
        own = self._own_figures()
        await self._publish_figures(own)
        # Each agent in one process's gauges only (Prometheus sums them).
        gauged = counted_here(self.store.owner, own, await self._other_figures())
        for campaign in await self.store.list_campaigns():
            cid = campaign.id
            try:
                live = self.core.stats(cid)
            except NotFound:  # created through another process a moment ago
                await self._push_campaign(campaign, submit=False)
                continue
            counts = gauged.get(cid, {})
            for state in AGENT_STATES:
                m.agents.labels(cid, state).set(counts.get(state, 0))
            m.lines_in_flight.labels(cid).set(live.lines_in_flight)
            m.dial_level.labels(cid).set(live.dial_level)
            month = datetime.fromtimestamp(
                window_span(AbandonWindow.CALENDAR_MONTH, now.timestamp()).since, UTC
            )
            for window, since in (
                ("24h", now - timedelta(hours=24)),
                ("30d", now - timedelta(days=30)),
                ("month", month),
            ):
                h, a = await self.store.abandonment_counts(cid, since)
                m.abandon_rate.labels(cid, window).set(a / h if h else 0.0)
            if refresh_window:
                await self._push_campaign(campaign, submit=False)
            if live.leads_exhausted and campaign.settings.state is RunState.RUNNING:
                # Retries and callbacks come due with time: ask the store again.
                self.driver.post(LeadsClaimed(cid, (), exhausted=False))
