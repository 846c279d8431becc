"""Compiling the numba kernels once per machine, not once per process.

Every kernel is `@njit(cache=True)`: numba compiles it on first use and writes the machine code to
its cache (beside the package, or under NUMBA_CACHE_DIR, see lsa/__init__.py); later processes load
it (~0.1-0.3 s instead of ~30 s). Kernels come in groups, each warmed by a function that calls
every kernel of the group with the argument types real runs use (`lsa warmup` runs them all):

  engine   lsa/engine/kernels.py, search_kernels.py, adjacency.py  every method, the sandbox
  network  lsa/sim/network.py (conflict counting)           the metrics of every run, the sandbox
  rl       lsa/rl/features.py                               dqn, ppo

`warm(group, sources, fn)` runs `fn` once per process. A stamp file per group in the cache directory
records what the cache was filled for (kernel sources, numba, Python, CPU). While the stamp is
current, `fn` only loads the cache. Where it is missing or stale (first run, another CPU, edited
kernels, an empty NUMBA_CACHE_DIR), one process compiles under an exclusive lock on
`lsa-kernels.lock` while the others wait for it and then load what it wrote: parallel workflow jobs
compile once, not once each.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from lsa.io import write_text

LOCK_NAME = "lsa-kernels.lock"
_WARM: dict[str, float] = {}
_MACHINE: list | None = None
_HELD = False                                 # this process holds the lock


def cache_dir() -> Path:
    """Where the lock and the stamps live: NUMBA_CACHE_DIR when set, else the package's __pycache__
    (numba then caches beside each kernel module, in the package)."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    return Path(chosen) if chosen else Path(__file__).resolve().parents[1] / "__pycache__"


def _machine() -> list:
    """What numba keys its cache entries on besides the signature: its version, Python's, and the
    target (triple, CPU name, CPU features)."""
    global _MACHINE
    if _MACHINE is None:
        import numba

        try:
            from numba.core.registry import cpu_target

            target = [str(x) for x in cpu_target.target_context.codegen().magic_tuple()]
        except Exception:                     # noqa: BLE001 - numba internals moved: a coarser key
            import platform

            target = [platform.machine(), platform.processor()]
        _MACHINE = [numba.__version__, sys.version.split()[0], *target]
    return _MACHINE


def stamp_key(sources: Iterable[str | Path]) -> dict:
    """The stamp of a group: the machine plus each kernel source's size and modification time
    (numba's own staleness test of a cached kernel)."""
    files = {}
    for src in sources:
        st = os.stat(src)
        files[str(Path(src).resolve())] = [st.st_size, st.st_mtime]
    return {"machine": _machine(), "sources": files}


def stamp_path(group: str) -> Path:
    return cache_dir() / f"lsa-{group}.stamp"


def is_current(group: str, sources: Iterable[str | Path]) -> bool:
    """True when the stamp says this machine's cache holds the group's current kernels."""
    try:
        return json.loads(stamp_path(group).read_text()) == stamp_key(sources)
    except (OSError, ValueError):
        return False


@contextmanager
def _exclusive(path: Path):
    """An exclusive flock on `path` (created if needed), re-entrant within the process (a group's
    warm-up may warm another group: a second flock on a new descriptor would wait for ourselves);
    without a writable cache directory, no lock (numba then cannot cache either)."""
    global _HELD
    if _HELD:
        yield True
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _note("lsa: waiting for another process that is compiling the numba kernels")
            fcntl.flock(fd, fcntl.LOCK_EX)
        _HELD = True
        yield True
    finally:
        _HELD = False
        os.close(fd)                          # closing releases the lock


def _numba_without_scipy() -> None:
    """Import numba's array-math lowering without scipy. At import it tries scipy.linalg.cython_blas
    (0.2-0.4 s: all of scipy.linalg) only to choose, for np.correlate/np.convolve's inner product,
    BLAS or a loop. No kernel of this package uses either; with the import refused numba takes the
    loop and every other BLAS use (np.dot, np.linalg) still imports scipy when it is compiled."""
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        from numba.core.compiler_lock import global_compiler_lock
    except ImportError:                       # numba moved it: numba imports scipy as it likes
        return
    blocked = "scipy.linalg.cython_blas"
    with global_compiler_lock:                # numba imports this module under that lock too
        sys.modules[blocked] = None           # `import` of it raises ImportError, scipy untouched
        try:
            import numba.np.arraymath  # noqa: F401
        finally:
            if blocked in sys.modules and sys.modules[blocked] is None:
                del sys.modules[blocked]


def _note(message: str) -> None:
    """A progress line for a person at a terminal (a minute of silence looks like a hang); nothing
    in pipes, workflows and tests."""
    if sys.stderr is not None and sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def warm(group: str, sources: Iterable[str | Path], fn: Callable[[], object]) -> float:
    """Run `fn` (compile or load the group's kernels) once per process; returns the seconds it took
    (0.0 when already warm). A stale or missing stamp: compile under the lock, then stamp."""
    if group in _WARM:
        return 0.0
    t0 = time.perf_counter()
    _numba_without_scipy()
    sources = [Path(s) for s in sources]
    if is_current(group, sources):
        fn()
    else:
        with _exclusive(cache_dir() / LOCK_NAME) as locked:
            if locked and is_current(group, sources):
                fn()                          # another process compiled while we waited: load it
            else:
                _note(f"lsa: compiling the numba kernels of '{group}' for this machine, once "
                      "(`lsa warmup` does it ahead of time)")
                fn()
                if locked:
                    try:
                        write_text(stamp_path(group), json.dumps(stamp_key(sources)) + "\n")
                    except OSError:
                        pass
    _WARM[group] = time.perf_counter() - t0
    return _WARM[group]


def warm_groups() -> dict[str, float]:
    """The groups warmed in this process, with the seconds each took."""
    return dict(_WARM)
