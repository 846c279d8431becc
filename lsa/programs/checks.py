"""The program language (docs/sandbox.md): RestrictedPython compilation with our policy, the guards every
attribute, item, iteration, write and call goes through, and the allow-listed namespace a program runs in.

Allow-list, not deny-list: a program sees `np` (a facade of named pure numpy functions), `math`,
`net`, `rng` and a small set of builtins; every `a.b` is checked against `facade.allowed_attributes`.
"""
from __future__ import annotations

import ast
import builtins
import stat
import sys
from pathlib import Path

import numpy as np
from RestrictedPython import compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer, copy_locations

from lsa.errors import LSAError
from lsa.programs.facade import INPLACE_OPERATORS, MODULES, allowed_attributes

#: programs longer than this are rejected before parsing
SOURCE_CAP_CHARS = 100_000
#: a program file is refused above this many bytes before it is read (4 bytes per character)
SOURCE_CAP_BYTES = 4 * SOURCE_CAP_CHARS


def read_program(path: Path) -> str:
    """The source in program file `path`, its size checked on the file before reading (a huge file
    is never read into memory); a missing, special, oversized or non-UTF-8 file is an `LSAError`."""
    try:
        info = path.stat()
    except OSError:
        raise LSAError(f"program file not found: {path}") from None
    if not stat.S_ISREG(info.st_mode):
        raise LSAError(f"program file not found: {path} (not a regular file)")
    if info.st_size > SOURCE_CAP_BYTES:
        raise LSAError(f"program file {path} has {info.st_size:,} bytes, over the {SOURCE_CAP_BYTES:,}-byte limit "
                       f"({SOURCE_CAP_CHARS:,} characters)")
    try:
        with open(path, "rb") as fh:
            data = fh.read(SOURCE_CAP_BYTES + 1)
        if len(data) > SOURCE_CAP_BYTES:
            raise LSAError(f"program file {path} grew past the {SOURCE_CAP_BYTES:,}-byte limit while read")
        return data.decode("utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise LSAError(f"cannot read program {path}: {exc.__class__.__name__}") from None


class ProgramRejected(LSAError):
    """A program failed the static checks (syntax, allow-list, no `def assign`)."""

    def __init__(self, message: str, reason: str = "disallowed"):
        super().__init__(message)
        self.reason = reason                  # 'syntax' | 'disallowed' | 'no_assign'


# ------------------------------------------------------------------------------------------------
# compilation
# ------------------------------------------------------------------------------------------------
class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy (no names or attributes starting with '_', guarded attribute,
    item, iteration and write access, no exec/eval, no async, no `nonlocal`), plus: no classes
    (they would bring dunder methods), imports only of numpy/math, and `x[i] += v` allowed
    through the item guards."""

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed (write functions)")

    def visit_Import(self, node):
        self._check_modules(node, [alias.name for alias in node.names])
        return super().visit_Import(node)

    def visit_ImportFrom(self, node):
        self._check_modules(node, [node.module or ""] if not node.level else ["." * node.level])
        return super().visit_ImportFrom(node)

    def _check_modules(self, node, names):
        for name in names:
            if name not in MODULES:
                self.error(node, f"import of {name!r} is not allowed (numpy and math only)")

    def visit_Attribute(self, node):
        if not isinstance(node.ctx, ast.Load):
            self.error(node, f"assigning or deleting an attribute ({node.attr!r}) is not allowed")
        return super().visit_Attribute(node)

    def visit_AugAssign(self, node):
        if not isinstance(node.target, ast.Subscript):
            return super().visit_AugAssign(node)
        op = IOPERATOR_TO_STR.get(type(node.op)) or {ast.MatMult: "@="}.get(type(node.op))
        if op is None:
            self.error(node, f"augmented assignment {type(node.op).__name__} is not allowed")
            return node
        # a[i] op= v  ->  _aug_item_(a, i, 'op=', v): the item is read and written through the guards
        obj, key, value = (self.visit(part) for part in (node.target.value, node.target.slice, node.value))
        call = ast.Expr(ast.Call(func=ast.Name("_aug_item_", ast.Load()),
                                 args=[obj, key, ast.Constant(op), value], keywords=[]))
        copy_locations(call, node)
        return call


def _reject(message: str, reason: str = "disallowed"):
    raise ProgramRejected(f"program rejected: {message}", reason)


def compile_program(source: str):
    """Check `source` and compile it with the restricted policy; return (code, AST node count).

    Raises `ProgramRejected` (an `LSAError`) with the first problem found and where it is."""
    if not isinstance(source, str):
        _reject(f"source must be a str, got {type(source).__name__}", "syntax")
    if len(source) > SOURCE_CAP_CHARS:
        _reject(f"source is {len(source)} characters, over the {SOURCE_CAP_CHARS} limit", "syntax")
    try:
        tree = ast.parse(source, "<program>", "exec")
        nodes = sum(1 for _ in ast.walk(tree))
    except (SyntaxError, ValueError) as exc:     # ValueError: NUL bytes
        line = getattr(exc, "lineno", None)
        _reject(f"syntax error{f' at line {line}' if line else ''}: {getattr(exc, 'msg', exc)}", "syntax")
    except (RecursionError, MemoryError):
        _reject("nesting too deep to parse", "syntax")
    if not any(isinstance(node, ast.FunctionDef) and node.name == "assign" for node in tree.body):
        _reject("no top-level `def assign(net, rng):`", "no_assign")
    try:
        result = compile_restricted_exec(tree, "<program>", policy=_Policy)
    except (RecursionError, MemoryError):
        _reject("nesting too deep to compile", "syntax")
    except (SyntaxError, ValueError, TypeError) as exc:
        _reject(f"cannot compile: {exc}", "syntax")
    if result.errors:
        _reject(str(result.errors[0]))
    return result.code, nodes


def check_program(source: str) -> int:
    """Parse and check `source` against the allow-list; return its AST node count (R_depth uses it)."""
    return compile_program(source)[1]


# ------------------------------------------------------------------------------------------------
# guards (RestrictedPython calls these for every attribute, item, iteration, write and *-call)
# ------------------------------------------------------------------------------------------------
_NO_DEFAULT = object()


def guarded_getattr(obj, name, default=_NO_DEFAULT):
    """`obj.name` for programs: only the names `facade.allowed_attributes(obj)` lists."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name not in allowed_attributes(obj):
        if default is not _NO_DEFAULT:
            return default
        raise AttributeError(f"'{_type_name(obj)}' attribute '{name}' is not available to programs")
    if default is _NO_DEFAULT:
        return getattr(obj, name)
    return getattr(obj, name, default)


def guarded_hasattr(obj, name) -> bool:
    return guarded_getattr(obj, name, _NO_DEFAULT_HAS) is not _NO_DEFAULT_HAS


_NO_DEFAULT_HAS = object()


def _type_name(obj) -> str:
    if type(obj).__name__ == "Facade":
        return repr(obj).split(":")[0].lstrip("<")
    return type(obj).__name__


_ITEM_TYPES = (list, tuple, dict, str, bytes, range)


def guarded_getitem(obj, key):
    if isinstance(obj, (*_ITEM_TYPES, np.ndarray, np.generic)):
        return obj[key]
    raise TypeError(f"'{_type_name(obj)}' object is not subscriptable in programs")


class _ItemWriter:
    """What `_write_` returns: item assignment and deletion pass through, attribute writes do not."""

    __slots__ = ("_target",)

    def __init__(self, target):
        object.__setattr__(self, "_target", target)

    def __setitem__(self, key, value):
        self._target[key] = value

    def __delitem__(self, key):
        del self._target[key]

    def __setattr__(self, name, value):
        raise AttributeError("programs cannot set attributes")

    def __delattr__(self, name):
        raise AttributeError("programs cannot delete attributes")


def guarded_write(obj):
    if isinstance(obj, (list, dict, np.ndarray)):
        return _ItemWriter(obj)
    raise TypeError(f"programs cannot modify a '{_type_name(obj)}' object")


def guarded_inplace(op: str, target, value):
    try:
        return INPLACE_OPERATORS[op](target, value)
    except KeyError:
        raise TypeError(f"operator {op} is not allowed") from None


def guarded_aug_item(obj, key, op: str, value):
    guarded_write(obj)[key] = guarded_inplace(op, guarded_getitem(obj, key), value)


def guarded_apply(func, *args, **kwargs):
    return func(*args, **kwargs)


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """`import` for programs: numpy and math give their facades. Any other name can only come from
    numpy's C code, which imports its own helper modules lazily through the calling frame's
    `__import__` (PyImport_Import) and uses sys.modules, not our return value; import statements of
    other modules are refused when compiling. So: already loaded modules pass, nothing new loads."""
    if not level and name in MODULES:
        return MODULES[name] if fromlist or "." not in name else MODULES[name.split(".")[0]]
    if not level and name in sys.modules:
        return sys.modules[name]
    raise ImportError(f"import of {name!r} is not allowed (numpy and math only)")


class CappedOutput:
    """`print` for programs: keeps the first `cap_bytes` bytes, counts all of them."""

    def __init__(self, cap_bytes: int):
        self.cap_bytes = cap_bytes
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0

    def write(self, *args, sep=" ", end="\n", **_ignored):
        text = (" " if sep is None else str(sep)).join(str(a) for a in args) + ("\n" if end is None else str(end))
        self.total += len(text.encode("utf-8", "replace"))
        if self.kept < self.cap_bytes:
            piece = text[:self.cap_bytes - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)

    def text(self) -> str:
        return "".join(self.parts)


class _Printer:
    """RestrictedPython turns `print(...)` into `_print._call_print(...)`, `_print = _print_(_getattr_)`."""

    def __init__(self, output: CappedOutput):
        self._output = output

    def __call__(self, _getattr_=None):
        return self

    def _call_print(self, *args, **kwargs):
        self._output.write(*args, **kwargs)


_SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "ascii", "bin", "bool", "callable", "chr", "complex", "dict", "divmod",
    "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "oct", "ord", "pow", "range",
    "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "FloatingPointError",
    "IndexError", "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError",
    "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError", "ImportError",
    "MemoryError", "RecursionError",
)


def program_namespace(output: CappedOutput) -> dict:
    """The globals a restricted program runs with: allow-listed builtins and the guard hooks."""
    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update(getattr=guarded_getattr, hasattr=guarded_hasattr, __import__=guarded_import)
    return {
        "__builtins__": safe, "__name__": "program",
        "_getattr_": guarded_getattr, "_getitem_": guarded_getitem, "_getiter_": iter,
        "_write_": guarded_write, "_inplacevar_": guarded_inplace, "_aug_item_": guarded_aug_item,
        "_apply_": guarded_apply, "_print_": _Printer(output),
        "_unpack_sequence_": guarded_unpack_sequence, "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "np": MODULES["numpy"], "numpy": MODULES["numpy"], "math": MODULES["math"],
    }


__all__ = ["CappedOutput", "ProgramRejected", "SOURCE_CAP_BYTES", "SOURCE_CAP_CHARS", "read_program", "check_program", "compile_program",
           "guarded_getattr", "program_namespace"]
