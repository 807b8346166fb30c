"""``--record DIR``: every closed minute of every meter, appended in the format of :mod:`device.recording_format`,
so the user's own house can be trained on later (``python -m train --data DIR``).

Durable without a database. Day files are only ever appended to: each batch adds a file's new lines with one
``os.write`` on an ``O_APPEND`` descriptor, so a killed process leaves whole lines (unless the kill lands inside the
write call, which Linux may then cut at a page boundary). A power cut can leave a torn last line (a write only partly
on disk): the next open of that file truncates either (logged and counted), and a reader drops it meanwhile. A file is
synced once its oldest unsynced line is ``sync_interval_s`` old (checked at every flush), so a power cut loses well
under a minute. At most ``max_open`` descriptors stay open (least recently written closed first), so
10,000 meters never exhaust the process's fd limit.

A failing write (disk full, a folder that cannot be made) never stops the forecasts: it is logged (rate-limited)
with its meter and file and counted in ``errors``; the next flush tries again.

Retention is by data time: a meter keeps the newest ``retention_days`` UTC days up to the newest day recorded for
it, so a replay of 2008 data is not deleted for being old today. It is applied at start-up (over the folders
already there) and whenever a meter starts a new day; a minute older than that window is not written (``expired``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

from device.atomic import write_atomic
from device.clock import HouseholdTime
from device.forecasting.stream import Outcome, StreamUpdate
from device.io.ratelog import RateLimitedLog
from device.recording_format import DAY_FILE, HEADER, METER_FILE, day_file, format_line, meter_folder

log = logging.getLogger(__name__)
#: The counters of the metrics snapshot's ``recording`` section.
COUNTERS = ("minutes", "corrections", "expired", "torn_lines_truncated", "files_deleted", "errors", "bytes")
MAX_OPEN_FILES = 32
SYNC_INTERVAL_S = 30.0
_MINUTES_PER_DAY = 1440
_TAIL_BYTES = 4096  # read back this much at a time to find the last whole line of a torn file


def _day_name(day: int) -> str:
    return str(np.datetime64(day, "D"))


def _day_number(file_name: str) -> int | None:
    """The UTC day (days since the epoch) of a day file's name, None for any other file."""
    match = DAY_FILE.fullmatch(file_name)
    if not match:
        return None
    try:
        return int(np.datetime64(match.group(1), "D").astype(np.int64))
    except ValueError:  # 2026-13-45.csv
        return None


class _Pending:
    """One day file's lines waiting for the next flush."""

    __slots__ = ("meter", "lines", "corrections")

    def __init__(self, meter: str) -> None:
        self.meter = meter
        self.lines: list[str] = []
        self.corrections = 0


