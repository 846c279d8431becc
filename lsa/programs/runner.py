"""Running untrusted generated programs (docs/sandbox.md): one forked, confined child per program, polled,
killed at its deadline; the parent measures time, validates and scores everything itself.

Layers, outermost first: the parent trusts nothing the child says (its clock, length-checked int
frames, its own scoring, see `channel`); the OS layer in the child (`oslayer`: rlimits, uid drop,
namespaces, no-new-privs, Landlock, seccomp, parent-death signal, wiped environment); its own session
so the whole group is SIGKILLed at the deadline; and the language layer (`checks`: RestrictedPython
with guards, `facade`: the allow-listed namespace). Programs may stream incumbents (`net.offer`).
"""
from __future__ import annotations

import math
import os
import select
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lsa.engine import warm
from lsa.errors import LSAError
from lsa.programs import oslayer
from lsa.programs.channel import (
    ASSIGNMENT,
    DONE,
    OFFER,
    READY,
    STDOUT_CAP_BYTES,
    FrameReader,
    ProtocolError,
    decode_assignment,
    decode_done,
    decode_ready,
    finite_or_none,
)
from lsa.programs.checks import SOURCE_CAP_CHARS, ProgramRejected
from lsa.programs.child import run_child
from lsa.programs.primitives import prepare
from lsa.programs.process import finish, kill, reap, single_threaded, unfinished, usable_cores
from lsa.programs.result import ExecResult, rejected
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate

STATUSES = ("ok", "timeout", "rejected", "error", "memory")
#: the parent spends at most this share of a program's elapsed time (plus OFFER_SCORING_FREE_S)
#: scoring its offers; faster offers are coalesced (the latest one is scored at the end)
OFFER_SCORING_SHARE = 0.25
OFFER_SCORING_FREE_S = 0.02
_READ_CHUNK = 1 << 20

__all__ = ["ExecResult", "ProgramRejected", "STATUSES", "STDOUT_CAP_BYTES", "prepare_sandbox", "run_program",
           "run_programs"]


# ------------------------------------------------------------------------------------------------
# the parent
# ------------------------------------------------------------------------------------------------
@dataclass
class _Job:
    index: int
    net: Network
    source: str                               # checked and compiled in the child, inside its limits
    seed: int
    timeout_s: float
    memory_mb: int
    ast_nodes: int = 0
    restricted: bool = True
    extra_namespace: dict | None = None
    incumbent: np.ndarray | None = field(default=None, repr=False)   # what net.start() returns
    pid: int = 0
    rfd: int = -1
    start: float = 0.0
    deadline: float = 0.0
    reader: FrameReader | None = None
    ready_at: float | None = None
    done_at: float | None = None
    layers: int = 0
    diag: dict | None = None
    final_payload: bytes | None = None
    violation: str = ""
    eof: bool = False
    offers: int = 0
    first_offer_at: float | None = None
    best: tuple | None = None                 # (assignment, utility)
    last_offer: bytes = b""
    pending_offer: bytes | None = None
    scoring_s: float = 0.0                    # reading, parsing and scoring offers (not on_offer)
    callback_s: float = 0.0                   # time spent in on_offer (the caller's, not counted)
    paused_until: float | None = None         # reading paused: offers over the scoring budget
    final_utility: float | None = None
    final_assignment: np.ndarray | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.eof or bool(self.violation) or self.done_at is not None


def run_program(source: str, net: Network, timeout_s: float = 2.0, seed: int = 0, memory_mb: int = 1024,
                on_offer: Callable | None = None, start: np.ndarray | None = None) -> ExecResult:
    """Check and run one program on `net` in a sandboxed child; never raises for program faults."""
    return run_programs([source], net, timeout_s=timeout_s, seeds=[seed], workers=1, memory_mb=memory_mb,
                        on_offer=on_offer, starts=[start])[0]


