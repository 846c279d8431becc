"""What a generated program can see (docs/sandbox.md): the numpy and math facades (named pure functions, no
submodules, no I/O) and the allow-list of attributes per type that the attribute guard enforces.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from lsa.programs.primitives import NetView

#: numpy functions, types and constants a program may use as `np.<name>` (pure array work only:
#: nothing that reads or writes files, loads code, exposes raw memory or reaches another module)
NUMPY_NAMES = frozenset("""
    array asarray asanyarray ascontiguousarray copy zeros ones full empty zeros_like ones_like
    full_like empty_like arange linspace logspace geomspace eye identity diag diagonal tri tril triu
    meshgrid indices fromiter
    reshape ravel transpose swapaxes moveaxis squeeze expand_dims atleast_1d atleast_2d atleast_3d
    broadcast_to broadcast_arrays concatenate concat stack vstack hstack dstack column_stack
    row_stack split array_split hsplit vsplit tile repeat flip fliplr flipud roll rot90 append insert
    delete resize trim_zeros pad
    abs absolute add subtract multiply divide true_divide floor_divide power float_power mod
    remainder fmod divmod negative positive sqrt cbrt square exp exp2 expm1 log log2 log10 log1p
    logaddexp logaddexp2 sin cos tan arcsin arccos arctan arctan2 hypot sinh cosh tanh arcsinh
    arccosh arctanh deg2rad rad2deg degrees radians floor ceil rint round around trunc fix sign
    signbit copysign heaviside maximum minimum fmax fmin clip isnan isinf isfinite isposinf
    isneginf nan_to_num reciprocal real imag conj conjugate angle gcd lcm
    logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_xor bitwise_not
    invert left_shift right_shift greater greater_equal less less_equal equal not_equal
    sum prod mean median average std var min max amin amax ptp argmin argmax nanmin nanmax
    nanargmin nanargmax nansum nanprod nanmean nanmedian nanstd nanvar nanpercentile nanquantile
    cumsum cumprod nancumsum nancumprod cumulative_sum cumulative_prod diff ediff1d gradient any
    all count_nonzero percentile quantile bincount histogram histogram_bin_edges digitize
    searchsorted sort argsort lexsort partition argpartition sort_complex unique unique_values
    unique_counts unique_inverse unique_all union1d intersect1d setdiff1d setxor1d isin where
    nonzero flatnonzero argwhere extract compress select choose piecewise take take_along_axis
    put_along_axis place putmask copyto fill_diagonal unravel_index ravel_multi_index
    dot vdot matmul inner outer tensordot einsum kron cross trace convolve correlate interp
    cov corrcoef allclose isclose array_equal array_equiv shape ndim size
    apply_along_axis vectorize errstate seterr geterr iinfo finfo result_type can_cast
    promote_types dtype
    int8 int16 int32 int64 uint8 uint16 uint32 uint64 intp uintp int_ float16 float32 float64
    longdouble complex64 complex128 bool_ bool generic number integer signedinteger
    unsignedinteger floating complexfloating
    pi e inf nan newaxis euler_gamma
""".split())

#: `np.linalg.<name>`: a facade of its own with these pure functions
LINALG_NAMES = frozenset("norm eigh eigvalsh eig eigvals svd solve inv pinv det slogdet lstsq matrix_rank "
                         "matrix_power qr cholesky cond".split())

#: `math.<name>`: every public function and constant of the standard `math` module (all pure)
MATH_NAMES = frozenset(name for name in dir(math) if not name.startswith("_"))

#: methods of the program's `rng` (a numpy Generator): drawing numbers only, never its bit generator
RNG_NAMES = frozenset("""
    integers random choice permutation permuted shuffle uniform normal standard_normal exponential
    standard_exponential poisson binomial negative_binomial geometric beta gamma standard_gamma
    lognormal laplace logistic gumbel rayleigh triangular weibull pareto power zipf vonmises
    dirichlet multinomial multivariate_normal hypergeometric chisquare standard_cauchy standard_t
""".split())

#: attributes of arrays and numpy scalars (no raw memory, files, flags, views of foreign memory)
ARRAY_NAMES = frozenset("""
    shape ndim size dtype T itemsize nbytes real imag
    copy astype reshape ravel flatten squeeze transpose swapaxes repeat take compress diagonal
    sum prod mean std var min max argmin argmax argsort sort partition argpartition searchsorted
    cumsum cumprod any all nonzero clip round trace dot conj conjugate fill put choose tolist item
    is_integer as_integer_ratio bit_count
