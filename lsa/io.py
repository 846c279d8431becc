"""One atomic writer used everywhere: results, instances, logs and sidecars are written to a temp
file beside the target and renamed onto it only on success, so nothing is ever half-written.

Only regular files are written: an existing target that is a directory, a device, a FIFO or a
socket is refused (renaming onto `/dev/null` would replace the device node). Folders are created
only when the file is written, never while arguments are still being checked.
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

#: what a target that exists but is not a regular file is called in the error
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _error(message: str):
    from lsa.errors import LSAError
    return LSAError(message)


def check_target(path: str | Path) -> Path:
    """`path` (following links) does not exist or is a regular file; otherwise an `LSAError`
    naming what it is."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        if exc.errno == getattr(os, "ENAMETOOLONG", 36):
            raise _error(f"output path {path}: file name too long") from None
        return path                          # e.g. a component is not a directory: the write will say
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _error(f"output path {path} is {kind}; lsa writes only regular files")
    return path


def _temp_prefix(path: Path) -> str:
    """`.NAME.` when a temp name built on it (plus 8 random characters and `.part`) still fits the
    file system's name limit, else a short `.lsa.`: a target name that fits gets a temp name that fits."""
    try:
        limit = os.pathconf(path.parent if str(path.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    prefix = f".{path.name}."
    return prefix if len(os.fsencode(prefix)) + 8 + len(".part") + len(".probe") <= limit else ".lsa."


class atomic_path:
    """Context manager yielding a temp path beside `path`; renamed onto `path` only on success."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        check_target(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(self.path), suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                check_target(self.path)      # not replaced by a device or a FIFO meanwhile
                os.replace(self.tmp, self.path)
            except BaseException:
                self.tmp.unlink(missing_ok=True)
                raise
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def write_json(path: str | Path, obj) -> Path:
    """Write `obj` as indented JSON to `path` atomically."""
    return write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def check_writable(path: str | Path) -> Path:
    """Fail early (an `LSAError` naming the path) when `path` cannot be written: it exists and is not
    a regular file (a directory, a device, a FIFO, a socket), a component of its folder is not a
    folder, or the nearest existing folder cannot be written to. Creates nothing: folders are made
    when the file is written (`atomic_path`), after every argument has been checked."""
    path = Path(path)
    check_target(path)
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists():
        if folder.is_symlink():
            raise _error(f"output path {path}: {folder} is a dangling link")
        folder = folder.parent
    if not folder.is_dir():
        raise _error(f"output path {path}: {folder} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _error(f"output path {path} is not writable ({exc.strerror or type(exc).__name__})") from None
    return path
