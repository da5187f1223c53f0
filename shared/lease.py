"""One writer at a time: the lake's writer lease.

Refreshing, training, promoting and scoring rewrite shared tables and pointers; two runs
doing it at once would interleave their commits. So each takes the lake's writer lease
first: a small record, `_state/lease/writer.json`, naming the run that holds the lake,
the processes of that run holding it now, and until when. It is only ever written
compare-and-swap (an ETag condition on Azure, a locked compare on local disk), the
pattern of the Event Hubs checkpoint store's ownership records: of two writers racing for
it, one wins and the other sees the winner.

- A holder renews its entry from a background thread every third of the lease time; a
  holder that dies stops renewing and loses the lake when its entry expires (on one
  machine at once: a holder whose process is gone counts as expired).
- Steps of one run share the lease (the nightly run's activities, in several processes,
  pass the same run id), and a run keeps the lake for `keep_s` between its steps, so no
  other writer slips in while a durable timer waits; the run's last step releases it.
- A second run waits up to `wait_s`, then fails with `LakeBusyError` naming the holder.
- A holder that finds its lease taken (it was paused beyond the lease time) stops at its
  next table write with `LeaseLostError`; the watermark and the champion pointer are
  written compare-and-swap too, so a stale writer can never move them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from shared.storage import StaleWriteError, VersionedStore, Zone

logger = logging.getLogger("shoplake.lease")

HOST = socket.gethostname()
POLL_S = 0.25
"""How often a waiting writer looks at the lease again."""


@dataclass(frozen=True)
class LeasePolicy:
    ttl_s: float = 60.0
    """A holder that stops renewing (it died) loses the lake after this long."""
    wait_s: float = 30.0
    """How long a second writer waits for the lake before giving up."""
    keep_s: float = 600.0
    """How long a run keeps the lake between its steps (retry waits, durable timers)."""


class LakeBusyError(RuntimeError):
    """Another run holds the lake's writer lease; the message says which, where and since."""


class LeaseLostError(RuntimeError):
    """This run's lease expired and another run took the lake: stop writing."""


@dataclass
class LeaseRecord:
    """The content of `writer.json`."""

    run: str | None = None
    since: str | None = None
    holders: dict[str, float] = field(default_factory=dict)
    """`host/pid` -> until when (epoch seconds) that process holds the lease."""
    kept_until: float = 0.0
    """The run keeps the lake until then, between its steps."""

    @classmethod
    def parse(cls, data: bytes | None) -> LeaseRecord:
        """The record; a free one when there is none or it is damaged (a storage cut it
        short, a hand edit went wrong): its holder, if any, finds it lost at its next
        renewal. Fields a newer version added are ignored."""
        if not data:
            return cls()
        try:
            raw = orjson.loads(data)
            record = cls(run=raw.get("run"), since=raw.get("since"),
                         holders={str(h): float(u) for h, u in raw.get("holders", {}).items()},
                         kept_until=float(raw.get("kept_until") or 0.0))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            logger.warning("the writer lease record is damaged (%d bytes): taken as free",
                           len(data))
            return cls()
        if record.run is not None and not isinstance(record.run, str):
            return cls()
        return record

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__, option=orjson.OPT_INDENT_2)

    def live_holders(self, now: float) -> dict[str, float]:
        return {holder: until for holder, until in self.holders.items()
                if until > now and _alive(holder)}

    def held(self, now: float) -> bool:
        return self.run is not None and (bool(self.live_holders(now)) or self.kept_until > now)

    def describe(self, now: float) -> str:
        holders = ", ".join(sorted(self.live_holders(now))) or "between its steps"
        until = max([self.kept_until, *self.live_holders(now).values()])
        return (f"run {self.run} ({holders}) since {self.since}; it expires in "
                f"{until - now:.0f} s unless renewed")


