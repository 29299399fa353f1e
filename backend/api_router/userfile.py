"""A file of the user's that the app reads and writes while the user may also edit it by hand.

``config.toml`` and ``secrets.json`` both work this way:

- ``reload`` (called by the file watcher) picks up a hand edit once the file has held still between
  two looks (an editor saving in place empties the file, then writes it: what it holds in between is
  not the user's edit); a valid edit is used, an invalid or empty one is reported once while the last
  good version stays in use;
- every change the app makes is applied to the file as it is on disk — a hand edit made meanwhile
  is kept, one saved while the change is being saved too (the change is applied again to it) — and a
  version that cannot be used is moved aside (``.broken-<time>``) as the change is saved, never
  overwritten (a change refused leaves it where it is); one written in the last second is first
  given a moment to become usable (it may be an editor's save caught half done);
- every write is atomic and private (0600).

Subclasses say how bytes become a value (or why they cannot) and how a value becomes bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from api_router.fsutil import (
    ChangedMeanwhile,
    FileStamp,
    aside_path,
    atomic_write,
    file_ctime,
    file_stamp,
    is_read_only,
    link_target,
    look_at,
    move_aside,
    read_file,
    refuse_if_read_only,
)

V = TypeVar("V")

# An unusable version younger than this may be an editor's save under way (emptied, then written).
SAVE_UNDER_WAY_NS = 1_000_000_000
SAVE_WAIT_LIMIT = 3.0  # seconds a change waits at most for such a save to finish
HOLD_STILL_SECONDS = 0.5  # how long a usable version written just now must hold still (the watcher's interval)
SAVE_TRIES = 5  # times a change is applied again to a file saved by hand while the change was being saved


class KeptChanging(ValueError):
    """The file was saved by someone else every time a change was about to be saved on top of it."""


@dataclass(frozen=True, slots=True)
class OnDisk(Generic[V]):
    """The version of a file a change is applied to."""

    value: V
    stamp: FileStamp | None  # of the file it was read from (None: there is no file)
    unusable: str | None = None  # why the file on disk cannot be used (``value`` is then the one in use)


class UserFile(Generic[V]):
    label: ClassVar[str]  # how messages name the file, e.g. "config.toml"
    kept: ClassVar[str]  # what stays in use when a hand edit is invalid, e.g. "settings"

    def __init__(self, path: Path, value: V) -> None:
        self.path = path
        self._value = value
        self._lock = threading.Lock()
        # Held while listeners are told (re-entrant: a listener may change the file in turn).
        self._publish_lock = threading.RLock()
        self._publishing = False
        self._changed_meanwhile = False
        self._stamp = file_stamp(path)
        # The change time of the version in use, as last looked at (None: not yet): a version written into
        # the file with its size and modification time unchanged shows only there (see _rewritten_in_place).
        self._ctime: int | None = None
        # Told of a version before anyone can read it as the one in use (listeners are told after): the
        # redactor, which must know a new key before a request can send it and an answer echo it back.
        self.before_use: Callable[[V], None] = lambda value: None
        self._reported_in_place: tuple[FileStamp | None, str] | None = None  # such a version found unusable, told
        self._settling: FileStamp | None = None  # a new version seen once: used if it is still there next look
        self._reported: FileStamp | None = None  # the invalid version already reported
        self._unreachable: str | None = None  # why the file cannot even be looked at, as already reported
        self._gone_seen = False  # the last look found no file (deleted, or an editor's save under way)
        # A version that cannot be used, left as it was found (read-only at start): the next change reads
        # it again — and keeps it aside — even if only its mode changed since.
        self._left: FileStamp | None = None
        self.on_problem: Callable[[str], None] = lambda message: None
        self.on_notice: Callable[[str], None] = lambda message: None
        # A hand edit is in use (before, after): picked up by the watcher, or by a change made in the app
        # on top of it before the watcher looked — told the same either way.
        self.on_hand_edit: Callable[[V, V], None] = lambda before, after: None
        # Something in a hand edit that names nothing the app uses (a misspelt key): a sentence each.
        self.on_ignored: Callable[[str], None] = lambda message: None

    # --- what a subclass says ----------------------------------------------------------------------

    def _decode(self, raw: bytes) -> V | str:
        """The value in ``raw``, or why it is not usable (a phrase: "does not parse (…)")."""
        raise NotImplementedError

    def _encode(self, value: V) -> bytes:
        raise NotImplementedError

    def _ignored(self, value: V) -> list[str]:
        """What in ``value`` the app does not use, a sentence each (kept in the file all the same)."""
        return []

    def _left_for_next_start(self, before: V, after: V) -> str:
        """What a hand edit from ``before`` to ``after`` changes that only a new start puts in use, as a
        phrase ("": all of it is in use now)."""
        return ""

    def _published(self, value: V) -> None:
        """Tell whoever listens that ``value`` is now in use."""

    def _publish(self) -> None:
        """Tell the listeners what is in use now: one change at a time, and always the newest version,
        so two changes that finish together (an edit in the app, a hand edit picked up by the watcher),
        or a listener that changes the file in turn, cannot leave any of them on an older one."""
        with self._publish_lock:
            if self._publishing:  # a listener changed the file: the round under way starts over
                self._changed_meanwhile = True
                return
            self._publishing = True
            try:
                while True:
                    self._changed_meanwhile = False
                    self._published(self._value)
                    if not self._changed_meanwhile:
                        return
            finally:
                self._publishing = False

    # --- shared behaviour ----------------------------------------------------------------------------

    def reload(self) -> bool:
        """Pick up an edit made to the file by hand; True when the new version is in use."""
        with self._lock:
            looked = look_at(self.path)
            if isinstance(looked, OSError):
                self._settling = None
                self._report_unreachable(looked)
                return False
            self._unreachable, self._gone_seen = None, False
            stamp, ctime = looked
            if stamp == self._stamp:
                self._settling = None
                rewritten = self._rewritten_in_place(ctime)
                if rewritten is None:
                    return False
                before = self._adopt(rewritten)
                return self._told(before, rewritten)
            if stamp != self._settling:  # it may still be being written: look again next time
                self._settling = stamp
                return False
            read = self._read_disk()
            if file_stamp(self.path) != stamp:  # written to while it was read
                return False
            if isinstance(read, str):
                if stamp != self._reported:
                    self._reported = stamp
                    self._edit_unusable(read)
                return False
            unchanged = self._unchanged(read)
            before = self._adopt(read)
            self._stamp, self._reported = stamp, None
            self._ctime = None  # looked at again next time: it may have been written to since the read
        return False if unchanged else self._told(before, read)

    def _adopt(self, value: V) -> V:
        """Make ``value`` the version in use, ``before_use`` told first; the version it replaces. ``_lock`` held."""
        self.before_use(value)
        before, self._value = self._value, value
        return before

    def _told(self, before: V, after: V) -> bool:
        """A hand edit in use: listeners and the user are told. Call without the lock."""
        self._publish()
        self._hand_edit_in_use(before, after)
        return True

    def _rewritten_in_place(self, ctime: int) -> V | None:
        """A usable version other than the one in use, written into the file with its size and
        modification time unchanged — what a file system that keeps whole seconds (FAT, HFS+, some network
        shares) shows of an edit saved in the same second as the app's, or a tool that restores the time
        (``cp -p``): only its change time moved. Read (rarely: a change time moves only with a write, a
        chmod or a rename), and compared. ``ctime``: the file's change time, seen with its stamp. ``_lock``
        held."""
        if ctime == self._ctime:
            return None
        read = self._read_disk()
        if file_ctime(self.path) != ctime:  # written to while it was read: the next look reads it again
            return None
        self._ctime = ctime
        if isinstance(read, str):  # the next change reads it again (same stamp or not), and keeps it aside
            self._left = self._stamp
            if (self._stamp, read) != self._reported_in_place:  # said once, not again at each chmod or touch
                self._reported_in_place = (self._stamp, read)
                self._edit_unusable(read)
            return None
        return None if read == self._value else read  # the same: a chmod, a touch

    def _edit_unusable(self, why: str) -> None:
        self.on_problem(f"{self.label} was edited but {why}; API Router keeps running on the last good "
                        f"{self.kept}. {self._what_to_do()}")

    def _what_to_do(self) -> str:
        """The way out of an unusable version, as the next change made in the app would meet it: one that
        cannot be saved over — a link to something that is not a file, a read-only file — is never moved
        aside (a pipe or a folder in the file's own place is)."""
        if self.path.is_symlink() and not self.path.is_file():
            return "Point the link at a file (or remove it)."
        if is_read_only(self.path):
            return "Fix the file: it is read-only, so API Router leaves it as it is."
        return "Fix the file, or the next change made in the app moves it aside."

    def _report_unreachable(self, exc: OSError) -> None:
        """A file gone is written again (``_gone``); one that cannot even be looked at — a symlink loop made
        of it, a folder it lies in closed to the app — is said once. ``_lock`` held."""
        if isinstance(exc, FileNotFoundError):
            self._gone()
            return
        why = exc.strerror or str(exc)
        if why != self._unreachable:
            self._unreachable = why
            self.on_problem(f"{self.label} cannot be read ({why}); API Router keeps running on the last good "
                            f"{self.kept}. Fix the file (or the link that points to it).")

    def _gone(self) -> None:
        """The file was deleted (or moved away) while the app runs. Gone at two looks in a row (an editor
        that saves by removing the file and writing it anew is done by then), it is written again with the
        version in use, and the user told: the next start would otherwise lose what it holds — the keys,
        the gateway token Codex sends, the providers. ``_lock`` held."""
        if not self._gone_seen:
            self._gone_seen = True
            return
        try:
            self._write(self._value, unless_changed=(None,))
        except ChangedMeanwhile:  # a new version appeared meanwhile: the next look reads it as any edit
            return
        except OSError as exc:
            why = f"was deleted and cannot be written again ({exc.strerror or exc})"
            if why != self._unreachable:
                self._unreachable = why
                self.on_problem(f"{self.label} {why}; API Router keeps running on the {self.kept} in use, which "
                                "the next start will not have unless the file is back. Check that the folder is "
                                "writable and has space.")
            return
        self._unreachable, self._gone_seen = None, False
        self.on_problem(f"{self.label} was deleted while API Router was running; it was written again with the "
                        f"{self.kept} in use. To start over with a new one, quit API Router first.")

    def _hand_edit_in_use(self, before: V, after: V) -> None:
        """Call without the lock, once the listeners know."""
        for message in self._ignored(after):
            self.on_ignored(message)
        later = self._left_for_next_start(before, after)
        except_ = f", except {later}" if later else ""
        self.on_notice(f"{self.label} was edited; the new {self.kept} are in use{except_}")
        self.on_hand_edit(before, after)

    def catch_up(self) -> None:
        """A valid hand edit the watcher has not picked up yet goes into use now, told and followed as the
        watcher would have: called before a change made in the app, which then lands on it in the order
        the two were made. (One that cannot be used is left to ``_save``, which keeps it aside.)"""
        with self._lock:
            looked = look_at(self.path)
            if isinstance(looked, OSError):
                return
            stamp, ctime = looked
            if stamp == self._stamp:
                rewritten = self._rewritten_in_place(ctime)
                if rewritten is None:
                    return
                before = self._adopt(rewritten)
            else:
                settled, read = self._read_settled()
                if isinstance(read, str) or settled is None or file_stamp(self.path) != settled:
                    return
                unchanged = self._unchanged(read)
                before = self._adopt(read)
                self._stamp, self._reported = settled, None
                self._ctime = None
                if unchanged:
                    return
            after = self._value
        self._told(before, after)

    def _unchanged(self, read: V) -> bool:
        """A version read that is the one in use, with no unusable one told since: touched, or put back
        as it was — no edit to tell. (One that mends an unusable version told is said, as any edit.)
        ``_lock`` held."""
        return read == self._value and self._reported is None

    def _read_disk(self) -> V | str:
        try:
            raw = read_file(self.path)
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        # An editor's save caught half done, or a mistake: never "no settings at all" (a byte order mark
        # alone, as some editors start a file, is empty too).
        if not raw.removeprefix(b"\xef\xbb\xbf").strip():
            return "is empty"
        return self._decode(raw)

    def _save(self, change: Callable[[V], V]) -> V:
        """Apply ``change`` to the file as it is on disk and save the result — unless the file was saved
        by hand meanwhile (between our read and our rename): then ``change`` is applied again, to that
        version, so the hand edit is not lost. Call with the lock held."""
        for _ in range(SAVE_TRIES):
            refuse_if_read_only(self.path)  # before anything is kept aside for a change that cannot be saved
            disk = self._on_disk()
            value = change(disk.value)  # a change refused here leaves the file as it is, usable or not
            if disk.stamp is not None and self._same_settings(value, disk.value):
                # Nothing to save (unlock while unlocked, the same order, a value already in effect): the
                # user's file — as they wrote it, or half-finished — stays as it is; an unusable one is kept
                # aside only for a change that replaces it. (A file gone is written again.)
                return value
            try:
                expected, kept = disk.stamp, None
                if disk.unusable is not None:
                    expected, kept = self._keep_aside(disk)
                self._write(value, unless_changed=(expected,))
            except ChangedMeanwhile:
                continue
            if kept is not None:  # said once the change is saved: until then the file was where it was
                self.on_problem(f"{self.label} {disk.unusable}; it was {kept} and the change was saved on top of "
                                f"the last good {self.kept}")
            return value
        raise KeptChanging(f"{self.label} was saved by another program each time API Router was about to save the "
                           "change on top of it; the change was not made: try again")

    def _same_settings(self, a: V, b: V) -> bool:
        """Whether two versions give the same settings (a file may spell them differently)."""
        return a == b

    def _on_disk(self) -> OnDisk[V]:
        """What a change applies to: the file on disk when it changed since we last saw it, else (or
        when it cannot be used) the version in use. Call with the lock held."""
        stamp = file_stamp(self.path)
        if (stamp == self._stamp and stamp != self._left) or stamp is None:
            return OnDisk(self._value, stamp)
        stamp, read = self._read_settled()
        if isinstance(read, str):
            return OnDisk(self._value, stamp, unusable=read)
        return OnDisk(read, stamp)

    def _keep_aside(self, disk: OnDisk[V]) -> tuple[FileStamp | None, str]:
        """The unusable version a change is about to be saved in place of, kept for the user under
        another name (unless someone saved another version meanwhile): copied, so that should the save
        then fail (a full disk) the file is still where it was — or, when it cannot even be read (a
        pipe, a folder, another user's file), moved as it is. Returns the stamp the save expects to
        replace and what was done (for the event)."""
        if disk.stamp is None or file_stamp(self.path) != disk.stamp:
            raise ChangedMeanwhile(str(self.path))
        try:
            data = read_file(self.path)
        except OSError:
            return None, f"moved to {move_aside(self.path).name}"
        kept = aside_path(link_target(self.path))
        atomic_write(kept, data)
        return disk.stamp, f"kept as {kept.name}"

    def _found_empty(self, stamp: FileStamp, ctime: int) -> None:
        """The file was empty at start (``stamp``, ``ctime``: as looked at before it was read) and left so,
        its defaults in use: that version is the one in use, not an edit that emptied it — the watcher's
        first look, which compares change times, must not report it (a version written since has another
        stamp or change time, and is read as any edit is)."""
        self._stamp, self._ctime = stamp, ctime

    def _left_unusable(self) -> None:
        """The file on disk cannot be used and was left as it is (read-only): the next change reads it
        again — and keeps it aside — however it was made writable meanwhile (a chmod changes no stamp);
        control calls and the watcher do not read it again while it stays that version."""
        self._left = self._reported = file_stamp(self.path)
        # The version found at start is not an edit made in place since: the watcher's first look, which
        # compares change times, must not report it again.
        self._ctime = file_ctime(self.path)
        read = self._read_disk()
        if isinstance(read, str):
            self._reported_in_place = (self._stamp, read)

    def _read_settled(self) -> tuple[FileStamp | None, V | str]:
        """The version on disk, and its stamp as it was before the read (the caller may check that it
        still is). One written less than a second ago may be an editor's save caught half done — emptied,
        or cut where it is still valid TOML: one that cannot be used is read again until it is usable or
        has held still for that second, one that can is used once it has held still as long as the file
        watcher waits between two looks (at most ``SAVE_WAIT_LIMIT`` in all), so the user's whole save is
        what a change applies to — not what is moved aside, nor half a file taken for the settings."""
        give_up = time.monotonic() + SAVE_WAIT_LIMIT
        while True:
            stamp = file_stamp(self.path)
            read = self._read_disk()
            if stamp is None or time.monotonic() >= give_up:
                return stamp, read
            if not 0 <= time.time_ns() - stamp[0] < SAVE_UNDER_WAY_NS:  # not written just now (or clock skew)
                if file_stamp(self.path) == stamp:
                    return stamp, read
            elif not isinstance(read, str):
                time.sleep(HOLD_STILL_SECONDS)
                if file_stamp(self.path) == stamp:
                    return stamp, read
                continue
            time.sleep(0.05)

    def _write(self, value: V, *, unless_changed: tuple[FileStamp | None] | None = None) -> None:
        """Save ``value`` and make it the version in use (see ``atomic_write`` for ``unless_changed``).
        Call with the lock held."""
        refuse_if_read_only(self.path)
        self._stamp = atomic_write(self.path, self._encode(value), mode=0o600, unless_changed=unless_changed)
        self._adopt(value)
        self._ctime = None  # the rename moved it: looked at (and read once) at the next look
