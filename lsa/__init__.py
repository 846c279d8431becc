"""LSA: LLM-driven large-scale spectrum access. Layers, each importing only from those above it:
errors/io/config → sim → engine → methods → programs → policy → rl → workflow → cli (see docs/architecture.md).
"""

import os as _os

# The numba kernels are compiled once per machine (`lsa warmup`, run by `make setup`) and cached
# (`cache=True`) beside the package; lsa.sim.jit keeps parallel processes from compiling at once.
# Where the package directory is read-only (a system-wide install, another user), numba needs
# another cache directory: set one before numba is imported, unless the user chose one. It is
# per user and survives reboots (~/.cache), else lies in the temporary directory.
if "NUMBA_CACHE_DIR" not in _os.environ and not _os.access(_os.path.dirname(__file__), _os.W_OK):
    _base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    if not _os.access(_base if _os.path.isdir(_base) else _os.path.dirname(_base), _os.W_OK):
        import tempfile as _tempfile

        _base = _tempfile.gettempdir()
    _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(_base, f"lsa-numba-{_os.getuid()}")