def run_programs(sources: list[str], nets: Network | list[Network], timeout_s: float = 2.0,
                 seeds: list[int] | int | None = None, workers: int | None = None, memory_mb: int = 1024,
                 compute_utility: bool = True, on_offer: Callable | None = None,
                 starts: list | None = None) -> list[ExecResult]:
    """Run many programs, up to `workers` (default: usable cores) at a time, each with the same
    guarantees as `run_program`; results come back in the order of `sources`. `nets` is one instance
    for all programs or one per program; `seeds` likewise (default 0). `on_offer(index, assignment,
    utility)` is called in the parent for every offer scored before its program's deadline.
    `starts`: per program, the incumbent its `net.start()` returns (None: the greedy assignment)."""
    return _run(sources, nets, timeout_s, seeds, workers, memory_mb, compute_utility, on_offer=on_offer,
                starts=starts)


def _check_starts(starts, nets: list[Network]) -> list:
    if starts is None:
        return [None] * len(nets)
    starts = list(starts)
    if len(starts) != len(nets):
        raise LSAError(f"run_programs: {len(nets)} programs but {len(starts)} starts")
    out = []
    for start, net in zip(starts, nets):
        if start is not None:
            start = np.asarray(start)
            if start.shape != (net.N,) or start.dtype.kind not in "iu" or (start.min() < 0 or start.max() >= net.K):
                raise LSAError(f"run_programs: a start must be {net.N} channels in [0, {net.K})")
            start = start.astype(np.int64)
        out.append(start)
    return out


