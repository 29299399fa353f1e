"""Crash-safe file primitives shared by the config, secrets and store modules."""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# Whether files and folders have owner/group/other modes here (POSIX); on Windows they do not.
HAS_FILE_MODES = os.name == "posix"
# Windows refuses a rename while another program has either file open without delete sharing — an antivirus
# scan of the file just written, the search indexer, a sync client (OneDrive), an editor. Such a hold passes
# in moments: a rename is tried again after each of these pauses (seconds) before it fails.
SHARING_PAUSES: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8) if sys.platform == "win32" else ()


def replace_file(src: Path, dst: Path) -> None:
    """``os.replace``, tried again while Windows says another program holds one of the files."""
    _while_held(functools.partial(os.replace, src, dst))


def _while_held(step: Callable[[], None]) -> None:
    for pause in SHARING_PAUSES:
        try:
            step()
            return
        except PermissionError:
            time.sleep(pause)
    step()


FileStamp = tuple[int, int, int]  # (modification time in ns, size, inode): see file_stamp


class NotAFile(OSError):
    """A pipe, a device or a socket where a user file should be."""


class ChangedMeanwhile(Exception):
    """The file on disk is no longer the version a write was based on (someone saved it meanwhile)."""


def link_target(path: Path) -> Path:
    """Where writing ``path`` goes: a symlink's target (the user linked the file from elsewhere, e.g. a
    dotfiles repository; replacing the link with a file would cut it loose)."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve()
    except RuntimeError:  # a link to itself, or a ring of links (Python before 3.13 says so this way)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` naming the file being written, not our temporary one (or none, as a failed write has)."""
    return type(exc)(exc.errno, exc.strerror, str(path))


def read_file(path: Path) -> bytes:
    """A user file's bytes. Something else under its name (a FIFO, a device) is refused with an
    OSError instead of read: reading a FIFO would wait for a writer forever."""
    # O_NONBLOCK has no effect on a regular file; O_BINARY (Windows) keeps CRLF and 0x1A as they are.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        if os.path.isdir(path):  # Windows refuses to open a folder so, where POSIX opens it
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise NotAFile(errno.EINVAL, "not a regular file", str(path))
    except OSError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        return file.read()


def refuse_pipe(path: Path) -> None:
    """Raise when ``path`` (followed through links) is a FIFO or a socket: opened to write, a FIFO waits for
    a reader for ever. (A device such as /dev/null is a file to write to.)"""
    mode = os.stat(path).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise NotAFile(errno.EINVAL, "not a regular file", str(path))


