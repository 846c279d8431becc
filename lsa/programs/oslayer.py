"""The OS layer of the program sandbox (docs/sandbox.md), applied in every forked child before a program runs
and independent of the language layer: rlimits, uid drop, namespaces, no-new-privs, Landlock, seccomp.

`confine()` applies every layer the kernel allows and returns a bit mask of those that took effect;
`explain()` says, for this machine, which layers are active, what each blocks and why one is missing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import math
import os
import resource
import select
import tempfile

try:                                          # pyseccomp needs the system's libseccomp
    import pyseccomp as _seccomp
except (ImportError, RuntimeError, OSError):  # pragma: no cover - depends on the machine
    _seccomp = None

log = logging.getLogger("lsa.programs")

#: layers in bit order; `confine` returns a mask over these
LAYERS = ("rlimits", "uid", "namespaces", "no_new_privs", "landlock", "seccomp", "pdeathsig", "environment")
WHAT_IT_BLOCKS = {
    "rlimits": "memory (RLIMIT_AS), CPU time, file size 0, no core dumps, no new processes (RLIMIT_NPROC 0)",
    "uid": "runs as nobody (65534): no access to the invoking root user's files or processes",
    "namespaces": "own network namespace (no interface but a down loopback: no network at all) and "
                  "IPC namespace (no System V shared memory or queues of the host)",
    "no_new_privs": "no privilege gain through set-uid binaries or file capabilities",
    "landlock": "no file-system access of any kind (read, write, create, delete, truncate), no TCP "
                "bind/connect, no signals to processes outside the child, no abstract unix sockets",
    "seccomp": "system calls outside a small allow-list fail: no open/openat, socket, kill/tgkill, "
               "ptrace, fork/clone/execve, file-system changes, ioctl, namespaces, BPF",
    "pdeathsig": "the child is killed when the parent dies (no orphans)",
    "environment": "the inherited environment (API tokens) is wiped from the child's memory",
}
NOBODY = 65534

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 1, 38, 22, 2
_CLONE_NEWNET, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x40000000, 0x08000000, 0x10000000
_SYS_LANDLOCK_CREATE, _SYS_LANDLOCK_RESTRICT = 444, 446      # the same number on every architecture


# ------------------------------------------------------------------------------------------------
# seccomp: an allow-list of system calls, compiled once in the parent, loaded in each child
# ------------------------------------------------------------------------------------------------
#: what a running numpy program needs (memory, time, signals to itself handled by the kernel, exit,
#: reading/writing its already-open descriptors); everything else fails with EPERM
_ALLOWED_SYSCALLS = (
    "read", "write", "readv", "writev", "close", "lseek", "fstat", "mmap", "munmap", "mremap",
    "mprotect", "brk", "madvise", "futex", "sched_yield", "getpid", "gettid", "getppid", "getuid",
    "geteuid", "getgid", "getegid", "getresuid", "getresgid", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "gettimeofday", "time", "getrandom", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "exit", "exit_group", "getrusage", "getrlimit",
    "restart_syscall", "sysinfo", "sched_getaffinity", "times", "membarrier",
)
_OPEN_SYSCALLS = ("open", "openat", "openat2", "creat")
_AT_EMPTY_PATH = 0x1000


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_BPF: tuple | None = None                    # (buffer, _SockFprog) built once per process


def _build_seccomp() -> tuple | None:
    if _seccomp is None:
        return None
    filt = _seccomp.SyscallFilter(_seccomp.ERRNO(errno.EPERM))
    for name in _ALLOWED_SYSCALLS:
        _add(filt, _seccomp.ALLOW, name)
    for name in _OPEN_SYSCALLS:
        _add(filt, _seccomp.ERRNO(errno.EACCES), name)
    # fstat is newfstatat(fd, "", AT_EMPTY_PATH) in glibc; stat of a path stays denied
    _add(filt, _seccomp.ALLOW, "newfstatat", _seccomp.Arg(3, _seccomp.MASKED_EQ, _AT_EMPTY_PATH, _AT_EMPTY_PATH))
    # reading limits is fine, changing them is not
    _add(filt, _seccomp.ALLOW, "prlimit64", _seccomp.Arg(2, _seccomp.EQ, 0))
    with tempfile.TemporaryFile() as fh:
        filt.export_bpf(fh)
        fh.seek(0)
        code = fh.read()
    if not code or len(code) % 8:
        return None
    buffer = ctypes.create_string_buffer(code, len(code))
    return buffer, _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))


def _add(filt, action, name, *args) -> None:
    try:
        filt.add_rule(action, name, *args)
    except (OSError, ValueError, RuntimeError):   # not a system call on this architecture
        pass


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: not available)."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


def prepare() -> None:
    """Parent side, before forking: compile the seccomp filter once (children only load it)."""
    global _BPF, _LANDLOCK_ABI
    if _BPF is None:
        try:
            _BPF = _build_seccomp() or ()
        except Exception as exc:              # noqa: BLE001 - report, never fail the run
            log.warning("seccomp filter could not be built (%s); the seccomp layer is off", exc)
            _BPF = ()
    if _LANDLOCK_ABI is None:
        _LANDLOCK_ABI = landlock_abi()


_LANDLOCK_ABI: int | None = None


# ------------------------------------------------------------------------------------------------
# the child
# ------------------------------------------------------------------------------------------------
def confine(memory_mb: int, timeout_s: float, parent_pid: int) -> int:
    """Apply every layer in the (single-threaded, freshly forked) child; return the active mask.

    Order matters: limits and the uid change first (credential changes clear the parent-death
    signal), then namespaces (before seccomp forbids `unshare`), no-new-privs, Landlock, seccomp."""
    active = 0
    active |= _bit("environment") if _scrub_environment() else 0
    active |= _bit("rlimits") if _set_limits(memory_mb, timeout_s) else 0
    is_root = os.geteuid() == 0
    if is_root:
        netns = _unshare(_CLONE_NEWNET | _CLONE_NEWIPC)
        if _drop_to_nobody():
            active |= _bit("uid")
    else:
        netns = _unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC)
    active |= _bit("namespaces") if netns else 0
    if _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) == 0:
        active |= _bit("pdeathsig")
    if os.getppid() != parent_pid:           # the parent died before the signal was armed
        os._exit(0)
    if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        active |= _bit("no_new_privs")
    if _landlock():
        active |= _bit("landlock")
    if _BPF and _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(_BPF[1]), 0, 0) == 0:
        active |= _bit("seccomp")
    return active


def _bit(name: str) -> int:
    return 1 << LAYERS.index(name)


def _set_limits(memory_mb: int, timeout_s: float) -> bool:
    ok = True
    cpu_s = int(math.ceil(timeout_s)) + 1
    limits = [(resource.RLIMIT_CORE, 0, 0), (resource.RLIMIT_FSIZE, 0, 0), (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),
              (resource.RLIMIT_NPROC, 0, 0), (resource.RLIMIT_MEMLOCK, 0, 0), (resource.RLIMIT_MSGQUEUE, 0, 0)]
    vm = _vm_size_bytes()
    if memory_mb:
        limits.append((resource.RLIMIT_AS, vm + int(memory_mb) * 1024 * 1024, vm + int(memory_mb) * 1024 * 1024))
    for which, soft, hard in limits:
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            ok = which == resource.RLIMIT_NPROC and ok   # NPROC: seccomp forbids fork anyway
    return ok and vm > 0


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _drop_to_nobody() -> bool:
    try:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        return os.geteuid() == NOBODY
    except OSError:
        return False


def _unshare(flags: int) -> bool:
    return _libc.unshare(ctypes.c_int(flags)) == 0


class _LandlockRuleset(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


def _landlock() -> bool:
    """A ruleset that handles every access right this kernel knows and grants none."""
    abi = _LANDLOCK_ABI if _LANDLOCK_ABI is not None else landlock_abi()
    if abi < 1:
        return False
    fs_bits = 13 + (abi >= 2) + (abi >= 3) + (abi >= 5)       # REFER, TRUNCATE, IOCTL_DEV
    attr = _LandlockRuleset((1 << fs_bits) - 1, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    fd = _libc.syscall(_SYS_LANDLOCK_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        return False
    try:
        return _libc.syscall(_SYS_LANDLOCK_RESTRICT, ctypes.c_int(fd), ctypes.c_uint32(0)) == 0
    finally:
        os.close(fd)


def _scrub_environment() -> bool:
    """Overwrite and drop the environment inherited from the parent (C `environ` strings and the
    bytes of `os.environ`), so that not even an escaped program finds a token in it."""
    try:
        env = ctypes.POINTER(ctypes.c_void_p).in_dll(_libc, "environ")
        i = 0
        while env and env[i]:
            address = env[i]
            ctypes.memset(address, 0, _libc.strlen(ctypes.c_void_p(address)))
            i += 1
        _libc.clearenv()
        data = getattr(os.environ, "_data", {})
        offset = bytes.__basicsize__ - 1      # start of a bytes object's payload (CPython)
        for value in list(data.values()):
            if isinstance(value, bytes) and len(value) > 1:
                ctypes.memset(id(value) + offset, 0, len(value))
        data.clear()
        return len(os.environ) == 0
    except (ValueError, OSError, AttributeError):
        return False


_libc.strlen.restype = ctypes.c_size_t
_libc.strlen.argtypes = (ctypes.c_void_p,)


# ------------------------------------------------------------------------------------------------
# reporting
# ------------------------------------------------------------------------------------------------
def layer_names(mask: int) -> list[str]:
    return [name for i, name in enumerate(LAYERS) if mask >> i & 1]


def expected_mask() -> int:
    """Layers that should be active on this machine for this user (uid drop only applies to root)."""
    return sum(_bit(name) for name in LAYERS if name != "uid" or os.geteuid() == 0)


_PROBED: int | None = None


def probe() -> int:
    """Fork a child that applies every layer and reports which took effect (cached per process)."""
    global _PROBED
    if _PROBED is not None:
        return _PROBED
    prepare()
    rfd, wfd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:                               # child
        try:
            os.close(rfd)
            mask = confine(64, 1.0, parent)
            os.write(wfd, mask.to_bytes(4, "little"))
        finally:
            os._exit(0)
    os.close(wfd)
    try:
        ready, _, _ = select.select([rfd], [], [], 5.0)
        data = os.read(rfd, 4) if ready else b""
    finally:
        os.close(rfd)
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)
    _PROBED = int.from_bytes(data, "little") if len(data) == 4 else 0
    return _PROBED


def explain(mask: int | None = None) -> str:
    """A few lines saying which layers are active for programs on this machine and what each blocks."""
    mask = probe() if mask is None else mask
    lines = [f"sandbox layers for programs (kernel {os.uname().release}, "
             f"{'root' if os.geteuid() == 0 else f'uid {os.geteuid()}'}):",
             "  language     active: RestrictedPython allow-list (np/math facades, net, rng, guarded attributes)"]
    for i, name in enumerate(LAYERS):
        if mask >> i & 1:
            state = "active"
        elif name == "uid" and os.geteuid() != 0:
            state = "not needed (not root)"
        else:
            state = "INACTIVE: " + _why_missing(name)
        lines.append(f"  {name:<12} {state}: {WHAT_IT_BLOCKS[name]}")
    return "\n".join(lines)


def _why_missing(name: str) -> str:
    if name == "seccomp":
        return "pyseccomp/libseccomp not available" if _seccomp is None else "the kernel refused the filter"
    if name == "landlock":
        return f"kernel Landlock ABI {landlock_abi()} (needs >= 1; signal scoping needs >= 6)"
    if name == "namespaces":
        return "unprivileged user namespaces are disabled (sysctl or LSM policy)"
    return "the kernel refused it"


_WARNED = False


def warn_if_degraded(mask: int) -> None:
    """Log once per process when a child ran with fewer layers than this machine should give."""
    global _WARNED
    missing = expected_mask() & ~mask
    if missing and not _WARNED:
        _WARNED = True
        log.warning("sandbox: layer(s) %s not active on this machine (run `lsa exec --explain`)",
                    ", ".join(layer_names(missing)))


__all__ = ["LAYERS", "WHAT_IT_BLOCKS", "confine", "expected_mask", "explain", "landlock_abi", "layer_names",
           "prepare", "probe", "warn_if_degraded"]