def _run(sources, nets, timeout_s=2.0, seeds=None, workers=None, memory_mb=1024, compute_utility=True,
         checked=True, extra_namespace=None, on_offer=None, starts=None) -> list[ExecResult]:
    """`run_programs`; `checked=False` (with `extra_namespace`) runs a program unrestricted, with real
    builtins: only for tests that the OS layer holds when the language layer is bypassed."""
    sources = list(sources)
    n = len(sources)
    net_list = [nets] * n if isinstance(nets, Network) else list(nets)
    if len(net_list) != n or not all(isinstance(x, Network) for x in net_list):
        raise LSAError(f"run_programs: {n} programs need 1 or {n} Network instances")
    if seeds is None or isinstance(seeds, (int, np.integer)):
        seed_list = [int(seeds or 0)] * n
    else:
        seed_list = [int(s) for s in seeds]
        if len(seed_list) != n:
            raise LSAError(f"run_programs: {n} programs but {len(seed_list)} seeds")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not (
            math.isfinite(timeout_s) and 0 < timeout_s <= 3600):
        raise LSAError(f"timeout must be seconds in (0, 3600], got {timeout_s}")
    if isinstance(memory_mb, bool) or not (isinstance(memory_mb, (int, np.integer)) and 16 <= memory_mb <= 1 << 20):
        raise LSAError(f"memory_mb must be an integer in [16, {1 << 20}], got {memory_mb}")
    workers = max(1, int(workers or usable_cores()))
    start_list = _check_starts(starts, net_list)

    results: list[ExecResult | None] = [None] * n
    pending: list[_Job] = []
    for index, (source, net, seed) in enumerate(zip(sources, net_list, seed_list)):
        if not isinstance(source, str):
            results[index] = rejected(f"program rejected: source must be a str, got {type(source).__name__}", "syntax")
        elif len(source) > SOURCE_CAP_CHARS:
            results[index] = rejected(f"program rejected: source is {len(source)} characters, over the "
                                      f"{SOURCE_CAP_CHARS} limit", "syntax")
        else:                                 # parsed and compiled in the child, within its timeout
            pending.append(_Job(index, net, source, seed, float(timeout_s), int(memory_mb), 0, checked,
                                extra_namespace, start_list[index]))
    if pending:
        _prepare_parent({id(job.net): job.net for job in pending}.values())
    limits = single_threaded() if pending else None

    running: dict[int, _Job] = {}             # read fd -> job
    poller = select.poll()
    try:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop(0)
                try:
                    _start(job)
                except OSError as exc:        # fork failed (EAGAIN, ENOMEM): report, carry on
                    results[job.index] = ExecResult("error", None, None, 0.0, False, {},
                                                    f"could not start the sandbox process: {exc}", job.ast_nodes, 0)
                    continue
                running[job.rfd] = job
                poller.register(job.rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
            if not running:
                continue
            now = time.monotonic()
            for fd, job in running.items():    # reading resumes once the scoring budget allows
                if job.paused_until is not None and now >= job.paused_until:
                    job.paused_until = None
                    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            wait_s = min(min(j.deadline, j.paused_until or math.inf) for j in running.values()) - now
            for fd, _event in poller.poll(max(0, min(int(math.ceil(wait_s * 1000)), 1000))):
                job = running.get(fd)
                if job is not None and job.paused_until is None:
                    _drain(job, on_offer)
                    if _over_budget(job, time.monotonic()) and not job.finished:
                        job.paused_until = _resume_at(job)
                        poller.unregister(fd)
            now = time.monotonic()
            for fd, job in list(running.items()):
                if not job.finished and now >= job.deadline:
                    _drain(job, on_offer)      # what is already in the pipe arrived in time
                if job.finished or now >= job.deadline:
                    reported = job.done_at is not None and not job.violation
                    if reported:                # it exits by itself: score while its teardown runs
                        kill(job.pid)
                        wait_status, was_running = 0, False
                    else:                       # the wait status tells a crash from a kill
                        wait_status, was_running = finish(job)
                    if job.paused_until is None:
                        poller.unregister(fd)
                    os.close(fd)
                    del running[fd]
                    try:
                        results[job.index] = _result(job, wait_status, was_running, compute_utility, on_offer)
                    finally:                    # on_offer may raise: the child is reaped all the same
                        if reported:
                            reap(job.pid)
    finally:                                   # an exception (on_offer, KeyboardInterrupt): no child left
        if limits is not None:
            limits.restore_original_limits()
        for fd, job in running.items():
            kill(job.pid)
            reap(job.pid)
            try:
                os.close(fd)
            except OSError:
                pass
    return results  # type: ignore[return-value]


def prepare_sandbox(*nets: Network) -> None:
    """Do outside any time budget what the first `run_programs` call would otherwise pay for: the
    instances' indexes, the move engine's compiled kernels (children never JIT) and the seccomp
    filter. Cheap when already done."""
    _prepare_parent(nets)


def _prepare_parent(nets) -> None:
    """Everything a child would otherwise build or compile under its filter happens here, once."""
    for net in nets:
        prepare(net)
    warmup = getattr(warm, "warmup", None)  # the numba move engine: never JIT inside a child
    if callable(warmup):
        warmup()
    oslayer.prepare()


def _start(job: _Job) -> None:
    rfd, wfd = os.pipe()
    job.reader = FrameReader(job.net.N)
    job.start = time.monotonic()
    job.deadline = job.start + job.timeout_s
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:                               # child
        run_child(job, wfd, parent)
    os.close(wfd)
    os.set_blocking(rfd, False)
    job.pid, job.rfd = pid, rfd


def _over_budget(job: _Job, now: float) -> bool:
    """The parent has spent more than its share of the program's elapsed time on its offers."""
    return job.scoring_s > OFFER_SCORING_SHARE * (now - job.start) + OFFER_SCORING_FREE_S


def _resume_at(job: _Job) -> float:
    """When the time spent on this program's offers is back within its share: until then its pipe
    is not read (the child blocks on a full pipe, so a flood of offers slows only the flooder)."""
    return job.start + (job.scoring_s - OFFER_SCORING_FREE_S) / OFFER_SCORING_SHARE


def _drain(job: _Job, on_offer) -> None:
    """Read what the child sent so far and act on every complete frame; the time this takes (less
    the caller's on_offer) counts in the program's offer-scoring budget."""
    t0, scoring0, callback0 = time.monotonic(), job.scoring_s, job.callback_s
    try:
        _drain_frames(job, on_offer)
    finally:
        job.scoring_s = scoring0 + (time.monotonic() - t0) - (job.callback_s - callback0)


def _drain_frames(job: _Job, on_offer) -> None:
    budget = 2 * job.reader.max_frame_bytes()  # bounded work per call: deadlines are checked between
    while budget > 0 and not job.finished:
        try:
            chunk = os.read(job.rfd, min(_READ_CHUNK, budget))
        except BlockingIOError:
            return
        except OSError:
            job.eof = True
            return
        if not chunk:
            job.eof = True
            return
        budget -= len(chunk)
        now = time.monotonic()
        try:
            for kind, payload in job.reader.feed(chunk):
                _on_frame(job, kind, payload, now, on_offer)
                if job.done_at is not None:
                    return
        except ProtocolError as exc:
            job.violation = str(exc)


def _on_frame(job: _Job, kind: bytes, payload: bytes, now: float, on_offer) -> None:
    if kind == READY:
        if job.ready_at is None:
            job.ready_at, job.layers = now, decode_ready(payload)
    elif kind == OFFER:
        if now >= job.deadline or payload == job.last_offer:
            return                             # late, or the same as the last one
        job.last_offer = payload
        if not _over_budget(job, now):
            _score_offer(job, payload, now, on_offer)
        else:
            job.pending_offer = payload        # coalesced: the latest waiting offer is scored at the end
    elif kind == ASSIGNMENT:
        if job.final_payload is not None:
            raise ProtocolError("two final assignments")
        job.final_payload = payload
    elif kind == DONE:
        job.diag = decode_done(payload)
        job.done_at = now


def _score_offer(job: _Job, payload: bytes, arrived: float, on_offer) -> float:
    t0 = time.monotonic()
    assignment = decode_assignment(payload, job.net.N, job.net.K)
    utility = finite_or_none(sum_rate(job.net, assignment))
    job.scoring_s += time.monotonic() - t0
    if utility is None:
        return -math.inf
    job.offers += 1
    if job.first_offer_at is None:
        job.first_offer_at = arrived
    if job.best is None or utility > job.best[1]:
        job.best = (assignment, utility)
    if on_offer is not None:
        t1 = time.monotonic()
        try:
            on_offer(job.index, assignment, utility)
        finally:
            job.callback_s += time.monotonic() - t1
    return utility


def _result(job: _Job, wait_status: int, was_running: bool, compute_utility: bool, on_offer) -> ExecResult:
    end = time.monotonic()
    error, status, assignment, utility, diag = "", None, None, None, job.diag or {}
    try:
        if job.pending_offer is not None and not job.violation:
            _score_offer(job, job.pending_offer, job.deadline, on_offer)
        if job.violation:
            status, error = "error", f"the child broke the result protocol ({job.violation})"
        elif job.done_at is not None:
            status = diag["status"]
            job.ast_nodes = diag["ast_nodes"]
            if status == "rejected":
                error = diag["error"] or "program rejected"
            elif status == "ok":
                if job.final_payload is None:
                    raise ProtocolError("status ok without an assignment")
                assignment = decode_assignment(job.final_payload, job.net.N, job.net.K)
                utility = _score_offer(job, job.final_payload, job.done_at, on_offer)
                if not compute_utility:
                    utility = None
                elif utility == -math.inf:
                    status, error, assignment, utility = "error", "the assignment has no finite utility", None, None
            else:
                error = diag["error"] or "the program failed"
    except ProtocolError as exc:
        status, error, assignment, utility = "error", f"the child broke the result protocol ({exc})", None, None
    if status is None:
        status, error = unfinished(job, wait_status, was_running)
    started = job.ready_at if job.ready_at is not None else job.start
    finished = job.done_at if (job.done_at is not None and status != "timeout") else min(end, job.deadline)
    if status != "ok" or not diag.get("repairs"):
        repairs = {}
    else:
        repairs = dict(diag["repairs"])
    best = job.best or (None, None)
    if job.layers:
        oslayer.warn_if_degraded(job.layers)
    if status == "rejected":
        return rejected(error, diag["reason"], wall_s=end - job.start)
    return ExecResult(
        status, assignment, utility, max(0.0, finished - started), bool(repairs), repairs, error, job.ast_nodes,
        int(diag.get("stdout_bytes", 0)), wall_s=end - job.start, stdout=str(diag.get("stdout", "")),
        best_assignment=best[0], best_utility=best[1], offers=job.offers,
        first_offer_s=None if job.first_offer_at is None else job.first_offer_at - started,
        layers=",".join(oslayer.layer_names(job.layers)))