def atomic_write(path: Path, data: bytes | Iterable[bytes], *, mode: int | None = None,
                 unless_changed: tuple[FileStamp | None] | None = None) -> FileStamp:
    """Replace ``path`` (a symlink's target, which keeps its mode) with ``data`` so that a reader (or a
    crash) sees the old or the new file, never a mix: write a temp file in the same folder, fsync it,
    rename over the target. Returns the new file's stamp, as written — a save by someone else right
    after the rename is not taken for ours. ``unless_changed=(stamp,)``: raise ChangedMeanwhile instead
    of replacing the file when it is no longer that version (None: no file) — a save made since it was
    read is not lost."""
    target = link_target(path)
    if target != path:  # the user's own file, linked in: it keeps the mode they gave it
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            pass
    if not target.parent.is_dir():
        if target != path:  # a link into a folder that is not there (a drive not mounted): not ours to make
            raise FileNotFoundError(errno.ENOENT, f"it links to {target}, whose folder does not exist", str(path))
        # user-data/ deleted while running, a first backup: private like the rest
        private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o600 if mode is None else mode)
    except OSError as exc:
        raise _named(exc, path) from None
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                for piece in (data,) if isinstance(data, bytes) else data:  # pieces: a long export
                    fh.write(piece)
                fh.flush()
                os.fsync(fh.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            written = _stamp(os.stat(tmp))  # a rename keeps the inode, size and modification time
        except OSError as exc:  # a full disk: name the file, which a failed write does not
            raise _named(exc, path) from None
        try:
            if unless_changed is None:
                replace_file(tmp, target)
            else:
                _replace_unless_changed(tmp, target, unless_changed[0], written)
        except ChangedMeanwhile:
            raise ChangedMeanwhile(str(path)) from None
        except OSError as exc:  # e.g. a folder where the file should be
            raise _named(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return written


def _replace_unless_changed(tmp: Path, target: Path, expected: FileStamp | None, ours: FileStamp) -> None:
    """``tmp`` in ``target``'s place only if ``target`` is still the version ``expected`` (None: no file),
    else ChangedMeanwhile and ``target`` as it is. Where the system can do it, the version judged is the
    one actually displaced — a save landing between a look and a rename is not lost: a new file is
    made with a link (which fails if one appeared), a file replaced by swapping the two in one step
    (Linux) and swapping back if the one taken out is not the one expected."""
    if expected is None:
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise ChangedMeanwhile(str(target)) from None
        except OSError:  # no hard links here (some filesystems): look, then rename
            if file_stamp(target) is not None:
                raise ChangedMeanwhile(str(target)) from None
            replace_file(tmp, target)
            return
        try:  # (the file just written is what a scan holds on Windows)
            _while_held(tmp.unlink)
        except OSError as exc:  # the save is in place: a second name left behind is no failed save
            log.warning("%s is saved; its temporary name %s could not be removed: %s", target, tmp.name, exc)
        return
    try:
        swapped = _exchange(tmp, target)
    except FileNotFoundError:  # deleted since it was read
        raise ChangedMeanwhile(str(target)) from None
    if not swapped:
        if file_stamp(target) != expected:
            raise ChangedMeanwhile(str(target))
        replace_file(tmp, target)
        return
    if file_stamp(tmp) == expected:
        tmp.unlink()
        return
    if file_stamp(target) == ours:  # theirs goes back (unless yet another save came in between)
        _exchange(tmp, target)
    raise ChangedMeanwhile(str(target))


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


@functools.cache
def _renameat2() -> Callable[[bytes, bytes, int], int] | None:
    """glibc's renameat2 (Linux 3.15+; Python has no wrapper) as ``(old, new, flags) -> errno`` (0: done),
    or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only when a save races another: about 0.4 MB an idle gateway need not carry

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # another C library, or an old glibc
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    call.restype = ctypes.c_int

    def rename(old: bytes, new: bytes, flags: int) -> int:
        return 0 if call(_AT_FDCWD, old, _AT_FDCWD, new, flags) == 0 else ctypes.get_errno()

    return rename


def _exchange(a: Path, b: Path) -> bool:
    """Swap two files in one step; False where that cannot be done (no renameat2, or a filesystem
    without the exchange)."""
    rename = _renameat2()
    if rename is None:
        return False
    err = rename(os.fsencode(a), os.fsencode(b), _RENAME_EXCHANGE)
    if err == 0:
        return True
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def aside_path(path: Path, label: str = "broken") -> Path:
    """A free sibling name like ``config.toml.broken-20261124-101500``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.{label}-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{label}-{stamp}-{n}")
    return candidate


def move_aside(path: Path, label: str = "broken") -> Path:
    """Rename a file we could not use so it is kept for the user but no longer in the way (and
    owner-only, like every file of ours: it may hold keys). Behind a symlink, the file it points to is
    moved (next to itself): the link stays, and the next write through it puts a file back there."""
    linked = link_target(path)
    if linked != path and not stat.S_ISREG(os.stat(linked).st_mode):
        # A link to a folder or a device (/dev/null) is no file of ours gone bad: theirs stays where it is.
        raise NotAFile(errno.EINVAL, f"it links to {linked}, which is not a file: point the link at a file, "
                                     "or remove it", str(path))
    target = aside_path(linked, label)
    replace_file(linked, target)
    tighten(target, 0o700 if target.is_dir() else 0o600)  # a folder where the file should be stays openable
    return target


def check_writable(folder: Path) -> None:
    """Raise the OSError (naming ``folder``) that writing a file there would raise: a read-only
    folder is found at start-up, not by the first change the user makes."""
    probe = folder / f".write-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(folder)) from None


def copy_aside(path: Path, label: str = "broken") -> Path:
    """Keep a copy of a file we will keep using in place (e.g. a config with one bad value); behind a
    symlink, next to the file it points to (as ``move_aside``)."""
    path = link_target(path)
    target = aside_path(path, label)
    atomic_write(target, read_file(path))
    return target


def remove_stale_temp_files(path: Path) -> None:
    """Temp files left by a crash mid-write of ``path`` are garbage: the file was never replaced. They
    are next to what a write goes to (a symlink's target; a link that loops is written nowhere, and
    what its own name leaves is looked for)."""
    try:
        target = link_target(path)
    except OSError:
        target = path
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


class ReadOnlyFile(PermissionError):
    """A file the user made read-only, which the app therefore does not replace."""


def cannot_write(exc: OSError) -> str:
    """A file that could not be written, as a person reads it ("cannot write /x/auth.json: Permission
    denied"), not Python's "[Errno 13] Permission denied: '/x/auth.json'"."""
    why = exc.strerror or type(exc).__name__
    return f"cannot write {exc.filename}: {why}" if exc.filename else why


def made_read_only(mode: int) -> bool:
    """Whether a file's mode says the user made it read-only (no write bit for anyone; on Windows, its
    read-only attribute): replacing it would change what they protected and undo the protection — for
    root too, whom modes do not stop."""
    return stat.S_ISREG(mode) and not mode & 0o222


def is_read_only(path: Path) -> bool:
    """Whether the user made the file at ``path`` read-only (see ``made_read_only``)."""
    try:
        return made_read_only(path.stat().st_mode)
    except FileNotFoundError:
        return False


def refuse_if_read_only(path: Path) -> None:
    """Raise ReadOnlyFile (naming ``path``) when ``made_read_only`` says so of it."""
    if is_read_only(path):
        raise ReadOnlyFile(errno.EACCES, "read-only", str(path))


def tighten(path: Path, mode: int = 0o600) -> None:
    """Owner-only access for a file (or, with 0o700, a folder) that exists, where the OS has modes.
    Only takes permissions away: a folder the user made read-only stays read-only (and start-up says
    it cannot write there) rather than being quietly made writable. A symlink, and what it points to,
    are left as they are: the target is the user's own file, kept where and how they keep it."""
    if not HAS_FILE_MODES or path.is_symlink():
        return
    try:
        current = path.stat().st_mode & 0o777
        if current & ~mode:
            os.chmod(path, current & mode)
    except OSError:  # gone, or another user's: best effort, never a reason to stop
        pass


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents, each owner-only (``mkdir(parents=True)`` would make the
    parents with the umask's mode: user-data/ deleted while the app runs, then data/ made in it)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True, mode=0o700)
    tighten(path, 0o700)
    return path


def tighten_tree(root: Path, limit: int = 10_000) -> None:
    """Owner-only access for everything under ``root`` (files 0600, folders 0700, symlinks left as they
    are): what an older version or a hand copy left readable — a secrets.json moved aside still holds
    keys. At most ``limit`` entries, so a folder someone filled with other things cannot stall start-up."""
    if not HAS_FILE_MODES:
        return
    seen = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if not path.is_symlink():
                tighten(path, 0o700 if name in dirs else 0o600)
            seen += 1
            if seen >= limit:
                return


def create_private_file(path: Path) -> None:
    """Create an empty owner-only file if it does not exist, so that whoever opens it later (SQLite,
    a log handler) keeps that mode instead of the process umask's. Where the OS has no such modes the
    file is created all the same: callers go on to look at what is there."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        tighten(path)



def file_stamp(path: Path) -> FileStamp | None:
    """What changes when a file is replaced or rewritten (None: it is not there)."""
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def file_ctime(path: Path) -> int | None:
    """When the file (its content, mode or name) last changed, in ns (None: it is not there). Not part of
    the stamp: a rename moves it, and ``atomic_write`` judges versions across renames."""
    try:
        return os.stat(path).st_ctime_ns
    except OSError:
        return None


def look_at(path: Path) -> tuple[FileStamp, int] | OSError:
    """A file's stamp and change time (``file_ctime``) from one look, or why it could not be looked at
    (missing, a symlink loop, a folder closed)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc
    return _stamp(st), st.st_ctime_ns


def _stamp(st: os.stat_result) -> FileStamp:
    return (st.st_mtime_ns, st.st_size, st.st_ino)
