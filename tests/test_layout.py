"""The package's shape (docs/architecture.md): short modules, no import cycle, layers importing only
from the layers above them, heavy optional libraries imported lazily, no development script inside."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lsa"
#: the layers in order; a module may import only from its own layer or one listed before it
LAYERS = [("errors", "io", "config", "lazy"), ("sim",), ("engine",), ("methods",), ("programs",), ("policy",), ("rl",),
          ("workflow",), ("commands", "cli")]
HEAVY = ("torch", "transformers", "trl", "peft", "matplotlib", "stable_baselines3", "sb3_contrib")
MAX_LINES = 460
#: modules that define torch/SB3 classes; nothing imports them at module level (checked below)
TORCH_MODULES = {"lsa.rl.policies"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _top_level_imports(path: Path) -> list[str]:
    """Modules imported at module level (not inside functions), resolved to absolute names."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if top in names) if top else -1


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short_and_imports_point_one_way(module):
    path = MODULES[module]
    assert len(path.read_text().splitlines()) <= MAX_LINES, f"{module} is longer than {MAX_LINES} lines"
    if module == "lsa" or module.startswith("lsa.data"):
        return
    for name in _top_level_imports(path):
        assert module in TORCH_MODULES or name.split(".")[0] not in HEAVY, f"{module} imports {name} at module level"
        assert name not in TORCH_MODULES, f"{module} imports {name} (torch) at module level"
        if name.startswith("lsa.") and name in MODULES:
            assert _layer(name) <= _layer(module), f"{module} imports {name} from a layer below it"


def test_no_import_cycle():
    graph = {m: {n for n in _top_level_imports(p) if n in MODULES and n != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in graph[m]:
            # a package's __init__ importing its own submodules is how a package exposes them
            if n.startswith(m + "."):
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_development_script_inside_the_package():
    for module, path in MODULES.items():
        if module in ("lsa.cli",):
            continue
        assert '__name__ == "__main__"' not in path.read_text(), f"{module} is a script; move it to scripts/"


def test_the_command_and_the_classical_methods_do_not_load_heavy_libraries():
    import subprocess
    import sys

    code = ("import sys, lsa.cli, lsa.methods; lsa.methods.all_methods(); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_searches_use_the_move_state_public_api():
    """lsa.engine.search works on a `MoveState` through its public methods, never its private attributes."""
    tree = ast.parse(MODULES["lsa.engine.search"].read_text())
    private = sorted({f"{ast.unparse(node.value)}.{node.attr}" for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")})
    assert private == [], f"lsa.engine.search reaches into private attributes: {private}"