class Recorder:
    """Appends the minutes of accepted and refilled readings to ``root/<meter folder>/<UTC day>.csv``.

    :meth:`record` queues (no I/O), :meth:`flush` writes; one thread only (the agent's worker)."""

    def __init__(
        self,
        root: Path,
        retention_days: int,
        household: HouseholdTime,
        max_open: int = MAX_OPEN_FILES,
        sync_interval_s: float = SYNC_INTERVAL_S,
    ) -> None:
        if retention_days < 1:
            raise ValueError(f"record_days must be at least 1, got {retention_days}")
        self.root = Path(root)
        self.retention_days = retention_days
        self._household = household
        self._max_open = max_open
        self._sync_interval_s = sync_interval_s
        self.counters: Counter[str] = Counter({k: 0 for k in COUNTERS})
        self._pending: dict[tuple[str, int], _Pending] = {}  # (meter folder, UTC day) -> its new lines
        self._open: OrderedDict[Path, int] = OrderedDict()  # day file -> fd, least recently written first
        self._unsynced: dict[Path, float] = {}  # day file -> monotonic time of its oldest unsynced write
        self._newest: dict[str, int] = {}  # meter folder -> newest UTC day recorded in it
        self._new_day: set[str] = set()  # meter folders that started a new day since the last flush
        self._described: set[str] = set()  # meter folders whose meter.json this process checked
        self._log = RateLimitedLog(log)
        self._scan()

    # --- queueing --------------------------------------------------------------------------------------------
    def record(self, meter: str, update: StreamUpdate, sent: np.ndarray | None = None) -> None:
        """Queue the minutes an accepted reading added, or the rows a refilled one corrected (as correction lines:
        readers keep the last line of a minute); other outcomes add none. ``sent``, the reading's own values: a
        measurement it sent as null is written empty on its minute, not as the value the stream filled it with."""
        if update.outcome not in (Outcome.ACCEPTED, Outcome.REFILLED) or not len(update.minutes):
            return
        correction = update.outcome is Outcome.REFILLED
        rows = update.rows
        if sent is not None and np.isnan(sent).any():
            rows = rows.copy()
            rows[0 if correction else -1, np.isnan(sent)] = np.nan  # the reading's own minute
        folder = meter_folder(meter)
        days = update.minutes // _MINUTES_PER_DAY
        newest = self._newest.get(folder)
        if newest is None or days[-1] > newest:
            if newest is not None:
                self._new_day.add(folder)
            newest = self._newest[folder] = int(days[-1])
        first_kept = newest - self.retention_days + 1
        wall = self._household.local_minutes(update.minutes)
        expired = 0
        for minute, wall_minute, row, filled, day in zip(
            update.minutes.tolist(), wall.tolist(), rows, update.filled.tolist(), days.tolist()
        ):
            if day < first_kept:
                expired += 1
                continue
            pending = self._pending.get((folder, day))
            if pending is None:
                pending = self._pending[folder, day] = _Pending(meter)
            pending.lines.append(format_line(minute, wall_minute, row, filled))
            pending.corrections += correction
        if expired:
            self.counters["expired"] += expired
            self._log.warning(
                "expired",
                "meter %s: %d minutes before %s, older than the %d days kept, not recorded",
                meter,
                expired,
                _day_name(first_kept),
                self.retention_days,
            )

    # --- writing ---------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Append every touched day file's new lines (one write each), fsync what is due, and apply retention for
        the meters that started a new day."""
        pending, self._pending = self._pending, {}
        for (_, day), lines in pending.items():
            self._append(day_file(self.root, lines.meter, _day_name(day)), lines)
        self._sync(due_only=True)
        for folder in self._new_day:
            self._expire(self.root / folder)
        self._new_day.clear()

    def close(self) -> None:
        """Flush, fsync everything written, close every file (the agent's stop)."""
        self.flush()
        self._sync(due_only=False)
        for path in list(self._open):
            self._close(path)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counters)

    def _append(self, path: Path, pending: _Pending) -> None:
        data = "".join(pending.lines).encode()
        try:
            fd = self._fd(path, pending.meter)
            written = os.write(fd, data)
            if written != len(data):  # a full disk: the next open truncates the torn line
                raise OSError(f"only {written} of {len(data)} bytes written")
        except OSError as exc:
            self._close(path)
            self._error(f"meter {pending.meter}", path, f"could not record {len(pending.lines)} minutes", exc)
            return
        self._unsynced.setdefault(path, time.monotonic())
        self.counters["minutes"] += len(pending.lines)
        self.counters["corrections"] += pending.corrections
        self.counters["bytes"] += written

    def _fd(self, path: Path, meter: str) -> int:
        """The day file's descriptor: open already, or opened (made with its header, or with a torn last line
        truncated), closing the least recently written one past ``max_open``."""
        fd = self._open.get(path)
        if fd is not None:
            self._open.move_to_end(path)
            return fd
        if path.parent.name not in self._described:
            self._describe(path.parent, meter)
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            self._described.discard(path.parent.name)  # the folder was removed meanwhile: made again next time
            raise
        try:
            if self._drop_torn_line(fd, path) == 0:
                self.counters["bytes"] += os.write(fd, HEADER.encode())
        except OSError:
            os.close(fd)
            raise
        while len(self._open) >= self._max_open:
            self._close(next(iter(self._open)))
        self._open[path] = fd
        return fd

    def _describe(self, folder: Path, meter: str) -> None:
        """Make the meter's folder and its meter.json (the meter id as published, which the folder name may only
        be a safe form of, and the time zone of the local times) when missing or different. Not synced: one fsync
        per meter would stall a fleet's first start, and a file a power cut lost is written again at the next."""
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"meter": meter, "timezone": self._household.name}) + "\n"
        meta = folder / METER_FILE
        if not meta.is_file() or meta.read_text() != text:
            write_atomic(meta, text.encode())
        self._described.add(folder.name)

    def _drop_torn_line(self, fd: int, path: Path) -> int:
        """Truncate a last line without its newline (a write torn by a power cut); the file's size after."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        keep, end = 0, size
        while end > 0:
            start = max(0, end - _TAIL_BYTES)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        os.ftruncate(fd, keep)
        self.counters["torn_lines_truncated"] += 1
        log.warning("%s: truncated a last line cut off by a crash or power cut (%d bytes)", path, size - keep)
        return keep

    def _sync(self, due_only: bool) -> None:
        """Sync each file whose oldest unsynced write is ``sync_interval_s`` old (or every one): an open one by
        fsync, those closed since (a fleet of more meters than ``max_open``) all at once by one ``os.sync``, as
        one fsync each could not keep up with thousands of meters."""
        now = time.monotonic()
        closed_due = False
        for path, since in list(self._unsynced.items()):  # oldest first: entries are added as they become unsynced
            if due_only and now - since < self._sync_interval_s:
                break
            del self._unsynced[path]
            fd = self._open.get(path)
            if fd is None:
                closed_due = True
                continue
            try:
                os.fsync(fd)
            except OSError as exc:
                self._error(f"meter folder {path.parent.name}", path, "could not sync", exc)
        if closed_due:
            os.sync()

    def _close(self, path: Path) -> None:
        fd = self._open.pop(path, None)
        if fd is not None:
            os.close(fd)

    def _error(self, who: str, path: Path, what: str, exc: OSError) -> None:
        self.counters["errors"] += 1
        self._log.error("record", "%s: %s in %s: %s (the forecasts go on)", who, what, path, exc)

    # --- retention -------------------------------------------------------------------------------------------
    def _scan(self) -> None:
        """Retention over the meter folders already recorded (their newest day is on disk)."""
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir()] if self.root.exists() else []
            for folder in folders:
                days = [d for d in map(_day_number, os.listdir(folder)) if d is not None]
                if days:
                    self._newest[folder.name] = max(days)
                    self._expire(folder)
        except OSError as exc:
            self._error("recording", self.root, "could not scan the recording for retention", exc)

    def _expire(self, folder: Path) -> None:
        """Delete the folder's day files before the newest ``retention_days`` days (by data time)."""
        first_kept = self._newest[folder.name] - self.retention_days + 1
        deleted = []
        try:
            for name in sorted(os.listdir(folder)):
                day = _day_number(name)
                if day is not None and day < first_kept:
                    path = folder / name
                    self._close(path)
                    self._unsynced.pop(path, None)
                    path.unlink()
                    deleted.append(name)
        except OSError as exc:
            self._error(f"meter folder {folder.name}", folder, "could not apply retention", exc)
        if deleted:
            self.counters["files_deleted"] += len(deleted)
            log.info(
                "recording %s: deleted %d day files (%s .. %s), keeping the %d days from %s",
                folder,
                len(deleted),
                deleted[0],
                deleted[-1],
                self.retention_days,
                _day_name(first_kept),
            )
