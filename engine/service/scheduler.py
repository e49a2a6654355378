"""`hgsync daemon`: every pipeline on its schedule, for months, while ops edit the files.

- APScheduler runs each scheduled pipeline (cron in its time zone, or a fixed interval).
  ``max_instances=1``: a run that comes due while the last one is still going is skipped
  and logged (``run_skipped``). Runs missed while the daemon was down are coalesced into
  one run at start, if the missed time is within ``daemon.misfire_grace`` seconds.
- One active daemon per state store (:mod:`.lease`): on a shared PostgreSQL store a second
  daemon waits as standby and takes over when the active one dies; on SQLite it refuses to
  start and says which process holds the store. Each run also takes its pipeline's lock, so
  a one-off ``hgsync run`` never runs beside the daemon.
- Live edits: the files are polled; a valid change applies from the next run, a broken one
  is logged and shown on the status page while the last good version keeps running.
- SIGTERM/SIGINT: no new run starts, requests in flight finish (up to
  ``daemon.stop_timeout``), outcomes are committed, exit 0. A second signal stops at once;
  requests then on the wire stay marked ``sending`` and are sent again by the next run.
- A pipeline whose database is down or whose target keeps failing is logged and tried on
  its next schedule; the others run on.
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine import signals
from engine.definitions.pipeline import Pipeline
from engine.definitions.pipeline_model import Schedule
from engine.definitions.settings import resolve_url
from engine.errors import ConfigError, CredentialsRefused, HgsyncError, Interrupted, LockedError
from engine.inbound.serve import InboundService
from engine.logging import get_logger
from engine.outbound.run import run_pipeline
from engine.service.alerts import Alerter
from engine.service.clients import ClientPool
from engine.service.daemon_status import DaemonStatus
from engine.service.lease import Lease
from engine.service.live import LiveProject
from engine.store import StateStore

log = get_logger("hgsync.daemon")
EXIT_TAKEN_OVER = 3  # as for a lock held by another process


def make_trigger(schedule: Schedule) -> Any:
    if schedule.every is not None:
        return IntervalTrigger(seconds=schedule.every, timezone=UTC)
    return CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)


def missed_since(schedule: Schedule, last_run: datetime, now: datetime) -> datetime | None:
    """The first time the schedule came due after ``last_run``, if that is already past."""
    if schedule.every is not None:
        due = last_run + timedelta(seconds=schedule.every)
    else:
        due = make_trigger(schedule).get_next_fire_time(None, last_run + timedelta(seconds=1))
    return due if due is not None and due <= now else None


class Daemon:
    def __init__(
        self,
        home: Path,
        *,
        http_port: int | None = None,
        reload_interval: float = 1.0,
        standby: bool | None = None,
    ):
        self.home = home
        self.standby = standby  # None: stand by on a shared (PostgreSQL) store, refuse on SQLite
        self.live = LiveProject(home)
        self.reload_interval = reload_interval
        self.http_port = http_port
        self.stop = asyncio.Event()  # set by the first signal: start nothing new
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.scheduled: dict[str, Schedule] = {}
        self.clients = ClientPool(on_attempt=self._attempt)
        self.scheduler: AsyncIOScheduler | None = None
        self.state: StateStore | None = None
        self.status: DaemonStatus | None = None
        self.lease: Lease | None = None
        self.alerts = Alerter(None)
        self._hard_stop = asyncio.Event()

    # -- life cycle ----------------------------------------------------------------------------

    async def run(self) -> int:
        self.live.reload()
        settings = self.live.settings
        if settings is None:
            raise ConfigError(self.live.config_problems)
        self.state = StateStore(resolve_url(settings.state, self.home))
        self.lease = Lease(self.state, settings.daemon.lease)
        standby = self.standby if self.standby is not None else self.state.backend != "sqlite"
        server = None
        receiver: InboundService | None = None
        try:
            self.status = DaemonStatus(self.live, self.state, self._next_run, self.lease)
            port = self.http_port if self.http_port is not None else settings.daemon.http_port
            if port is not None:
                from engine.service.status_server import StatusServer

                server = StatusServer.for_daemon(
                    settings.daemon,
                    port,
                    self.status.snapshot,
                    metrics=self.status.metrics.exposition,
                    act=self._act_from_thread(asyncio.get_running_loop()),
                ).start()
                log.info("status_server_started", url=server.url)
            self.alerts = Alerter(settings.daemon.alerts, page=server.url + "/" if server else "")
            signals.install(self._stop_cleanly, self._stop_now)
            if not await self.lease.take(standby=standby, stop=self.stop):
                log.info("daemon_stopped", role="standby")
                return 0
            self.scheduler = AsyncIOScheduler(timezone=UTC)
            self.scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)
            self.scheduler.start()
            self._apply_schedules(catch_up=True)
            if settings.receiver is not None:  # only the active daemon applies events, in order
                receiver = InboundService(
                    settings, self.home, self.state, lambda: self.live.inbound, lambda: self.live.answers
                )
                await asyncio.to_thread(receiver.start)
            log.info("daemon_started", pipelines=sorted(self.scheduled), home=str(self.home))
            await self._check_files()
            background = [
                asyncio.create_task(self._watch()),
                asyncio.create_task(self._heartbeat()),
                asyncio.create_task(self.lease.keep(self._lease_lost)),
            ]
            await self.stop.wait()
            await self._shutdown((self.live.settings or settings).daemon.stop_timeout)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        finally:
            if receiver is not None:
                await asyncio.to_thread(receiver.stop)
            if server is not None:
                server.stop()
            await self.clients.close()
            self.lease.release()
            self.state.close()
        log.info("daemon_stopped")
        return EXIT_TAKEN_OVER if self.lease.role == "lost" else 0

    def _attempt(self, token: bool, status: int | None, seconds: float) -> None:
        if self.status is not None:
            self.status.attempt(token, status, seconds)

    def _lease_lost(self) -> None:
        """Another daemon took over (this one stalled past its lease): stop at once; the runs'
        own writes are fenced already, so nothing more goes out."""
        self.stop.set()
        self._stop_now(None)

    def _stop_cleanly(self, sig: signal.Signals) -> None:
        log.info("daemon_stopping", signal=sig.name, running=sorted(self.tasks))
        if self.status is not None:
            self.status.stopping = True
        self.stop.set()

    def _stop_now(self, sig: signal.Signals | None) -> None:
        reason = sig.name if sig is not None else "lease lost"
        log.warning("daemon_stopping_now", signal=reason, running=sorted(self.tasks))
        self._hard_stop.set()
        for task in self.tasks.values():
            task.cancel()

    async def _shutdown(self, timeout: float) -> None:
        """Start nothing new; give running runs ``timeout`` seconds to finish their requests.

        The scheduler is only paused here: shutting it down cancels the tasks of running jobs
        (APScheduler's asyncio executor does), which would cut requests off mid-flight."""
        if self.scheduler is not None:
            self.scheduler.pause()
        running = set(self.tasks.values())
        if running and not self._hard_stop.is_set():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            hard = asyncio.ensure_future(self._hard_stop.wait())
            pending = set(running)
            while pending and not hard.done() and (left := deadline - loop.time()) > 0:
                _, pending = await asyncio.wait(
                    pending | {hard}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(hard)
            hard.cancel()
        leftover = [t for t in running if not t.done()]
        if leftover:
            log.warning("stop_timeout", pipelines=sorted(n for n, t in self.tasks.items() if t in leftover))
            for task in leftover:
                task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)

    # -- schedules ------------------------------------------------------------------------------

    def _next_run(self, name: str) -> datetime | None:
        job = self.scheduler.get_job(name) if self.scheduler is not None and self.scheduler.running else None
        return job.next_run_time if job is not None else None

    def _apply_schedules(self, *, catch_up: bool = False) -> None:
        """Make the scheduler's jobs match the last good pipelines."""
        assert self.scheduler is not None and self.state is not None and self.live.settings is not None
        grace = self.live.settings.daemon.misfire_grace
        wanted = {
            name: p.spec.schedule
            for name, p in self.live.pipelines.items()
            if p.spec.schedule is not None and p.spec.enabled
        }
        for name in list(self.scheduled):
            if name not in wanted:
                self.scheduler.remove_job(name)
                del self.scheduled[name]
                log.info("pipeline_unscheduled", pipeline=name)
        now = datetime.now(UTC)
        for name, schedule in wanted.items():
            if self.scheduled.get(name) == schedule:
                continue
            options: dict[str, Any] = {}
            if catch_up:
                last = self.state.history(name, 1)
                missed = missed_since(schedule, last[0].started_at, now) if last else None
                if missed is not None and (now - missed).total_seconds() <= grace:
                    options["next_run_time"] = now
                    log.info(
                        "missed_run_catch_up", pipeline=name, missed=missed.isoformat(timespec="seconds")
                    )
                elif missed is not None:
                    log.warning(
                        "missed_run_skipped",
                        pipeline=name,
                        missed=missed.isoformat(timespec="seconds"),
                        grace_seconds=grace,
                    )
            try:
                self.scheduler.add_job(
                    self._job,
                    make_trigger(schedule),
                    args=[name],
                    id=name,
                    name=name,
                    replace_existing=True,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(int(grace), 1),
                    **options,
                )
            except (ValueError, OverflowError, TypeError) as exc:  # the other pipelines still get scheduled
                self.live.reload_error = f"pipeline {name}: cannot be scheduled ({type(exc).__name__}: {exc})"
                log.error("schedule_failed", pipeline=name, error=self.live.reload_error)
                continue
            self.scheduled[name] = schedule
            log.info("pipeline_scheduled", pipeline=name, schedule=schedule.describe())

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        log.warning("run_skipped", pipeline=event.job_id, reason="the previous run is still going")
        if self.status is not None:
            self.status.overlap_skipped(event.job_id)

    async def _watch(self) -> None:
        """Reload changed files; nothing a file holds may end this loop (its heartbeat would
        stop, and /healthz then says the daemon is stuck)."""
        assert self.status is not None
        while True:
            self.status.beat("watcher")
            await asyncio.sleep(self.reload_interval)
            self.status.beat("watcher")
            try:
                if self.stop.is_set() or not self.live.changed_on_disk():
                    continue
                changes = await asyncio.to_thread(self.live.reload)
                for name in changes.added + changes.changed:
                    log.info("pipeline_reloaded", pipeline=name, file=self.live.files.get(name))
                for name in changes.removed:
                    log.info("pipeline_removed", pipeline=name)
                self.live.reload_error = None
                self._apply_schedules()
                await self._check_files()
            except Exception as exc:  # a reload must never take the daemon down
                self.live.reload_error = f"{type(exc).__name__}: {exc}"
                log.exception(
                    "reload_failed", error=self.live.reload_error, action="keeping the last good version"
                )

    async def _heartbeat(self) -> None:
        """The scheduler's heartbeat: beats while the event loop turns and the scheduler runs."""
        assert self.status is not None
        while True:
            if self.scheduler is not None and self.scheduler.running:
                self.status.beat("scheduler")
            await asyncio.sleep(1.0)

    async def _check_files(self) -> None:
        """Tell the alerts which files are broken now (the config file as ``config``)."""
        live = self.live
        if live.settings is not None:
            self.alerts.reconfigure(live.settings.daemon.alerts)
        broken = {
            n: [str(p) for p in live.pipeline_problems(n)] for n in live.files if live.pipeline_problems(n)
        }
        if live.config_problems:
            broken["config"] = [str(p) for p in live.config_problems]
        await self.alerts.files_checked(broken, set(live.files))

    # -- one run ---------------------------------------------------------------------------------

    def _act_from_thread(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The status page's buttons: start a run now (from the server's thread)."""

        def act(name: str, retry_failed: bool) -> str:
            future = asyncio.run_coroutine_threadsafe(self._run_now(name, retry_failed), loop)
            return future.result(timeout=10)

        return act

    async def _run_now(self, name: str, retry_failed: bool) -> str:
        if self.stop.is_set():
            raise ValueError("the daemon is stopping: no new run starts")
        if name not in self.live.pipelines:
            raise ValueError(f"no pipeline {name!r} is loaded")
        if name in self.tasks:
            raise ValueError(f"{name} is running already")
        if self.lease is not None and self.lease.role != "active":
            raise ValueError("this daemon is not the active one")
        asyncio.get_running_loop().create_task(
            self._job(name, retry_failed=retry_failed, trigger="status page")
        )
        log.info("run_requested", pipeline=name, retry_failed=retry_failed, by="status page")
        what = "retrying its failed rows" if retry_failed else "now"
        return f"{name}: run started ({what})"

    async def _job(self, name: str, retry_failed: bool = False, trigger: str = "daemon") -> None:
        if self.stop.is_set() or name not in self.live.pipelines or name in self.tasks:
            return
        assert self.state is not None and self.status is not None
        task = asyncio.current_task()
        assert task is not None
        self.tasks[name] = task
        self.status.run_started(name)
        status, counts, error = "error", None, ""
        began = time.monotonic()
        project = self.live.project()
        pipeline: Pipeline = project.pipelines[name]
        try:
            assert project.settings is not None
            client = await self.clients.get(pipeline.target, project.settings.targets[pipeline.target])

            def outcome(_row: object, result: Any) -> None:
                self.status.request_done(name, result.status, result.attempts)  # type: ignore[union-attr]

            result = await run_pipeline(
                project,
                name,
                self.state,
                trigger=trigger,
                retry_failed=retry_failed,
                stop=self.stop,
                client=client,
                on_outcome=outcome,
                on_planned=lambda plan: self.status.run_planned(name, plan.to_send),  # type: ignore[union-attr]
            )
            status, counts = result.status, result.counts
        except LockedError as exc:
            status = "skipped"
            log.warning("run_skipped", pipeline=name, reason=str(exc))
        except (Interrupted, asyncio.CancelledError):
            status = "interrupted"
        except CredentialsRefused as exc:
            self.clients.discard(pipeline.target)
            error = str(exc)
            log.error("run_failed", pipeline=name, error=error, next="retried on its next schedule")
        except HgsyncError as exc:
            error = str(exc)
            log.error("run_failed", pipeline=name, error=error, next="retried on its next schedule")
        except Exception as exc:  # isolation: one pipeline's bug never stops the others
            error = f"{type(exc).__name__}: {exc}"
            log.exception("run_crashed", pipeline=name, error=error)
        finally:
            self.tasks.pop(name, None)
            self.status.run_ended(name, status, counts, time.monotonic() - began)
        if status not in ("interrupted", "skipped"):
            await self._alert_run(name, status, counts, error)

    async def _alert_run(self, name: str, status: str, counts: dict[str, int] | None, error: str) -> None:
        assert self.state is not None
        keys = self.state.count_by_status(name)
        if counts:
            error = error or (
                f"delivered {counts.get('delivered', 0)}, rejected {counts.get('send_rejected', 0)}, "
                f"failed {counts.get('send_failed', 0)}, row errors {counts.get('error', 0)}; "
                f"`hgsync history {name} --failing` lists them"
            )
        await self.alerts.run_ended(name, status, error, keys.get("rejected", 0) + keys.get("failed", 0))


def run_daemon(
    home: Path, *, http_port: int | None = None, reload_interval: float = 1.0, standby: bool | None = None
) -> int:
    try:
        return asyncio.run(
            Daemon(home, http_port=http_port, reload_interval=reload_interval, standby=standby).run()
        )
    finally:
        signals.ignore_from_now()
