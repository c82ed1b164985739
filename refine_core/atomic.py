"""Write a file so that nobody ever sees half of it: every file refine_core writes
(interchange files, worker files, checkpoints, the data cache, bench --write,
the tuned filter parameters) and the batch report go through here; the
docs' plots (`--plot`) do not.

The content goes to a hidden temporary sibling (same folder, so the final
``os.replace`` is a rename on one file system), is flushed to disk, then
replaces the destination: readers see the old file or the whole new one. On
any error the temporary file is removed and the destination is untouched.
"""
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

from .errors import BadInputError


def temp_sibling(final, keep_suffix: bool = False) -> Path:
    """A hidden, unique temporary name beside ``final``.

    ``keep_suffix``: end with ``final``'s suffix (Blender saves only ``.blend``
    names); otherwise end with ``.tmp`` so globs for the real suffix skip it.
    """
    final = Path(final)
    tag = uuid.uuid4().hex[:8]
    if keep_suffix:
        return final.with_name(f".{final.stem}.{tag}.tmp{final.suffix}")
    return final.with_name(f".{final.name}.{tag}.tmp")


def remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_write(path, text: bool = False):
    """``with atomic_write(path) as f: ...`` writes ``path`` all at once or not at all.

    Errors are BadInputError naming ``path``: "cannot write to folder ..." when
    the temporary file cannot be created there, "cannot write the file ..."
    when writing or renaming fails. Other exceptions pass through unchanged.
    """
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        # Exclusive create; mode 0o666 leaves the final permissions to the umask, as open() would.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise BadInputError(path, f"cannot write to folder {path.parent} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w" if text else "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise BadInputError(path, f"cannot write the file ({exc.strerror or exc})") from None
        raise
