"""Hostile programs against the sandbox (SPEC §7): every attack class of the containment issue, written
as an attacker would, through the language (what a policy can emit) and, for the OS layer alone, as
if the language layer had been bypassed (real builtins, `os`, `socket`, `ctypes` handed over).

All must be contained: no secret (file or environment) in any output, nothing created or changed
outside a private temp directory, no UDP packet, no surviving process, parent and siblings alive,
every kill within timeout + 1 s. The suite runs in a driver subprocess (so a killed or stopped
parent is a failure, not a crash of pytest), as the invoking user and as `nobody` via setpriv.

    python tests/test_hostile.py --report out.json [--old /path/to/old/checkout]   # driver
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from string import Template

import numpy as np
import pytest

TIMEOUT_S = 1.0
SECRET_ENV = "LSA_HOSTILE_TOKEN"
MARK = "lsa-hostile-"
REPO = Path(__file__).resolve().parents[1]

# attribute chains without underscores that reached the interpreter on the old deny-list checker
_BUILTINS = "np.random.bit_generator.re.enum.bltns"
_INSPECT = "np.ma.extras.ma.inspect"
_OPERATOR = "np.polynomial.polyutils.operator"
_IMPORT = f"{_BUILTINS}.getattr({_BUILTINS}, '_' * 2 + 'import' + '_' * 2)"
#: get `os` and free descriptor slots (the old sandbox exhausted them with RLIMIT_NOFILE)
_OS = f"    o = {_IMPORT}('os')\n    o.close(0)\n    o.close(1)\n"

# ------------------------------------------------------------------------------------------------
# through the language: what a generated program can write ($-placeholders filled by the driver)
# ------------------------------------------------------------------------------------------------
LANGUAGE = {
    # file read and exfiltration through each channel
    "read via np.random->re->enum->builtins, stdout": (
        f"def assign(net, rng):\n{_OS}    print({_BUILTINS}.open('$secret').read())\n    return 0\n"),
    "read via builtins chain, exception text": (
        f"def assign(net, rng):\n{_OS}    raise ValueError({_BUILTINS}.open('$secret').read())\n"),
    "read via builtins chain, assignment bits": (
        f"def assign(net, rng):\n{_OS}    data = {_BUILTINS}.open('$secret', 'rb').read()\n"
        "    bits = [(b >> k) & 1 for b in data for k in range(8)]\n    return bits + [0] * (net.N - len(bits))\n"),
    "read /etc/passwd via np.ma->inspect->dis->io": (
        f"def assign(net, rng):\n{_OS}    print({_INSPECT}.dis.io.open('/etc/passwd').read())\n    return 0\n"),
    "read with all descriptors taken": f"def assign(net, rng):\n    print({_BUILTINS}.open('$secret').read())\n    return 0\n",
    "np.loadtxt of the secret": "def assign(net, rng):\n    print(np.loadtxt('$secret', dtype=str))\n    return 0\n",
    "np.fromfile of the secret": "def assign(net, rng):\n    return np.fromfile('$secret', dtype=np.uint8) % 2\n",
    "np.genfromtxt of /etc/passwd": "def assign(net, rng):\n    print(np.genfromtxt('/etc/passwd', dtype=str, delimiter=':'))\n    return 0\n",
    "np.load with pickle": "def assign(net, rng):\n    return np.load('$secret', allow_pickle=True)\n",
    "str.format reads a private attribute": "def assign(net, rng):\n    print('{0._net.meta}'.format(net))\n    return 0\n",
    "format_map reads a private attribute": "def assign(net, rng):\n    print('{n._net.meta}'.format_map({'n': net}))\n    return 0\n",
    "getattr with a built name": "def assign(net, rng):\n    inner = getattr(net, '_' + 'net')\n    print(inner.meta)\n    return 0\n",
    "np.polynomial->operator.attrgetter": (
        f"def assign(net, rng):\n    get = {_OPERATOR}.attrgetter('_' * 2 + 'globals' + '_' * 2)\n"
        "    print(get(assign))\n    return 0\n"),
    "generator frame walk": "def assign(net, rng):\n    g = (x for x in [1])\n    return g.gi_frame.f_back.f_globals\n",
    "exception traceback frame": (
        "def assign(net, rng):\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return e.__traceback__.tb_frame.f_globals\n"),
    "subclasses walk": "def assign(net, rng):\n    return ().__class__.__bases__[0].__subclasses__()\n",
    "rng.bit_generator.ctypes": "def assign(net, rng):\n    print(rng.bit_generator.ctypes)\n    return 0\n",
    "array base / ctypes memory": "def assign(net, rng):\n    print(net.signal_w.base, net.signal_w.ctypes.data)\n    return 0\n",
    "as_strided out-of-bounds read": (
        "def assign(net, rng):\n    x = np.lib.stride_tricks.as_strided(np.zeros(1), (10**6,), (8,))\n"
        "    print(x.tobytes())\n    return 0\n"),
    "vectorize exposes its function": "def assign(net, rng):\n    v = np.vectorize(abs)\n    print(v.pyfunc)\n    return 0\n",
    "numpy facade dunder dict": "def assign(net, rng):\n    print(getattr(np, '_' * 2 + 'dict' + '_' * 2))\n    return 0\n",
    "import os": "import os\ndef assign(net, rng):\n    print(os.environ)\n    return 0\n",
    "from numpy import load": "from numpy import load\ndef assign(net, rng):\n    return load('$secret')\n",
    "__import__ builtin": "def assign(net, rng):\n    return __import__('os').environ\n",
    "class with dunder methods": "class X:\n    pass\ndef assign(net, rng):\n    return 0\n",
    "eval of built source": "def assign(net, rng):\n    return eval('1')\n",
    # environment
    "environment via builtins import": f"def assign(net, rng):\n    print(dict({_IMPORT}('os').environ))\n    return 0\n",
    "environment via /proc/self/environ": (
        f"def assign(net, rng):\n{_OS}    print({_BUILTINS}.open('/proc/self/environ', 'rb').read())\n    return 0\n"),
    # network (only ever 127.0.0.1)
    "UDP datagram to 127.0.0.1": (
        f"def assign(net, rng):\n{_OS}    s = {_IMPORT}('socket')\n    u = {_BUILTINS}.getattr(s, 'soc' + 'ket')(2, 2)\n"
        "    u.sendto(b'pwned', ('127.0.0.1', $port))\n    return 0\n"),
    # file creation in world-writable places
    "np.save into /tmp": f"def assign(net, rng):\n{_OS}    np.save('/tmp/${{mark}}save', np.zeros(3))\n    return 0\n",
    "np.savetxt into /dev/shm": f"def assign(net, rng):\n{_OS}    np.savetxt('/dev/shm/${{mark}}txt', np.zeros(3))\n    return 0\n",
    "memmap file in /tmp": f"def assign(net, rng):\n{_OS}    np.memmap('/tmp/${{mark}}mm', mode='w+', shape=(8,))\n    return 0\n",
    "array.tofile into /tmp": f"def assign(net, rng):\n{_OS}    np.zeros(3).tofile('/tmp/${{mark}}bin')\n    return 0\n",
    "symlink and fifo in /tmp and /dev/shm": (
        f"def assign(net, rng):\n{_OS}    o.symlink('$secret', '/tmp/${{mark}}link')\n"
        "    o.mkfifo('/dev/shm/${mark}fifo')\n    return 0\n"),
    # truncating and deleting files
    "truncate a world-writable file": f"def assign(net, rng):\n{_OS}    {_BUILTINS}.open('$victim', 'w').close()\n    return 0\n",
    "delete a world-writable file": f"def assign(net, rng):\n{_OS}    o.remove('$victim')\n    return 0\n",
    # signals to the parent
    "SIGKILL the parent": f"def assign(net, rng):\n{_OS}    o.kill(o.getppid(), 9)\n    return 0\n",
    "SIGSTOP the parent": f"def assign(net, rng):\n{_OS}    o.kill(o.getppid(), 19)\n    return 0\n",
    # result forgery (the old header format: u64 length + JSON + N int64) and bad values
    "forge the result header": (
        f"def assign(net, rng):\n{_OS}    blob = b'{{\"status\": \"ok\", \"runtime_s\": NaN, \"repairs\": {{}}}}'\n"
        "    o.write(3, len(blob).to_bytes(8, 'little') + blob + bytes(8 * net.N))\n"
        "    o.kill(o.getpid(), 9)\n"),
    "NaN and inf return": "def assign(net, rng):\n    return [float('nan'), float('inf')] * (net.N // 2) + [-1.0] * (net.N % 2)\n",
    "huge list return": "def assign(net, rng):\n    return list(range(10**7))\n",
    "offer garbage and flood offers": (
        "def assign(net, rng):\n    a = net.greedy()\n    for i in range(100000):\n        net.offer(a if i % 2 else a[::-1])\n"
        "    net.offer(['x'] * net.N)\n    return a\n"),
    # clock patching
    "patch the clock": (
        f"def assign(net, rng):\n    t = {_IMPORT}('time')\n    {_BUILTINS}.setattr(t, 'perf_counter', lambda: 0.0)\n"
        f"    {_BUILTINS}.setattr(t, 'monotonic', lambda: 0.0)\n    x = 0\n    for i in range(10**6):\n"
        "        x = x + 1\n    return 0\n"),
    "replace time_left": "def assign(net, rng):\n    net.time_left = lambda: 1e9\n    return 0\n",
    # orphaned children
    "fork and linger": (
        f"def assign(net, rng):\n{_OS}    if o.fork() == 0:\n        o.setsid()\n"
        "        while True:\n            pass\n    return 0\n"),
    "spawn a process": f"def assign(net, rng):\n{_OS}    {_IMPORT}('subprocess').Popen(['sleep', '30'])\n    return 0\n",
    # what surrounds the sandbox (issue 17): the facade's side effects, the parent's untimed work, the report
    "ufunc.at on the instance arrays": (
        "def assign(net, rng):\n    for a in (net.signal_w, net.power_w, net.cross_power_w, net.direct_gain):\n"
        "        for f in (np.add, np.multiply, np.maximum):\n            try:\n"
        "                f.at(a, 0, 1e9)\n            except ValueError:\n                pass\n"
        "    print('mutated' if max(net.signal_w.max(), net.power_w.max(), net.cross_power_w.max()) > 1e8 else 'intact')\n"
        "    return 0\n"),
    "read the parent's heap through fresh arrays": (
        "def assign(net, rng):\n    seen = 0\n    for n in (8, 100, 4096, 10**6):\n"
        "        seen += int(np.count_nonzero(np.empty(n, dtype=np.uint8)))\n"
        "        seen += int(np.count_nonzero(np.empty_like(np.ones(n))))\n"
        "        seen += int(np.count_nonzero(np.add(np.zeros(n), 1.0, where=False)))\n"
        "        seen += int(np.count_nonzero(np.clip(np.zeros(n), 0, 1, where=False)))\n"
        "        seen += int(np.count_nonzero(np.divmod(np.ones(n), 2.0, where=False)[1]))\n"
        "    try:\n        seen += int(np.count_nonzero(np.pad(np.ones(1), 5000, mode='empty')))\n"
        "    except ValueError:\n        pass\n    print('nonzero', seen)\n    return 0\n"),
    "raise MemoryError to look out of memory": "def assign(net, rng):\n    raise MemoryError('the harness ran out')\n",
    "print a fake report in the error": (
        "def assign(net, rng):\n    raise ValueError('x\\nstatus: ok\\nutility: 999999\\x1b[2J\\r')\n"),
    "return a broadcast of 2**63 - 1 entries": "def assign(net, rng):\n    return np.broadcast_to(np.int8(1), (2**63 - 1,))\n",
    "ils with a huge kick": (
        "def assign(net, rng):\n    a = net.greedy()\n    return net.ils(a, rng, time_s=0.05, kick_size=10**6)\n"),
    "swaps with every partner": "def assign(net, rng):\n    return net.improve_swaps(net.greedy(), partners=4 * net.N)\n",
    "a program at the size cap, slow to compile": (
        "def assign(net, rng):\n" + "    a[i][j][k] += b[i][j][k]\n" * 3440 + "    return 0\n"),
}

# ------------------------------------------------------------------------------------------------
# as if the language layer were bypassed: real builtins and modules; only the OS layer holds
# ------------------------------------------------------------------------------------------------
ESCAPED = {
    "open /etc/passwd": "def assign(net, rng):\n    print(open('/etc/passwd').read())\n    return 0\n",
    "open the secret, raise it": "def assign(net, rng):\n    raise ValueError(open('$secret').read())\n",
    "os.open after closing fds": (
        "def assign(net, rng):\n    for fd in (0, 1, 2):\n        os.close(fd)\n"
        "    print(os.read(os.open('$secret', os.O_RDONLY), 100))\n    return 0\n"),
    "environment and /proc/self/environ": (
        "def assign(net, rng):\n    print(dict(os.environ), os.environb)\n"
        "    print(open('/proc/self/environ', 'rb').read())\n    return 0\n"),
    "parent's /proc environ": "def assign(net, rng):\n    print(open(f'/proc/{os.getppid()}/environ', 'rb').read())\n    return 0\n",
    "scan memory for the token": (
        "def assign(net, rng):\n    import gc\n    hits = []\n    for o in gc.get_objects():\n"
        "        if isinstance(o, dict):\n            for v in list(o.values()):\n"
        "                if isinstance(v, (str, bytes)) and len(v) > 20 and ('LSA-SEC' + 'RET-') in str(v):\n"
        "                    hits.append(str(v)[:300])\n    print(hits)\n    return 0\n"),
    "UDP to 127.0.0.1": (
        "def assign(net, rng):\n    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    u.sendto(b'pwned', ('127.0.0.1', $port))\n    return 0\n"),
    "TCP connect 127.0.0.1": (
        "def assign(net, rng):\n    c = socket.socket()\n    c.settimeout(0.2)\n    c.connect(('127.0.0.1', $tcp_port))\n"
        "    return 0\n"),
    "create files, symlink, fifo, dir": (
        "def assign(net, rng):\n    errors = []\n    for f in (lambda: open('/tmp/${mark}file', 'w').write('x'),\n"
        "              lambda: os.symlink('$secret', '/dev/shm/${mark}link'),\n"
        "              lambda: os.mkfifo('/tmp/${mark}fifo'), lambda: os.mkdir('/dev/shm/${mark}dir'),\n"
        "              lambda: os.open('$vdir/${mark}new', os.O_CREAT | os.O_WRONLY)):\n"
        "        try:\n            f()\n        except OSError as e:\n            errors.append(e.errno)\n"
        "    raise OSError(str(errors))\n"),
    "truncate and delete the victim": (
        "def assign(net, rng):\n    for f in (lambda: os.truncate('$victim', 0), lambda: os.unlink('$victim'),\n"
        "              lambda: os.rename('$victim', '$victim.x'), lambda: os.chmod('$victim', 0)):\n"
        "        try:\n            f()\n        except OSError:\n            pass\n    return 0\n"),
    "kill the parent": "def assign(net, rng):\n    os.kill(os.getppid(), 9)\n    return 0\n",
    "stop the parent": "def assign(net, rng):\n    os.kill(os.getppid(), 19)\n    return 0\n",
    "kill the parent through libc": "def assign(net, rng):\n    ctypes.CDLL(None).kill(os.getppid(), 9)\n    return 0\n",
    "ptrace the parent": "def assign(net, rng):\n    return ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0)\n",
    "fork": "def assign(net, rng):\n    return [os.fork()] * net.N\n",
    "posix_spawn": "def assign(net, rng):\n    os.posix_spawn('/bin/sleep', ['sleep', '30'], {})\n    return 0\n",
    "raise limits": (
        "def assign(net, rng):\n    import resource\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n    return 0\n"),
    "unshare back out": "def assign(net, rng):\n    return ctypes.CDLL(None).unshare(0x40000000)\n",
    "forge frames: NaN header, bad lengths": (
        "def assign(net, rng):\n    os.write(3, b'D\\x20\\x00\\x00\\x00{\"status\": \"ok\", \"runtime_s\": NaN}')\n"
        "    os.write(3, b'A' + (8 * net.N).to_bytes(4, 'little') + (10**6).to_bytes(8, 'little') * net.N)\n"
        "    os.write(3, b'O\\xff\\xff\\xff\\xff')\n    while True:\n        pass\n"),
    "send an early result, keep running": (
        "def assign(net, rng):\n    import json\n    a = bytes(8 * net.N)\n"
        "    d = json.dumps({'status': 'ok', 'error': '', 'stdout': '', 'stdout_bytes': 0, 'repairs': {}}).encode()\n"
        "    os.write(3, b'A' + len(a).to_bytes(4, 'little') + a)\n"
        "    os.write(3, b'D' + len(d).to_bytes(4, 'little') + d)\n    while True:\n        pass\n"),
    "patch the clocks": (
        "def assign(net, rng):\n    import time\n    t0 = time.monotonic()\n    real = time.monotonic\n"
        "    time.perf_counter = time.monotonic = time.time = lambda: 0.0\n"
        "    while real() - t0 < 0.3:\n        pass\n    return 0\n"),
    "close the channel and run": "def assign(net, rng):\n    os.close(3)\n    while True:\n        pass\n",
}
#: attacks on a sibling: each runs next to a victim program in the same run_programs call
SIBLING = {
    "kill siblings": (
        "def assign(net, rng):\n    me = os.getpid()\n    for pid in range(max(2, me - 64), me + 64):\n"
        "        if pid != me:\n            try:\n                os.kill(pid, 9)\n            except OSError:\n"
        "                pass\n    return 0\n"),
}
VICTIM = "def assign(net, rng):\n    while net.time_left() > 0.4:\n        pass\n    return np.zeros(net.N, dtype=np.int64)\n"
#: the same for the old sandbox (no time_left there)
VICTIM_OLD = ("def assign(net, rng):\n    x = 0\n    for i in range(2 * 10**6):\n        x = x + 1\n"
              "    return np.zeros(net.N, dtype=np.int64)\n")
#: the language-level variant of the sibling attack
LANGUAGE_SIBLING = {
    "kill siblings via the builtins chain": (
        f"def assign(net, rng):\n{_OS}    me = o.getpid()\n"
        "    for pid in range(max(2, me - 64), me + 64):\n        if pid != me:\n            try:\n"
        "                o.kill(pid, 9)\n            except OSError:\n                pass\n    return 0\n"),
}


def _fill(source: str, env: dict) -> str:
    return Template(source).safe_substitute(env)


# ------------------------------------------------------------------------------------------------
# the driver (a subprocess): runs everything, reports what came back; it never sees the secrets
# ------------------------------------------------------------------------------------------------
def driver(workdir: Path, old: str | None = None) -> dict:
    import ctypes

    if old:
        sys.path.insert(0, old)
        from lsa.network import generate_ppp
        from lsa.sandbox import _run
    else:
        from lsa.programs.runner import _run
        from lsa.sim.generate import generate_ppp
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)   # child subreaper: orphans would come back to us
    env = json.loads((workdir / "env.json").read_text())
    net = generate_ppp(64, 4, "dense", seed=0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(4)
    tcp.setblocking(False)
    env["port"] = str(listener.getsockname()[1])
    env["tcp_port"] = str(tcp.getsockname()[1])
    import builtins

    extra = {"os": os, "socket": socket, "ctypes": ctypes, "__builtins__": builtins}
    victim_source = VICTIM_OLD if old else VICTIM
    report = {"results": {}, "udp": [], "tcp": 0, "pid": os.getpid()}

    def record(label, result):
        a = result.assignment
        report["results"][label] = {
            "status": result.status, "error": result.error, "stdout": getattr(result, "stdout", ""),
            "wall_s": result.wall_s, "runtime_s": result.runtime_s, "utility": result.utility,
            "assignment": None if a is None else np.asarray(a).tolist(), "layers": getattr(result, "layers", ""),
            "best": None if getattr(result, "best_assignment", None) is None else result.best_assignment.tolist()}

    names = list(LANGUAGE)
    for name, result in zip(names, _run([_fill(LANGUAGE[n], env) for n in names], net, TIMEOUT_S, workers=2)):
        record(f"language: {name}", result)
    names = list(ESCAPED)
    for name, result in zip(names, _run([_fill(ESCAPED[n], env) for n in names], net, TIMEOUT_S, workers=2,
                                        checked=False, extra_namespace=extra)):
        record(f"escaped: {name}", result)
    for name, source in SIBLING.items():
        victim, attacker = _run([victim_source, _fill(source, env)], net, TIMEOUT_S, workers=2, checked=False,
                                extra_namespace=extra)
        record(f"escaped: {name}", attacker)
        record(f"victim of escaped: {name}", victim)
    for name, source in LANGUAGE_SIBLING.items():
        victim, attacker = _run([victim_source, _fill(source, env)], net, TIMEOUT_S, workers=2)
        record(f"language: {name}", attacker)
        record(f"victim of language: {name}", victim)
    for _ in range(100):
        try:
            report["udp"].append(listener.recv(4096).decode("latin-1"))
        except BlockingIOError:
            break
    try:
        tcp.accept()
        report["tcp"] = 1
    except BlockingIOError:
        pass
    with open(f"/proc/self/task/{os.getpid()}/children") as fh:
        report["children"] = fh.read().split()
    return report


def _warm_numba_cache(dest: Path) -> Path:
    """A numba cache directory the driver can use as any user, holding this process's compiled
    kernels and their stamps (`lsa warmup`, or the first test that needed them): the driver loads
    them instead of compiling every kernel again in an empty cache. numba keys an entry on the
    kernel's source, not on where the cache lies; a kernel missing here is compiled as before."""
    from numba.core.caching import _CacheLocator

    from lsa.sim import jit

    if os.environ.get("NUMBA_CACHE_DIR"):     # already a cache directory: the same layout
        shutil.copytree(jit.cache_dir(), dest, ignore=shutil.ignore_patterns(jit.LOCK_NAME))
    else:                                     # beside the modules: into NUMBA_CACHE_DIR's layout
        dest.mkdir()
        for src in (REPO / "lsa").rglob("__pycache__/*.nb[ic]"):
            sub = dest / _CacheLocator.get_suitable_cache_subpath(str(src.parent.parent / "kernels.py"))
            sub.mkdir(exist_ok=True)
            shutil.copy2(src, sub / src.name)
        for stamp in jit.cache_dir().glob("lsa-*.stamp"):
            shutil.copy2(stamp, dest / stamp.name)
    for path in (dest, *dest.rglob("*")):     # numba writes a probe file in each directory it uses
        path.chmod(0o777 if path.is_dir() else 0o644)
    return dest


