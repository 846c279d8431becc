"""One atomic writer used everywhere: results, instances, logs and sidecars are written to a temp
file beside the target and renamed onto it only on success, so nothing is ever half-written.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class atomic_path:
    """Context manager yielding a temp path beside `path`; renamed onto `path` only on success."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
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
    """Fail early (an `LSAError` naming the path) when `path` cannot be written: it is a directory,
    or its directory cannot be created or written to. Creates the directory; writes nothing else."""
    from lsa.errors import LSAError

    path = Path(path)
    if path.is_dir():
        raise LSAError(f"output path {path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LSAError(f"output path {path} is not writable ({exc.strerror or type(exc).__name__})") from None
    return path