""".split())

_INT_NAMES = frozenset("bit_length bit_count real imag numerator denominator conjugate is_integer "
                       "as_integer_ratio".split())
_FLOAT_NAMES = frozenset("is_integer real imag conjugate as_integer_ratio hex".split())
_STR_NAMES = frozenset("""
    capitalize casefold center count endswith find index isalnum isalpha isascii isdecimal isdigit
    isidentifier islower isnumeric isspace istitle isupper join ljust lower lstrip partition
    removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines
    startswith strip swapcase title upper zfill
""".split())                      # no format / format_map: str.format reads attributes unguarded
_LIST_NAMES = frozenset("append clear copy count extend index insert pop remove reverse sort".split())
_DICT_NAMES = frozenset("clear copy get items keys pop popitem setdefault update values fromkeys".split())
_SET_NAMES = frozenset("""
    add clear copy difference difference_update discard intersection intersection_update isdisjoint
    issubset issuperset pop remove symmetric_difference symmetric_difference_update union update
""".split())
_FROZENSET_NAMES = frozenset("copy difference intersection isdisjoint issubset issuperset "
                             "symmetric_difference union".split())


class Facade:
    """A read-only namespace of named, allow-listed objects (`np`, `np.linalg`, `math`).

    It is a plain object rather than a module: nothing else (no submodule, no `__dict__` walk to
    other modules) can be reached through it, and the attribute guard admits only `names`."""

    __slots__ = ("_label", "_members")

    def __init__(self, label: str, members: dict):
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_members", dict(members))

    def __getattr__(self, name):
        try:
            return self._members[name]
        except KeyError:
            raise AttributeError(f"{self._label}.{name} is not available to programs") from None

    def __setattr__(self, name, value):
        raise AttributeError(f"{self._label} is read-only")

    def __dir__(self):
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<{self._label}: {len(self._members)} allowed names>"

    @property
    def names(self) -> frozenset:
        return frozenset(self._members)


class _ArrayTypeMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, np.ndarray)


class ndarray(metaclass=_ArrayTypeMeta):  # noqa: N801 - stands in for np.ndarray in isinstance()
    """`isinstance(x, np.ndarray)` works; building arrays goes through np.array/np.zeros/..."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("np.ndarray(...) is not available to programs; use np.array, np.zeros or np.empty")


def _members(module, names) -> dict:
    return {name: getattr(module, name) for name in sorted(names) if hasattr(module, name)}


# ----- fresh memory is zeroed, read-only arrays stay read-only --------------------------------------
def _out_given(args, kwargs, n_inputs: int) -> bool:
    out = kwargs.get("out", None)
    if len(args) > n_inputs:
        return True
    if isinstance(out, tuple):
        return any(o is not None for o in out)
    return out is not None


def _zero_unset(result, kwargs):
    """Entries a `where=` mask left out are uninitialised memory (possibly the parent's, from before
    the fork) when no `out=` was given: set them to 0."""
    where = kwargs.get("where", True)
    if where is True:
        return result
    skipped = ~np.asarray(where, dtype=bool)
    for array in (result if isinstance(result, tuple) else (result,)):
        if isinstance(array, np.ndarray):
            np.copyto(array, np.zeros((), dtype=array.dtype), where=skipped)
    return result


class SafeUfunc:
    """A numpy ufunc as programs see it: calls and `outer` zero the entries a `where=` mask skipped
    (when no `out=` is given), and `at` refuses a read-only target (numpy's `ufunc.at` writes
    through read-only arrays, e.g. the instance's `net.signal_w`)."""

    __slots__ = ("_ufunc",)

    def __init__(self, ufunc: np.ufunc):
        object.__setattr__(self, "_ufunc", ufunc)

    def __call__(self, *args, **kwargs):
        if "where" not in kwargs or _out_given(args, kwargs, self._ufunc.nin):
            return self._ufunc(*args, **kwargs)
        return _zero_unset(self._ufunc(*args, **{**kwargs, "out": self._no_out()}), kwargs)

    def outer(self, *args, **kwargs):
        if "where" not in kwargs or _out_given(args, kwargs, 2):
            return self._ufunc.outer(*args, **kwargs)
        return _zero_unset(self._ufunc.outer(*args, **{**kwargs, "out": self._no_out()}), kwargs)

    def _no_out(self):
        """`out=` meaning "allocate" (explicit, so numpy does not warn about `where` without `out`)."""
        return None if self._ufunc.nout == 1 else (None,) * self._ufunc.nout

    def at(self, a, *args, **kwargs):
        if not isinstance(a, np.ndarray) or not a.flags.writeable:
            raise ValueError(f"np.{self._ufunc.__name__}.at: the target is read-only (or not an array)")
        return self._ufunc.at(a, *args, **kwargs)

    def reduce(self, *args, **kwargs):
        return self._ufunc.reduce(*args, **kwargs)

    def accumulate(self, *args, **kwargs):
        return self._ufunc.accumulate(*args, **kwargs)

    def reduceat(self, *args, **kwargs):
        return self._ufunc.reduceat(*args, **kwargs)

    identity = property(lambda self: self._ufunc.identity)
    nin = property(lambda self: self._ufunc.nin)
    nout = property(lambda self: self._ufunc.nout)
    nargs = property(lambda self: self._ufunc.nargs)

    def __setattr__(self, name, value):
        raise AttributeError("np ufuncs are read-only")

    def __repr__(self) -> str:
        return f"<ufunc {self._ufunc.__name__!r}>"


