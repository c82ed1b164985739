"""Write a file so that nobody ever sees half of it: every file refine_core writes
(interchange files, worker files, checkpoints, the data cache, bench --write,
the tuned filter parameters) and the batch report go through here; the
docs' plots (`--plot`) do not.

The content goes to a hidden temporary sibling (same folder, so the final
``os.replace`` is a rename on one file system), is flushed to disk, then
replaces the destination: readers see the old file or the whole new one. On
any error or interruption (an exception, Ctrl-C, the CLI's SIGTERM) the
temporary file is removed and the destination is untouched.

What may be replaced (``check_destination``): nothing, or a regular file.
Anything else at the path is refused with one line and left as it is: a
folder, a device (``-o /dev/null`` run as root would otherwise become a
regular file), a FIFO, a socket, and a symbolic link. Links are refused
rather than written through: ``os.replace`` would replace the link itself,
and following it would write wherever it points, which in a shared or
world-writable folder is wherever someone else aimed it (run as root, any
file on the system). To write to a link's target, give the target's path
(``readlink -f LINK``). Links in the folders above the file are fine.

Temporary names: ``.<name>.<host>-<pid>.<random>.tmp`` (``<host>`` four hex
digits of the machine's name), with ``<name>`` shortened so that the whole
fits the 255 bytes a file name may have. SIGKILL or a power cut leaves the
temporary file behind; the next write to the same destination removes the
ones whose writer is gone (``remove_stale_temps``): written on this machine
by a process that no longer runs, or untouched for a day (another machine's
on a shared folder, a reused pid). A concurrent writer's file is never
touched: its process is alive.
"""
import hashlib
import os
import re
import socket
import stat
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from .errors import BadInputError

NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems
STALE_AFTER_S = 24 * 3600  # a temporary file untouched this long has no writer
_HOST = hashlib.blake2s(socket.gethostname().encode(), digest_size=2).hexdigest()
_PID_DIGITS = 7  # Linux pids go up to 4194304
# What a temporary name adds to the shortened name: "." + "." + host + "-" + pid + "." + tag + ".tmp"
_TEMP_OVERHEAD = 2 + len(_HOST) + 1 + _PID_DIGITS + 1 + 8 + len(".tmp")
_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"))


def _short_stem(name: str, suffix: str) -> str:
    """``name`` cut (at a character boundary) so that its temporary name fits NAME_MAX bytes."""
    room = NAME_MAX - _TEMP_OVERHEAD - len(suffix.encode())
    return name.encode()[:room].decode(errors="ignore")


def _temp_parts(final: Path, keep_suffix: bool):
    suffix = final.suffix if keep_suffix else ""
    stem = final.stem if keep_suffix else final.name
    return _short_stem(stem, suffix), suffix


def temp_sibling(final, keep_suffix: bool = False) -> Path:
    """A hidden, unique temporary name beside ``final`` (see the module doc).

    ``keep_suffix``: end with ``final``'s suffix (Blender saves only ``.blend``
    names); otherwise end with ``.tmp`` so globs for the real suffix skip it.
    """
    final = Path(final)
    stem, suffix = _temp_parts(final, keep_suffix)
    return final.with_name(f".{stem}.{_HOST}-{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # another user's process, or not a pid we can test
        return True
    return True


def remove_stale_temps(final, keep_suffix: bool = False) -> list:
    """Remove the temporary siblings of ``final`` left by writers that are gone.

    Only names of ``temp_sibling``'s pattern for this destination are
    considered, and of those only the ones written on this machine by a
    process that no longer runs, or untouched for ``STALE_AFTER_S``. Returns
    the paths removed; files that cannot be examined or removed are skipped.
    """
    final = Path(final)
    stem, suffix = _temp_parts(final, keep_suffix)
    pattern = re.compile(rf"\.{re.escape(stem)}\.([0-9a-f]{{{len(_HOST)}}})-(\d+)\.[0-9a-f]{{8}}\.tmp{re.escape(suffix)}")
    start = f".{stem}."
    removed = []
    try:
        entries = [e for e in os.scandir(final.parent) if e.name.startswith(start)]  # cheap first: big folders
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        try:
            host, pid = match[1], int(match[2])
            gone = host == _HOST and pid != os.getpid() and not _pid_alive(pid)
            if gone or time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def check_destination(path) -> Path:
    """``path`` as a Path if a file may be written there, else BadInputError.

    Refused, with one line naming ``path``: a name ending in a path separator
    (``-o newdir/``), a name longer than NAME_MAX bytes, a missing folder,
    and anything at the path but a regular file (see the module doc).
    """
    raw = os.fspath(path)
    if not raw:
        raise BadInputError("''", "the output path is empty; give a file name")
    if raw.endswith(tuple(filter(None, (os.sep, os.altsep)))):
        raise BadInputError(raw, "ends with a path separator, which names a folder; give a file name for the output")
    path = Path(raw)
    if len(path.name.encode()) > NAME_MAX:
        raise BadInputError(raw, f"file name is {len(path.name.encode())} bytes long; file systems allow at most {NAME_MAX}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise BadInputError(raw, f"cannot write: folder {folder} does not exist") from None
        return path
    except OSError as exc:
        raise BadInputError(raw, f"cannot write here ({exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise BadInputError(raw, f"is a symbolic link (to {os.readlink(path)}); refusing to replace it: "
                                 "give the path of the file it points to")
    if stat.S_ISDIR(st.st_mode):
        raise BadInputError(raw, "is a folder; give a file name for the output")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "special file")
        raise BadInputError(raw, f"is a {kind}, not a regular file; refusing to replace it")
    return path


@contextmanager
def atomic_write(path, text: bool = False):
    """``with atomic_write(path) as f: ...`` writes ``path`` all at once or not at all.

    Errors are BadInputError naming ``path``: what ``check_destination``
    refuses, "cannot write to folder ..." when the temporary file cannot be
    created there, "cannot write the file ..." when writing or renaming
    fails. Other exceptions pass through unchanged. Temporary files of
    earlier writers to ``path`` that are gone are removed first.
    """
    path = check_destination(path)
    remove_stale_temps(path)
    tmp = temp_sibling(path)
    try:
        try:
            # Exclusive create; mode 0o666 leaves the final permissions to the umask, as open() would.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise BadInputError(path, f"cannot write to folder {path.parent} ({exc.strerror or exc})") from None
        with os.fdopen(fd, "w" if text else "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise BadInputError(path, f"cannot write the file ({exc.strerror or exc})") from None
    finally:
        # Whatever ended the write (error, Ctrl-C, SIGTERM raised by the CLI): no temporary file
        # stays. The name holds this pid and a random tag, so nobody else's file can have it.
        try:
            remove_quietly(tmp)
        except OSError:
            pass
