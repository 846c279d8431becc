"""LSA: LLM-driven large-scale spectrum access. Layers, each importing only from those above it:
errors/io/config → sim → methods → programs → policy → rl → workflow → cli (see docs/architecture.md).
"""

import os as _os
import tempfile as _tempfile

# The move engine's numba kernels are compiled once and cached (`cache=True`) beside the package.
# Where the package directory is read-only (a system-wide install, another user), numba needs
# another cache directory: set one before numba is imported, unless the user chose one.
if "NUMBA_CACHE_DIR" not in _os.environ and not _os.access(_os.path.dirname(__file__), _os.W_OK):
    _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(
        _os.environ.get("XDG_CACHE_HOME") or _tempfile.gettempdir(), f"lsa-numba-{_os.getuid()}")
