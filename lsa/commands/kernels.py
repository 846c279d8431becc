"""`lsa warmup`: fill numba's cache for every kernel group once, after installing."""
from __future__ import annotations

import sys


def warmup(args) -> int:
    """Fill numba's cache for every kernel group (`make setup` runs this): afterwards no command
    compiles. Idempotent; a second run only loads the cache."""
    import time

    from lsa.engine.warm import KERNEL_SOURCES
    from lsa.engine.warm import warmup as engine_warmup
    from lsa.rl.features import warmup as rl_warmup
    from lsa.sim import jit
    from lsa.sim.network import warmup as network_warmup
    from lsa.sim.utility import warmup as utility_warmup

    stale = not jit.is_current("engine", KERNEL_SOURCES)
    print(f"numba kernel cache: {jit.cache_dir()}" + (" (filling it: about a minute)" if stale else ""),
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for name, warm in (("network", network_warmup), ("utility", utility_warmup), ("engine", engine_warmup),
                       ("rl", rl_warmup)):
        print(f"  {name:<8} {warm():6.2f} s", file=sys.stderr)
    print(f"kernels ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0