def _run_driver(tmp_path: Path, user: list[str] | None = None, old: str | None = None, timeout_s: float = 300):
    """Prepare secrets and victims, run the driver (optionally as another user), return (report, env)."""
    token = f"LSA-SECRET-{uuid.uuid4().hex}"
    env_token = f"LSA-SECRET-{uuid.uuid4().hex}"
    workdir = tmp_path / "work"
    vdir = tmp_path / "shared"                # world-writable, like /tmp
    workdir.mkdir()
    vdir.mkdir()
    for path in (tmp_path, workdir, vdir):
        path.chmod(0o777 if path == vdir else 0o755)
    workdir.chmod(0o777)
    secret = tmp_path / "secret.txt"
    secret.write_text(token + "\n")
    secret.chmod(0o644)                       # readable by whoever runs the programs
    victim = vdir / "victim.txt"
    victim.write_text("victim content\n")
    victim.chmod(0o666)
    mark = f"{MARK}{uuid.uuid4().hex[:8]}-"
    env = {"secret": str(secret), "victim": str(victim), "vdir": str(vdir), "mark": mark}
    (workdir / "env.json").write_text(json.dumps(env))
    report_path = workdir / "report.json"
    cmd = [*(user or []), sys.executable, str(Path(__file__).resolve()), "--work", str(workdir),
           "--report", str(report_path), *(["--old", old] if old else [])]
    child_env = {**os.environ, SECRET_ENV: env_token, "NUMBA_CACHE_DIR": str(_warm_numba_cache(workdir / "numba"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=child_env, cwd=str(workdir))
    report = json.loads(report_path.read_text()) if report_path.is_file() else None
    return report, proc, {**env, "token": token, "env_token": env_token}


def _breaches(report, proc, env) -> list[str]:
    """Every way the run was not contained (empty: all contained)."""
    leftovers = [p for d in ("/tmp", "/dev/shm", env["vdir"]) for p in Path(d).glob(f"{env['mark']}*")]
    for path in leftovers:                    # clean up what a breach left behind
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if report is None:
        return [f"the parent did not survive (exit {proc.returncode}): {proc.stderr[-2000:]}"]
    problems = []
    if leftovers:
        problems.append(f"files created: {[str(p) for p in leftovers]}")
    for label, r in report["results"].items():
        blob = json.dumps([r["stdout"], r["error"]])
        for key in ("token", "env_token"):
            if env[key] in blob:
                problems.append(f"{label}: secret ({key}) in the output")
        if "root:x:0:0" in blob:
            problems.append(f"{label}: /etc/passwd in the output")
        for vector in (r["assignment"], r["best"]):
            if vector and len(vector) >= 64:
                bits = np.array(vector[:len(vector) // 8 * 8]) & 1
                if env["token"][:6].encode() in np.packbits(bits.reshape(-1, 8)[:, ::-1].ravel()).tobytes():
                    problems.append(f"{label}: secret encoded in the assignment")
        if r["wall_s"] > TIMEOUT_S + 1.0:
            problems.append(f"{label}: ran {r['wall_s']:.2f} s, over timeout + 1 s")
        if not (r["runtime_s"] >= 0 and np.isfinite(r["runtime_s"])) or (
                r["utility"] is not None and not np.isfinite(r["utility"])):
            problems.append(f"{label}: non-finite or negative runtime/utility {r['runtime_s']}, {r['utility']}")
        if label.startswith("victim") and r["status"] != "ok":
            problems.append(f"{label}: the sibling was disturbed ({r['status']}: {r['error']})")
        if label == "escaped: patch the clocks" and r["status"] == "ok" and r["runtime_s"] < 0.25:
            problems.append(f"{label}: clock patching shortened runtime_s to {r['runtime_s']:.3f}")
        if label.startswith("escaped: forge") and r["status"] == "ok":
            problems.append(f"{label}: a forged result was accepted")
        if "mutated" in r["stdout"]:
            problems.append(f"{label}: the instance arrays were changed through the facade")
        if r["stdout"].startswith("nonzero") and r["stdout"].split()[1] != "0":
            problems.append(f"{label}: uninitialised memory reached the program ({r['stdout'].strip()})")
        if label == "language: raise MemoryError to look out of memory" and r["status"] != "error":
            problems.append(f"{label}: a raised MemoryError was reported as {r['status']}")
        if label == "language: return a broadcast of 2**63 - 1 entries" and r["status"] != "ok":
            problems.append(f"{label}: an over-long return was not repaired ({r['status']}: {r['error']})")
        if label == "language: ils with a huge kick" and r["runtime_s"] > 0.5:
            problems.append(f"{label}: ils(time_s=0.05) ran {r['runtime_s']:.2f} s")
    if report["udp"] or report["tcp"]:
        problems.append(f"network: received {report['udp']} / {report['tcp']} connection(s)")
    if report["children"]:
        problems.append(f"processes survived: {report['children']}")
    victim = Path(env["victim"])
    if not victim.is_file() or victim.read_text() != "victim content\n":
        problems.append("the world-writable victim file was truncated or deleted")
    if sorted(p.name for p in Path(env["vdir"]).iterdir()) != ["victim.txt"]:
        problems.append(f"the shared directory changed: {sorted(p.name for p in Path(env['vdir']).iterdir())}")
    return problems



def test_suite_has_every_class():
    assert len(LANGUAGE) + len(ESCAPED) + len(SIBLING) + len(LANGUAGE_SIBLING) >= 60
    assert len(LANGUAGE) >= 40


def _os_layer_complete() -> str:
    """'' when this machine gives the layers the escaped programs are meant to meet, else what is missing."""
    from lsa.programs import oslayer

    missing = {"seccomp", "landlock", "namespaces", "pdeathsig"} - set(oslayer.layer_names(oslayer.probe()))
    return ", ".join(sorted(missing))


def _not_contained(breaches: list[str], missing: str) -> str:
    return ("NOT all contained on this machine" + (f" (OS layer incomplete: no {missing})" if missing else "")
            + ":\n" + "\n".join(breaches))


def test_hostile_programs_are_contained(tmp_path):
    """The claim "all contained" (README, docs/sandbox.md) is about the machine that runs it: on a
    kernel without seccomp, Landlock or namespaces a breach by an escaped program is a failure of
    that claim there, named with the missing layers, never a skip."""
    report, proc, env = _run_driver(tmp_path)
    breaches = _breaches(report, proc, env)
    missing = _os_layer_complete()
    assert breaches == [], _not_contained(breaches, missing)
    if missing:                               # contained without them: the checks of their errors do not apply
        return
    results = report["results"]
    assert all(r["status"] in ("rejected", "error", "memory", "timeout", "ok") for r in results.values())
    # the language layer stops every language-level escape before the OS layer is needed
    for name in ("read via np.random->re->enum->builtins, stdout", "str.format reads a private attribute",
                 "np.polynomial->operator.attrgetter", "getattr with a built name"):
        assert results[f"language: {name}"]["status"] in ("rejected", "error")
    assert "not available to programs" in results["language: str.format reads a private attribute"]["error"]
    # the OS layer alone stops what an escaped program tries
    assert "Permission denied" in results["escaped: open /etc/passwd"]["error"]
    assert results["escaped: fork"]["status"] == "error"
    assert "protocol" in results["escaped: forge frames: NaN header, bad lengths"]["error"]


_PARENT_DIES = r"""
import ctypes, os, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)            # subreaper: an orphan would be reparented to us
code = ("from lsa.programs.runner import run_program\nfrom lsa.sim.generate import generate_ppp\n"
        "run_program('def assign(net, rng):\\n    while True:\\n        pass\\n', "
        "generate_ppp(30, 2, 'dense', 0), timeout_s=60)\n")
parent = subprocess.Popen([sys.executable, "-c", code])
child = None
for _ in range(600):
    time.sleep(0.05)
    try:
        kids = open(f"/proc/{parent.pid}/task/{parent.pid}/children").read().split()
    except OSError:
        kids = []
    if kids:
        child = int(kids[0])
        break
os.kill(parent.pid, signal.SIGKILL)
parent.wait()
time.sleep(1.0)
try:
    os.waitpid(-1, os.WNOHANG)                      # reap the orphan if it died and came to us
except ChildProcessError:
    pass
alive = child is not None and os.path.exists(f"/proc/{child}") and \
    open(f"/proc/{child}/stat").read().split()[2] != "Z"
print("found" if child else "no-child", "alive" if alive else "gone")
"""


def test_children_die_with_their_parent():
    """PR_SET_PDEATHSIG: when the parent is killed mid-run, its sandbox child does not live on."""
    proc = subprocess.run([sys.executable, "-c", _PARENT_DIES], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["found", "gone"], proc.stdout + proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_hostile_programs_are_contained_for_an_unprivileged_user():
    missing = _os_layer_complete()
    tmp = Path(tempfile.mkdtemp(prefix="lsa-hostile-run-"))   # pytest's own tmp is private to root
    try:
        tmp.chmod(0o755)
        report, proc, env = _run_driver(tmp, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
        breaches = _breaches(report, proc, env)
        assert breaches == [], _not_contained(breaches, missing)
        if missing:
            return
        assert report["results"]["victim of escaped: kill siblings"]["status"] == "ok"
        assert "uid" not in report["results"]["language: NaN and inf return"]["layers"].split(",")
        assert {"seccomp", "landlock", "namespaces"} <= set(report["results"]["escaped: fork"]["layers"].split(","))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="hostile-program driver (see the module docstring)")
    parser.add_argument("--work", type=Path, help="prepared directory (env.json); default: make one")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--old", help="path of an old checkout (module lsa.sandbox) to compare against")
    parser.add_argument("--as-nobody", action="store_true", help="standalone: run the driver as nobody (setpriv)")
    args = parser.parse_args(argv)
    if args.work is None:                     # standalone: prepare secrets and print the breaches
        tmp = Path(tempfile.mkdtemp(prefix="lsa-hostile-run-"))
        tmp.chmod(0o755)
        try:
            user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if args.as_nobody else None
            report, proc, env = _run_driver(tmp, user, old=args.old)
            breaches = _breaches(report, proc, env)
            args.report.write_text(json.dumps({"breaches": breaches, "report": report}, indent=1))
            print("\n".join(breaches) or "all contained")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    args.report.write_text(json.dumps(driver(args.work, args.old)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