def _alive(holder: str) -> bool:
    """False only for a process of this machine that is known to be gone."""
    host, _, pid = holder.rpartition("/")
    if host != HOST or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Holding:
    """This process's hold on one run's lease: a count of open steps and a heartbeat."""

    def __init__(self, lake: VersionedStore, run: str, policy: LeasePolicy) -> None:
        self.lake = lake
        self.run = run
        self.policy = policy
        self.me = f"{HOST}/{os.getpid()}"
        self.steps = 0
        """Blocks of the run open in this process."""
        self.taking = threading.Lock()
        self.taken = False
        self.lost: str | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._renewing = threading.Lock()
        self.renewed = time.monotonic()
        """When this process last renewed (or took) its entry."""

    @property
    def path(self) -> str:
        return lease_path(self.lake)

    def acquire(self, sleep: Callable[[float], None]) -> None:
        deadline = time.monotonic() + self.policy.wait_s
        while True:
            now = time.time()
            current = self.lake.read_versioned(self.path)
            record = LeaseRecord.parse(current.data)
            if record.run == self.run or not record.held(now):
                new_run = record.run != self.run
                if new_run:
                    record = LeaseRecord(self.run, _iso(now))
                record.holders = {**record.live_holders(now), self.me: now + self.policy.ttl_s}
                if self._write(record, current.version):
                    self.renewed = time.monotonic()
                    if new_run:  # a writer starting up: what dead writers left goes
                        self.lake.remove_orphans()
                    return
                continue  # somebody wrote in between: look again
            left = deadline - time.monotonic()
            if left <= 0:
                raise LakeBusyError(
                    f"the lake {self.lake.url} is being written by {record.describe(now)}; "
                    "try again when it has finished (the lease is "
                    f"{self.lake.relative(self.path)}: delete it only if that run is gone)")
            sleep(min(left, POLL_S))

    def start_heartbeat(self) -> None:
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name=f"lease-{self.run}",
                                           daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.policy.ttl_s / 3):
            try:
                self.renew()
            except LeaseLostError as error:
                logger.error("%s", error)
                return
            except Exception:  # a storage hiccup: the next beat tries again
                logger.warning("lease of run %s not renewed", self.run, exc_info=True)

    def renew(self) -> None:
        """Extend this process's entry (`LeaseLostError`, remembered, if the run lost it)."""
        with self._renewing:
            if self.lost is not None:
                raise LeaseLostError(self.lost)
            try:
                self._update(lambda record, now: record.holders.__setitem__(
                    self.me, now + self.policy.ttl_s))
            except LeaseLostError as error:
                self.lost = str(error)
                raise
            self.renewed = time.monotonic()

    def ensure_held(self) -> None:
        """Before a write: raise if the run lost the lake. Renew first when the last renewal
        is older than half the lease time (this process was paused, or its heartbeat
        starved): the entry may have expired meanwhile and the lake been taken."""
        if self.lost is not None:
            raise LeaseLostError(self.lost)
        if time.monotonic() - self.renewed > self.policy.ttl_s / 2:
            self.renew()

    def leave(self, keep: bool) -> None:
        """This process's last open step of the run ended."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()

        def drop(record: LeaseRecord, now: float) -> None:
            record.holders.pop(self.me, None)
            if keep:
                record.kept_until = now + self.policy.keep_s
            elif not record.live_holders(now):
                record.run, record.since, record.kept_until = None, None, 0.0

        if self.lost is not None:
            return
        try:
            self._update(drop, ended_ok=True)
        except Exception:  # never mask the step's own outcome: the entry expires anyway
            logger.warning("lease of run %s not handed back", self.run, exc_info=True)

    def release(self) -> None:
        """End the run's hold on the lake, whichever of its processes hold it."""
        self._update(lambda record, _: record.__init__())

    def _update(self, change: Callable[[LeaseRecord, float], None], *,
                ended_ok: bool = False) -> None:
        """Apply `change` to the record if this run still holds it (compare-and-swap).
        When it does not: `LeaseLostError`, or nothing if `ended_ok` (its last step
        released it)."""
        while True:
            current = self.lake.read_versioned(self.path)
            record = LeaseRecord.parse(current.data)
            now = time.time()
            if record.run != self.run:
                if ended_ok:
                    return
                raise LeaseLostError(
                    f"run {self.run} lost the writer lease of {self.lake.url}"
                    + (f" to {record.describe(now)}" if record.held(now) else "")
                    + ": its lease expired; stopping before writing again")
            change(record, now)
            if self._write(record, current.version):
                return

    def _write(self, record: LeaseRecord, version: str | None) -> bool:
        try:
            self.lake.write_bytes_if(self.path, record.to_json(), version)
        except StaleWriteError:
            return False
        return True


_holdings: dict[tuple[str, str], _Holding] = {}
_holdings_lock = threading.Lock()
_enclosing: ContextVar[tuple[str, str] | None] = ContextVar("enclosing_writer", default=None)
"""(lake URL, run) of the writer block the current code runs inside."""


def lease_path(lake: VersionedStore) -> str:
    return lake.path(Zone.STATE, "lease", "writer.json")


def new_run_id() -> str:
    return f"{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextmanager
def hold(lake: VersionedStore, policy: LeasePolicy, run: str | None = None, *, keep: bool = False,
         sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
    """Hold the lake's writer lease for `run` inside the block; yields the run id.

    Without a run, the block joins the writer block it is nested in, if any, else it is
    a run of its own. Blocks of one run share the lease, across threads and processes.
    When this process's last block of the run ends, the run keeps the lake if `keep`
    (more of its steps follow), else hands it back unless other processes of the run
    still hold it.
    """
    enclosing = _enclosing.get()
    if run is None:
        run = enclosing[1] if enclosing and enclosing[0] == lake.url else new_run_id()
    key = (lake.url, run)
    with _holdings_lock:
        holding = _holdings.get(key)
        if holding is None:
            holding = _holdings[key] = _Holding(lake, run, policy)
        holding.steps += 1
    try:
        with holding.taking:  # waiting for the lake blocks this run's blocks only
            if not holding.taken:
                holding.acquire(sleep)
                holding.start_heartbeat()
                holding.taken = True
    except BaseException:
        _block_ended(key, holding, keep)
        raise
    token = _enclosing.set(key)
    try:
        yield run
    finally:
        _enclosing.reset(token)
        _block_ended(key, holding, keep)


def _block_ended(key: tuple[str, str], holding: _Holding, keep: bool) -> None:
    with _holdings_lock:
        holding.steps -= 1
        if holding.steps == 0:
            del _holdings[key]
            if holding.taken:
                holding.leave(keep)


def release(lake: VersionedStore, run: str) -> bool:
    """End `run`'s hold on the lake (its last step); False when it held nothing."""
    holding = _Holding(lake, run, LeasePolicy())
    try:
        holding.release()
    except LeaseLostError:
        return False
    return True


def check_held(lake: VersionedStore) -> None:
    """Before a write: raise `LeaseLostError` when a run of this process lost the lake."""
    for (url, _), holding in list(_holdings.items()):
        if url == lake.url and holding.taken:
            holding.ensure_held()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
