"""Running untrusted generated programs (SPEC §7): AST allow-list, then one forked child per program
in its own session, with rlimits, restricted builtins and a hard SIGKILL of its group at the deadline.

Layers, outermost first: the parent validates, repairs and scores whatever comes back (it never
trusts the child); the child runs in its own session/process group, is SIGKILLed at the deadline
(SIGTERM handlers are irrelevant), has RLIMIT_AS/CPU/FSIZE/CORE/NPROC set, drops root to `nobody`
when it can, has stdio on /dev/null and no inherited descriptors but its result pipe; the program
sees only restricted builtins, numpy, math and a read-only `NetView`; and the AST allow-list rejects
imports, dunder/private names and attributes, and the file, ctypes and introspection escapes first.
"""
from __future__ import annotations

import ast
import fcntl
import json
import math
import os
import resource
import select
import signal
import struct
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.fft  # noqa: F401  (imported here so that children never import anything)
import numpy.linalg  # noqa: F401
import numpy.random  # noqa: F401

from lsa.errors import LSAError
from lsa.programs.checks import ALLOWED_IMPORTS, ProgramRejected, check_program
from lsa.programs.primitives import NetView, prepare
from lsa.programs.repair import repair_assignment
from lsa.sim.network import Network
from lsa.sim.utility import sum_rate

STATUSES = ("ok", "timeout", "rejected", "error", "memory")
#: captured program output is kept up to this many bytes (the rest is counted, not stored)
STDOUT_CAP_BYTES = 16_384
#: largest result header a child may send (JSON); the payload is exactly N * 8 bytes
HEADER_CAP_BYTES = 65_536
_UNPRIVILEGED_UID = 65534                     # nobody


@dataclass
class ExecResult:
    """Outcome of one program run. `runtime_s` is the program's own time (load + assign call) as
    measured in the child, or the time until the kill for a timeout; `wall_s` is end to end."""

    status: str                               # 'ok' | 'timeout' | 'rejected' | 'error' | 'memory'
    assignment: np.ndarray | None
    utility: float | None
    runtime_s: float
    repaired: bool
    repairs: dict
    error: str
    ast_nodes: int
    stdout_bytes: int
    wall_s: float = 0.0
    stdout: str = ""
    reject_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, include_assignment: bool = False) -> dict:
        out = asdict(self)
        out["assignment"] = (self.assignment.tolist() if include_assignment and self.assignment is not None
                             else None)
        if not include_assignment:
            del out["assignment"]
        return out

    def to_json(self, include_assignment: bool = False) -> str:
        return json.dumps(self.to_dict(include_assignment))


# ------------------------------------------------------------------------------------------------
# the child
# ------------------------------------------------------------------------------------------------
_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord",
    "pow", "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple",
    "zip", "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "FloatingPointError",
    "IndexError", "KeyError", "LookupError", "OverflowError", "RuntimeError", "StopIteration",
    "TypeError", "ValueError", "ZeroDivisionError", "ImportError",
)


class _CappedOutput:
    """`print` for programs: keeps the first STDOUT_CAP_BYTES bytes, counts the rest."""

    def __init__(self):
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0

    def print(self, *args, sep=" ", end="\n", **_ignored):
        text = (" " if sep is None else str(sep)).join(str(a) for a in args) + ("\n" if end is None else str(end))
        size = len(text.encode("utf-8", "replace"))
        self.total += size
        if self.kept < STDOUT_CAP_BYTES:
            piece = text[:STDOUT_CAP_BYTES - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)

    def text(self) -> str:
        return "".join(self.parts)


def _safe_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level or name not in ALLOWED_IMPORTS:
        raise ImportError(f"import of {name!r} is not allowed (numpy and math only)")
    if fromlist:
        return ALLOWED_IMPORTS[name]
    return ALLOWED_IMPORTS[name.split(".")[0]]


def _namespace(output: _CappedOutput) -> dict:
    import builtins

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe["print"] = output.print
    safe["__import__"] = _safe_import
    return {"__builtins__": safe, "__name__": "lsa_program", "np": np, "numpy": np, "math": math}


