"""The sandboxed child (docs/sandbox.md): after the fork it takes its own session, keeps only the result
channel, confines itself (`oslayer`), runs the program in its namespace and reports through the channel.
"""
from __future__ import annotations

import builtins
import dis
import fcntl
import gc
import math
import os
import resource
import signal

import numpy as np

from lsa.programs import oslayer
from lsa.programs.channel import STDOUT_CAP_BYTES, ChildChannel
from lsa.programs.checks import CappedOutput, ProgramRejected, compile_program, program_namespace
from lsa.programs.primitives import NetView
from lsa.programs.repair import repair_assignment


# ------------------------------------------------------------------------------------------------
class _ChildAnytime:
    """`net.time_left()` / `net.offer()` inside the child: the deadline the parent set (monotonic
    clock, read through a reference bound before the program runs) and the channel."""

    def __init__(self, deadline: float, channel: ChildChannel, view: NetView):
        self.deadline = deadline
        self._channel = channel
        self._view = view

    def offer(self, assignment) -> None:
        self._channel.offer(self._view._assignment(assignment))


def run_child(job, wfd: int, parent_pid: int) -> None:
    """Runs in the forked child: confine it, run the program, report through the channel; never returns.
    `job` carries net, source, seed, timeout_s, memory_mb, deadline, restricted and extra_namespace."""
    channel = None
    try:
        gc.freeze()                           # inherited objects are never finalised here
        os.setsid()
        if wfd < 3:                           # keep the pipe clear of the stdio slots
            wfd = fcntl.fcntl(wfd, fcntl.F_DUPFD, 3)
        if wfd != 3:
            os.dup2(wfd, 3, inheritable=False)
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        os.closerange(4, max(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        channel = ChildChannel(3, job.net.N)
        view = NetView(job.net)
        view._anytime = _ChildAnytime(job.deadline, channel, view)
        view._start = job.incumbent
        rng = np.random.default_rng(job.seed)
        output = CappedOutput(STDOUT_CAP_BYTES)
        if job.restricted:
            namespace = program_namespace(output)
        else:                                 # tests of the OS layer: a program that escaped
            namespace = {"__builtins__": builtins, "__name__": "program", "np": np, "math": math}
        namespace.update(job.extra_namespace or {})
        mask = oslayer.confine(job.memory_mb, job.timeout_s, parent_pid)
        try:                                  # compiled here: inside the limits and the parent's deadline
            code, nodes = _compile(job.source, job.restricted)
        except ProgramRejected as exc:
            channel.done("rejected", str(exc), reason=exc.reason)
            return
        channel.ready(mask)
        try:
            exec(code, namespace)
            assign = namespace.get("assign")
            if not callable(assign):
                raise TypeError("the program does not define a function `assign`")
            raw = assign(view, rng)
            assignment, repairs = repair_assignment(raw, job.net.N, job.net.K)
            del raw
            channel.done("ok", stdout=output.text(), stdout_bytes=output.total, repairs=repairs,
                         assignment=assignment, ast_nodes=nodes)
        except MemoryError as exc:
            if _raised_by_program(exc):       # `raise MemoryError`: an error like any other
                channel.done("error", _describe(exc), output.text(), output.total, ast_nodes=nodes)
            else:
                channel.done("memory", "MemoryError: the program exceeded its memory cap", output.text(),
                             output.total, ast_nodes=nodes)
        except RecursionError:
            channel.done("error", "RecursionError: maximum recursion depth exceeded", output.text(), output.total,
                         ast_nodes=nodes)
        except BaseException as exc:          # noqa: BLE001 - anything the program raises
            channel.done("error", _describe(exc), output.text(), output.total, ast_nodes=nodes)
    except MemoryError:
        _try_done(channel, "memory", "MemoryError while setting up the program")
    except BaseException as exc:              # noqa: BLE001
        _try_done(channel, "error", f"sandbox setup failed: {_describe(exc)}")
    finally:
        os._exit(0)


def _compile(source: str, restricted: bool):
    """(code, AST node count): the restricted compilation, or (tests of the OS layer) plain `compile`."""
    if restricted:
        return compile_program(source)
    try:
        return compile(source, "<program>", "exec"), 0
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ProgramRejected(f"program rejected: {exc}", "syntax") from None


_RAISE_OPCODES = frozenset(dis.opmap[name] for name in ("RAISE_VARARGS", "RERAISE") if name in dis.opmap)


def _raised_by_program(exc: BaseException) -> bool:
    """True when the innermost frame of `exc` is program code at a `raise` statement (the program
    raised or re-raised it), False when an allocation failed inside numpy or Python."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if code.co_filename != "<program>" or tb.tb_lasti < 0:
        return False
    return code.co_code[tb.tb_lasti] in _RAISE_OPCODES


def _try_done(channel, status, error) -> None:
    try:
        if channel is not None:
            channel.done(status, error)
    except BaseException:                     # noqa: BLE001 - nothing more can be reported
        pass


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)[:1000]
    except BaseException:                     # noqa: BLE001
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["run_child"]
