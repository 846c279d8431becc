"""Static checks of a generated program (SPEC §7): parse it and match it against the allow-list
before anything runs. Raises `ProgramRejected` with the first problem found and where it is.
"""
from __future__ import annotations

import ast
import math

import numpy as np

from lsa.errors import LSAError

#: programs longer than this are rejected before parsing
SOURCE_CAP_CHARS = 100_000


class ProgramRejected(LSAError):
    """A program failed the static checks (syntax, allow-list, no `def assign`)."""

    def __init__(self, message: str, reason: str = "disallowed"):
        super().__init__(message)
        self.reason = reason                  # 'syntax' | 'disallowed' | 'no_assign'



# ------------------------------------------------------------------------------------------------
# static checks
# ------------------------------------------------------------------------------------------------
_ALLOWED_NODES = tuple(getattr(ast, name) for name in (
    "Module", "FunctionDef", "arguments", "arg", "Return", "Assign", "AugAssign", "AnnAssign",
    "For", "While", "If", "With", "withitem", "Break", "Continue", "Pass", "Expr", "Raise", "Try",
    "ExceptHandler", "Assert", "Delete", "Import", "ImportFrom", "alias", "Nonlocal", "Global",
    "BoolOp", "BinOp", "UnaryOp", "Lambda", "IfExp", "Dict", "Set", "ListComp", "SetComp",
    "DictComp", "GeneratorExp", "comprehension", "Compare", "Call", "keyword", "Constant",
    "Attribute", "Subscript", "Slice", "Starred", "Name", "List", "Tuple", "NamedExpr",
    "JoinedStr", "FormattedValue", "Yield",
    "Load", "Store", "Del",
    "And", "Or", "Add", "Sub", "Mult", "MatMult", "Div", "Mod", "Pow", "LShift", "RShift", "BitOr",
    "BitXor", "BitAnd", "FloorDiv", "Invert", "Not", "UAdd", "USub", "Eq", "NotEq", "Lt", "LtE",
    "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
) if hasattr(ast, name))

#: modules a program may import (all are already in its namespace)
ALLOWED_IMPORTS = {"numpy": np, "math": math, "numpy.linalg": np.linalg, "numpy.random": np.random,
                   "numpy.fft": np.fft}

#: names a program may not mention (besides every dunder name)
_DENIED_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals",
    "locals", "vars", "dir", "input", "breakpoint", "help", "exit", "quit",
    "os", "sys", "subprocess", "builtins", "importlib", "ctypes", "signal", "socket",
})

#: attribute names a program may not use on any object (besides every name starting with '_')
_DENIED_ATTRIBUTES = frozenset({
    # frames, code and generator internals (the classic escapes that avoid dunders)
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "cr_frame", "cr_code", "cr_await", "ag_frame",
    "ag_code", "ag_await", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace",
    "tb_frame", "tb_next", "co_code", "co_consts", "func_globals", "func_code", "mro", "with_traceback",
    # numpy ways to files, raw memory and other modules
    "ctypes", "ctypeslib", "tofile", "dump", "dumps", "load", "loads", "save", "savez",
    "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap",
    "open_memmap", "DataSource", "lib", "f2py", "distutils", "testing", "core", "multiarray", "umath",
    "as_strided", "stride_tricks", "setflags", "base", "show_config", "show_runtime", "info",
    "get_include", "format_map", "cffi",
    # stdlib modules that numpy or math objects might expose
    "os", "sys", "subprocess", "builtins", "importlib", "signal", "socket", "pathlib", "shutil",
})


def _reject(message: str, reason: str = "disallowed"):
    raise ProgramRejected(f"program rejected: {message}", reason)


def check_program(source: str) -> int:
    """Parse and check `source` against the allow-list; return its AST node count.

    Raises `ProgramRejected` (an `LSAError`) with the first problem found and where it is.
    """
    if not isinstance(source, str):
        _reject(f"source must be a str, got {type(source).__name__}", "syntax")
    if len(source) > SOURCE_CAP_CHARS:
        _reject(f"source is {len(source)} characters, over the {SOURCE_CAP_CHARS} limit", "syntax")
    try:
        tree = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError) as exc:     # ValueError: NUL bytes
        line = getattr(exc, "lineno", None)
        _reject(f"syntax error{f' at line {line}' if line else ''}: {getattr(exc, 'msg', exc)}", "syntax")
    except RecursionError:
        _reject("nesting too deep to parse", "syntax")
    nodes = 0
    has_assign = False
    for node in ast.walk(tree):
        nodes += 1
        where = f" (line {getattr(node, 'lineno', '?')})"
        if not isinstance(node, _ALLOWED_NODES):
            _reject(f"{type(node).__name__} is not allowed{where}")
        if isinstance(node, ast.Name) and (_dunder(node.id) or node.id in _DENIED_NAMES):
            _reject(f"name {node.id!r} is not allowed{where}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr in _DENIED_ATTRIBUTES:
                _reject(f"attribute {node.attr!r} is not allowed{where}")
            if not isinstance(node.ctx, ast.Load):
                _reject(f"assigning or deleting an attribute ({node.attr!r}) is not allowed{where}")
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            if isinstance(node, ast.FunctionDef):
                if node.decorator_list:
                    _reject(f"decorators are not allowed{where}")
                if _dunder(node.name) or node.name in _DENIED_NAMES:
                    _reject(f"function name {node.name!r} is not allowed{where}")
        elif isinstance(node, ast.arg) and (_dunder(node.arg) or node.arg in _DENIED_NAMES):
            _reject(f"argument name {node.arg!r} is not allowed{where}")
        elif isinstance(node, ast.keyword) and node.arg is not None and _dunder(node.arg):
            _reject(f"keyword {node.arg!r} is not allowed{where}")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bad = [name for name in node.names if _dunder(name) or name in _DENIED_NAMES]
            if bad:
                _reject(f"name {bad[0]!r} is not allowed{where}")
        elif isinstance(node, ast.ExceptHandler) and node.name and _dunder(node.name):
            _reject(f"name {node.name!r} is not allowed{where}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            if "__" in text:
                _reject(f"string constants may not contain '__'{where}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS:
                    _reject(f"import of {alias.name!r} is not allowed (numpy and math only){where}")
                if alias.asname and (_dunder(alias.asname) or alias.asname in _DENIED_NAMES):
                    _reject(f"import alias {alias.asname!r} is not allowed{where}")
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module not in ALLOWED_IMPORTS:
                _reject(f"import from {node.module!r} is not allowed (numpy and math only){where}")
            for alias in node.names:
                if (alias.name == "*" or alias.name.startswith("_") or alias.name in _DENIED_ATTRIBUTES
                        or alias.name in _DENIED_NAMES):
                    _reject(f"importing {alias.name!r} is not allowed{where}")
                if alias.asname and (_dunder(alias.asname) or alias.asname in _DENIED_NAMES):
                    _reject(f"import alias {alias.asname!r} is not allowed{where}")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "assign":
            has_assign = True
    if not has_assign:
        _reject("no top-level `def assign(net, rng):`", "no_assign")
    return nodes


def _dunder(name: str) -> bool:
    return name.startswith("__")