def _blas_single_thread():
    """Threadpool controller found once in the parent; children set BLAS to one thread (thread
    creation is blocked there by RLIMIT_NPROC, and parallel children must not oversubscribe)."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        try:
            from threadpoolctl import ThreadpoolController

            _THREADPOOLS = ThreadpoolController()
        except Exception:                     # threadpoolctl missing or confused: cap nothing
            _THREADPOOLS = False
    return _THREADPOOLS


_THREADPOOLS = None


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _child(job: "_Job", wfd: int, close_fds: list[int], threadpools) -> None:
    """Runs in the forked child; never returns."""
    header: dict = {"status": "error", "error": "", "runtime_s": 0.0, "repairs": {}, "stdout_bytes": 0,
                    "stdout": ""}
    payload = b""
    try:
        try:
            os.setsid()
        except OSError:
            pass
        if wfd < 3:                           # keep the pipe clear of the stdio slots redirected below
            wfd = fcntl.fcntl(wfd, fcntl.F_DUPFD, 3)
        for fd in close_fds:                  # other children's result pipes, then everything else
            try:
                os.close(fd)
            except OSError:
                pass
        max_fd = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 16)
        os.closerange(3, wfd)
        os.closerange(wfd + 1, max(max_fd, wfd + 1))
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        os.close(devnull)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        view = NetView(job.net)
        rng = np.random.default_rng(job.seed)
        output = _CappedOutput()
        namespace = _namespace(output)
        namespace.update(job.extra_namespace or {})
        if os.geteuid() == 0:                 # root ignores RLIMIT_NPROC: become nobody first
            try:
                os.setgroups([])
                os.setgid(_UNPRIVILEGED_UID)
                os.setuid(_UNPRIVILEGED_UID)
            except OSError:
                pass
        # after the uid change (it must signal every thread) and before RLIMIT_NPROC (which would
        # make OpenBLAS's lazy thread start abort the child)
        if threadpools:
            try:
                threadpools.limit(limits=1, user_api="blas")
            except Exception:                 # noqa: BLE001
                pass
        timeout_cpu = int(math.ceil(job.timeout_s)) + 1
        limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CPU, timeout_cpu)]
        vm = _vm_size_bytes()
        if vm and job.memory_mb:
            limits.append((resource.RLIMIT_AS, vm + int(job.memory_mb) * 1024 * 1024))
        for which, value in limits:
            try:
                hard = value + 1 if which == resource.RLIMIT_CPU else value
                resource.setrlimit(which, (value, hard))
            except (ValueError, OSError):
                pass
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        except (ValueError, OSError):
            pass
        try:
            os.chdir("/")
        except OSError:
            pass
        # the result pipe becomes fd 3 and RLIMIT_NOFILE 4: every descriptor slot is taken, so
        # nothing (not even an escaped program) can open a file or socket from here on
        if wfd != 3:
            os.dup2(wfd, 3)
            os.close(wfd)
            wfd = 3
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (4, 4))
        except (ValueError, OSError):
            pass
        start = time.perf_counter()
        try:
            exec(job.code, namespace)
            assign = namespace.get("assign")
            if not callable(assign):
                raise TypeError("the program does not define a function `assign`")
            raw = assign(view, rng)
            header["runtime_s"] = time.perf_counter() - start
            assignment, repairs = repair_assignment(raw, job.net.N, job.net.K)
            del raw
            payload = np.ascontiguousarray(assignment, dtype="<i8").tobytes()
            header.update(status="ok", repairs=repairs)
        except MemoryError:
            header.update(status="memory", error="MemoryError: the program exceeded its memory cap")
        except RecursionError:
            header.update(error="RecursionError: maximum recursion depth exceeded")
        except BaseException as exc:          # noqa: BLE001 - anything the program raises
            header.update(error=_describe(exc))
        if not header["runtime_s"]:
            header["runtime_s"] = time.perf_counter() - start
        header["stdout_bytes"] = output.total
        header["stdout"] = output.text()[:4096]
    except MemoryError:
        header.update(status="memory", error="MemoryError while setting up the program")
        payload = b""
    except BaseException as exc:              # noqa: BLE001
        header.update(status="error", error=f"sandbox setup failed: {_describe(exc)}")
        payload = b""
    try:
        blob = json.dumps(header, default=str).encode()
        if len(blob) > HEADER_CAP_BYTES - 8:
            header.update(stdout=header["stdout"][:256], error=str(header["error"])[:1000])
            blob = json.dumps(header, default=str).encode()
        data = struct.pack("<Q", len(blob)) + blob + payload
        view_ = memoryview(data)
        while view_:
            written = os.write(wfd, view_)
            view_ = view_[written:]
    except BaseException:                     # noqa: BLE001 - nothing more can be reported
        pass
    finally:
        os._exit(0)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)[:1000]
    except BaseException:                     # noqa: BLE001
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------
# the parent
# ------------------------------------------------------------------------------------------------
@dataclass
class _Job:
    index: int
    net: Network
    code: object
    seed: int
    timeout_s: float
    memory_mb: int
    ast_nodes: int
    extra_namespace: dict | None = None
    pid: int = 0
    rfd: int = -1
    start: float = 0.0
    deadline: float = 0.0
    buffer: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    eof: bool = False
    killed_at_deadline: bool = False


def run_program(source: str, net: Network, timeout_s: float = 2.0, seed: int = 0,
                memory_mb: int = 1024) -> ExecResult:
    """Check and run one program on `net` in a sandboxed child; never raises for program faults."""
    return run_programs([source], net, timeout_s=timeout_s, seeds=[seed], workers=1, memory_mb=memory_mb)[0]


def run_programs(sources: list[str], nets: Network | list[Network], timeout_s: float = 2.0,
                 seeds: list[int] | int | None = None, workers: int | None = None,
                 memory_mb: int = 1024, compute_utility: bool = True) -> list[ExecResult]:
    """Run many programs, up to `workers` (default: usable cores) at a time, each with the same
    guarantees as `run_program`; results come back in the order of `sources`. `nets` is one instance
    for all programs or one per program; `seeds` likewise (default 0)."""
    return _run(sources, nets, timeout_s, seeds, workers, memory_mb, compute_utility)


def _run(sources, nets, timeout_s=2.0, seeds=None, workers=None, memory_mb=1024, compute_utility=True,
         checked=True, extra_namespace=None) -> list[ExecResult]:
    """`run_programs`; `checked=False` and `extra_namespace` exist only for tests of the process-level
    layers (they hand a program what the static checks would refuse, e.g. `os` or `signal`)."""
    sources = list(sources)
    n = len(sources)
    net_list = [nets] * n if isinstance(nets, Network) else list(nets)
    if len(net_list) != n:
        raise LSAError(f"run_programs: {n} programs but {len(net_list)} instances")
    if seeds is None or isinstance(seeds, (int, np.integer)):
        seed_list = [int(seeds or 0)] * n
    else:
        seed_list = [int(s) for s in seeds]
        if len(seed_list) != n:
            raise LSAError(f"run_programs: {n} programs but {len(seed_list)} seeds")
    if not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise LSAError(f"timeout must be a positive number of seconds, got {timeout_s}")
    workers = max(1, int(workers or _usable_cores()))

    results: list[ExecResult | None] = [None] * n
    pending: list[_Job] = []
    for index, (source, net, seed) in enumerate(zip(sources, net_list, seed_list)):
        try:
            nodes = check_program(source) if checked else len(list(ast.walk(ast.parse(source))))
            code = compile(source, "<program>", "exec")
        except ProgramRejected as exc:
            results[index] = ExecResult("rejected", None, None, 0.0, False, {}, str(exc), 0, 0,
                                        reject_reason=exc.reason)
            continue
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            results[index] = ExecResult("rejected", None, None, 0.0, False, {}, f"program rejected: {exc}",
                                        0, 0, reject_reason="syntax")
            continue
        pending.append(_Job(index, net, code, seed, float(timeout_s), int(memory_mb), nodes, extra_namespace))
    for net in {id(job.net): job.net for job in pending}.values():
        prepare(net)
    threadpools = _blas_single_thread() if pending else None

    running: dict[int, _Job] = {}             # read fd -> job
    poller = select.poll()
    try:
        while pending or running:
            while pending and len(running) < workers:
                job = pending.pop(0)
                try:
                    _start(job, running, threadpools)
                except OSError as exc:        # fork failed (EAGAIN, ENOMEM): report, carry on
                    results[job.index] = ExecResult("error", None, None, 0.0, False, {},
                                                    f"could not start the sandbox process: {exc}",
                                                    job.ast_nodes, 0)
                    continue
                running[job.rfd] = job
                poller.register(job.rfd, select.POLLIN | select.POLLHUP | select.POLLERR)
            if not running:
                continue
            now = time.perf_counter()
            wait_ms = max(0, int(math.ceil((min(j.deadline for j in running.values()) - now) * 1000)))
            for fd, _event in poller.poll(min(wait_ms, 1000)):
                job = running.get(fd)
                if job is not None:
                    _drain(job)
            now = time.perf_counter()
            for fd, job in list(running.items()):
                if not (job.eof or job.overflow) and now >= job.deadline:
                    _drain(job)                # a result that arrived just in time still counts
                    job.killed_at_deadline = not (job.eof or job.overflow)
                if job.eof or job.overflow or now >= job.deadline:
                    status = _finish(job)
                    poller.unregister(fd)
                    os.close(fd)
                    del running[fd]
                    results[job.index] = _result(job, status, compute_utility)
    finally:                                   # KeyboardInterrupt or a bug: leave no child behind
        for fd, job in running.items():
            _kill(job.pid)
            _reap(job.pid)
            try:
                os.close(fd)
            except OSError:
                pass
    return results  # type: ignore[return-value]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _start(job: _Job, running: dict, threadpools) -> None:
    rfd, wfd = os.pipe()
    others = [fd for fd in running] + [rfd]
    job.start = time.perf_counter()
    job.deadline = job.start + job.timeout_s
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:                               # child
        _child(job, wfd, others, threadpools)
    os.close(wfd)
    os.set_blocking(rfd, False)
    job.pid, job.rfd = pid, rfd


def _drain(job: _Job) -> None:
    limit = HEADER_CAP_BYTES + 8 * job.net.N + 8
    while True:
        try:
            chunk = os.read(job.rfd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            job.eof = True
            return
        if not chunk:
            job.eof = True
            return
        job.buffer += chunk
        if len(job.buffer) > limit:
            job.overflow = True
            return


def _kill(pid: int) -> None:
    for killer in (os.killpg, os.kill):
        try:
            killer(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def _reap(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _finish(job: _Job) -> int:
    """Make sure the child (and its group) is gone; return its wait status."""
    if job.eof and not job.overflow:
        # the child closes the pipe only by exiting; give it a moment before the kill
        grace = min(job.deadline, time.perf_counter() + 0.5)
        while time.perf_counter() < grace:
            pid, status = os.waitpid(job.pid, os.WNOHANG)
            if pid:
                _kill(job.pid)               # stragglers in its group, if any
                return status
            time.sleep(0.001)
    _kill(job.pid)
    return _reap(job.pid)


def _result(job: _Job, wait_status: int, compute_utility: bool) -> ExecResult:
    try:
        return _interpret(job, wait_status, compute_utility)
    except Exception as exc:                  # noqa: BLE001 - a malformed header from a child
        return ExecResult("error", None, None, time.perf_counter() - job.start, False, {},
                          f"the child returned a malformed result ({type(exc).__name__})", job.ast_nodes, 0,
                          wall_s=time.perf_counter() - job.start)


def _interpret(job: _Job, wait_status: int, compute_utility: bool) -> ExecResult:
    wall = time.perf_counter() - job.start
    base = dict(assignment=None, utility=None, repaired=False, repairs={}, ast_nodes=job.ast_nodes,
                stdout_bytes=0, wall_s=wall)
    if job.overflow:
        return ExecResult("error", runtime_s=wall, error="the program's result exceeded the size limit", **base)
    header, payload = _parse(job.buffer, job.net.N)
    if header is None:
        if job.killed_at_deadline:
            return ExecResult("timeout", runtime_s=job.timeout_s,
                              error=f"killed after the {job.timeout_s:g} s timeout", **base)
        if os.WIFSIGNALED(wait_status):
            sig = os.WTERMSIG(wait_status)
            if sig == signal.SIGXCPU:
                return ExecResult("timeout", runtime_s=wall, error="killed at the CPU-time limit", **base)
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGKILL:          # not ours: the kernel's OOM killer
                return ExecResult("memory", runtime_s=wall, error="killed by SIGKILL (out of memory)", **base)
            return ExecResult("error", runtime_s=wall, error=f"the program crashed ({name})", **base)
        return ExecResult("error", runtime_s=wall, error="the program exited without a result", **base)
    status = header.get("status") if header.get("status") in STATUSES else "error"
    base.update(stdout_bytes=int(header.get("stdout_bytes", 0)), stdout=str(header.get("stdout", ""))[:4096])
    runtime = float(header.get("runtime_s", wall))
    if status != "ok":
        return ExecResult(status, runtime_s=runtime, error=str(header.get("error", ""))[:2000], **base)
    # never trust the child: the payload must be a valid assignment, and we score it ourselves
    assignment = np.frombuffer(payload, dtype="<i8").astype(np.int64) if payload is not None else None
    if assignment is None or assignment.shape != (job.net.N,) or (
            assignment.size and (assignment.min() < 0 or assignment.max() >= job.net.K)):
        return ExecResult("error", runtime_s=runtime, error="the child returned a malformed assignment", **base)
    repairs = header.get("repairs") or {}
    repairs = {str(k): int(v) for k, v in repairs.items()} if isinstance(repairs, dict) else {"unknown": 1}
    base.update(assignment=assignment, repaired=bool(repairs), repairs=repairs,
                utility=sum_rate(job.net, assignment) if compute_utility else None)
    return ExecResult("ok", runtime_s=runtime, error="", **base)


def _parse(buffer: bytearray, N: int):
    if len(buffer) < 8:
        return None, None
    (size,) = struct.unpack("<Q", bytes(buffer[:8]))
    if size > HEADER_CAP_BYTES or len(buffer) < 8 + size:
        return None, None
    try:
        header = json.loads(bytes(buffer[8:8 + size]))
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(header, dict):
        return None, None
    payload = bytes(buffer[8 + size:])
    if header.get("status") == "ok" and len(payload) != 8 * N:
        return {"status": "error", "error": "the child returned a truncated assignment"}, None
    return header, payload


