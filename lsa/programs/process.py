"""The sandbox's process management in the parent: thread pools capped while children are forked,
killing and reaping a child's process group, and what a child's wait status means.
"""
from __future__ import annotations

import os
import signal
import time

from threadpoolctl import ThreadpoolController

_THREADPOOLS = None


def single_threaded():
    """Every BLAS/OpenMP pool at one thread while children are forked (they inherit it: a child may
    not create threads, and parallel children must not oversubscribe the cores); restored after.
    Setting it once in the parent costs microseconds, in each child milliseconds."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        try:
            _THREADPOOLS = ThreadpoolController()
        except Exception:                     # noqa: BLE001 - threadpoolctl confused: cap nothing
            _THREADPOOLS = False
    if not _THREADPOOLS:
        return None
    try:
        return _THREADPOOLS.limit(limits=1)
    except Exception:                         # noqa: BLE001
        return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def kill(pid: int) -> None:
    for killer in (os.killpg, os.kill):
        try:
            killer(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def reap(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def finish(job) -> tuple[int, bool]:
    """Kill the child's group and reap it without blocking the loop for long; return (wait status,
    whether the child was still running when we killed it)."""
    settle = time.monotonic() + (0.02 if job.eof and job.done_at is None else 0.0)
    while True:                                # a crashed child closes its pipe just before it exits
        try:
            pid, status = os.waitpid(job.pid, os.WNOHANG)
        except ChildProcessError:
            return 0, False
        if pid:
            kill(job.pid)                     # stragglers in its group, if any
            return status, False
        if time.monotonic() >= settle:
            break
        time.sleep(0.001)
    kill(job.pid)
    return reap(job.pid), True


def unfinished(job, wait_status: int, was_running: bool) -> tuple[str, str]:
    """Status of a child that sent no final report: killed at the deadline, or crashed."""
    if not job.eof:
        if job.ready_at is None:
            return "timeout", f"killed after the {job.timeout_s:g} s timeout while the program was being checked and compiled"
        return "timeout", f"killed after the {job.timeout_s:g} s timeout"
    if was_running:
        return "error", "the program closed its result channel without a result"
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if sig == signal.SIGXCPU:
            return "timeout", "killed at the CPU-time limit"
        if sig == signal.SIGKILL:             # not ours (it had exited before we looked): the OOM killer
            return "memory", "killed by SIGKILL (out of memory)"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return "error", f"the program crashed ({name})"
    return "error", "the program exited without a result"


__all__ = ["finish", "kill", "reap", "single_threaded", "unfinished", "usable_cores"]