def _zeros_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return np.zeros_like(a, dtype=dtype, order=order, subok=subok, shape=shape, **kwargs)


def _clip(a, *args, **kwargs):
    result = np.clip(a, *args, **kwargs)
    return result if _out_given(args, kwargs, 2) else _zero_unset(result, kwargs)


def _pad(array, pad_width, mode="constant", **kwargs):
    if mode == "empty":
        raise ValueError("np.pad(mode='empty') is not available to programs (uninitialised memory); "
                         "use mode='constant'")
    return np.pad(array, pad_width, mode=mode, **kwargs)


#: facade entries that differ from numpy's own: no uninitialised memory reaches a program
_ZEROED = {"empty": np.zeros, "empty_like": _zeros_like, "clip": _clip, "pad": _pad}


def _numpy_members() -> dict:
    members = _members(np, NUMPY_NAMES)
    for name, value in members.items():
        if isinstance(value, np.ufunc):
            members[name] = SafeUfunc(value)
    members.update((name, fn) for name, fn in _ZEROED.items() if name in NUMPY_NAMES)
    return members


LINALG = Facade("np.linalg", _members(np.linalg, LINALG_NAMES))
NUMPY = Facade("np", {**_numpy_members(), "ndarray": ndarray, "linalg": LINALG})
MATH = Facade("math", _members(math, MATH_NAMES))

#: what `import numpy` / `import math` give a program
MODULES = {"numpy": NUMPY, "math": MATH, "numpy.linalg": LINALG}

_UFUNC_NAMES = frozenset("reduce accumulate reduceat outer at identity nin nout nargs".split())
_INFO_NAMES = frozenset("min max bits eps tiny smallest_normal resolution dtype precision".split())
_DTYPE_NAMES = frozenset("kind name itemsize char str".split())

#: exact type -> attribute names a program may read
_BY_TYPE: dict[type, frozenset] = {
    np.ndarray: ARRAY_NAMES,
    np.random.Generator: RNG_NAMES,
    bool: _INT_NAMES, int: _INT_NAMES, float: _FLOAT_NAMES, complex: frozenset("real imag conjugate".split()),
    str: _STR_NAMES, list: _LIST_NAMES, tuple: frozenset(("count", "index")), dict: _DICT_NAMES,
    set: _SET_NAMES, frozenset: _FROZENSET_NAMES, range: frozenset(("start", "stop", "step", "count", "index")),
    slice: frozenset(("start", "stop", "step", "indices")),
    np.iinfo: _INFO_NAMES, np.finfo: _INFO_NAMES,
}


def allowed_attributes(obj) -> frozenset:
    """The attribute names a program may read on `obj` (empty: none)."""
    kind = type(obj)
    names = _BY_TYPE.get(kind)
    if names is not None:
        return names
    if kind is Facade:
        return obj.names
    if kind is NetView:
        return _netview_names(obj)
    if isinstance(obj, np.generic):
        return ARRAY_NAMES
    if kind is SafeUfunc:
        return _UFUNC_NAMES
    if isinstance(obj, np.dtype):
        return _DTYPE_NAMES
    if isinstance(obj, BaseException):
        return frozenset(("args",))
    return frozenset()


def _netview_names(view) -> frozenset:
    """`net`'s public API: its documented methods and data attributes (nothing starting with '_')."""
    names = _NETVIEW_CACHE.get(NetView)
    if names is None:
        names = frozenset(name for name in dir(NetView) if not name.startswith("_"))
        _NETVIEW_CACHE[NetView] = names
    return names | frozenset(name for name in vars(view) if not name.startswith("_"))


_NETVIEW_CACHE: dict = {}

#: `x op= y` for names (and, through the guard, items)
INPLACE_OPERATORS = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
    "@=": operator.imatmul,
}

__all__ = ["ARRAY_NAMES", "Facade", "SafeUfunc", "INPLACE_OPERATORS", "LINALG", "MATH", "MODULES", "NUMPY", "NUMPY_NAMES",
           "RNG_NAMES", "allowed_attributes"]
