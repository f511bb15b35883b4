"""The package's layout by concept, checked on its source: each module's imports point down the
layers (front doors -> training -> models, losses, optimizers -> layers -> backends), no import
circle, small functions, capabilities instead of names, and the benchmark driver on the public API."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


# the layers of the package, bottom up: a module may import its own layer and the ones below
LAYERS = [
    ("backends", ["mlp.backends"]),
    ("helpers", ["mlp.checks", "mlp.numerics", "mlp.registry", "mlp.defaults"]),
    ("files and data", ["mlp.io", "mlp.data"]),
    ("layers", ["mlp.nn"]),
    ("models, losses, optimizers", ["mlp.heads", "mlp.losses", "mlp.metrics", "mlp.optim", "mlp.model"]),
    ("training", ["mlp.training"]),
    ("front doors", ["mlp.cli", "mlp.sklearn", "mlp.plotting", "mlp.bench", "mlp.__main__", "mlp"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "mlp").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    for path in sorted((ROOT / "backends").glob("*.py")):
        name = "mlp.backends" if path.stem == "__init__" else f"mlp.backends.{path.stem}"
        out[name] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    assert best is not None, f"{module} is in no layer of the table"
    return best[0]


def _imports(module: str) -> set[str]:
    """The mlp modules `module` imports, at its top or inside its functions (both are dependencies)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != module}


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


def test_nothing_points_up():
    up = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
        for m in MODULES
        for d in sorted(_imports(m))
        if _layer(d) > _layer(m) and not (m.startswith("mlp.backends") and d.startswith("mlp.backends"))
    ]
    assert not up, "\n".join(up)


def test_backends_import_nothing_from_the_rest_of_mlp():
    for m in (m for m in MODULES if m.startswith("mlp.backends")):
        assert all(d.startswith("mlp.backends") for d in _imports(m)), (m, _imports(m))


def test_no_import_circle():
    graph = {m: _imports(m) - {m} for m in MODULES}
    # a package's __init__ re-exporting its modules is not a circle with them
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m) :] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for d in sorted(graph[m]):
            visit(d)
        stack.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, cycles[:3]


def _functions():
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield module, node


def test_no_function_body_over_60_lines():
    long = []
    for module, node in _functions():
        body = node.body
        doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
        start = body[1].lineno if doc and len(body) > 1 else body[0].lineno
        if node.end_lineno - start + 1 > 60:
            long.append(f"{module}.{node.name}: {node.end_lineno - start + 1} lines")
    assert not long, long


def _compares_a_name(node) -> bool:
    sides = [node.left, *node.comparators]
    return any(isinstance(s, ast.Attribute) and s.attr == "name" for s in sides)


def test_the_core_asks_capabilities_not_names():
    """No comparison of a ``.name`` (a backend's, a loss's): the core asks what a thing can do."""
    found = []
    for module, path in MODULES.items():
        if module.startswith("mlp.backends") or module == "mlp.bench" or module.startswith("mlp.bench."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and _compares_a_name(node):
                found.append(f"{module}:{node.lineno}")
    assert not found, found


def test_fast_is_read_once_at_the_door_and_the_step_is_not_compiled_elsewhere():
    uses = []
    for module, path in MODULES.items():
        text = path.read_text()
        assert "compile_step" not in text, module
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Name) and node.id == "fast":
                uses.append(f"{module}:{node.lineno}")
            if isinstance(node, ast.Constant) and node.value == "fast":
                uses.append(f"{module}:{node.lineno} (the door)")
    assert uses == [f"mlp.training.loop:{_door_line()} (the door)"], uses


def _door_line() -> int:
    text = MODULES["mlp.training.loop"].read_text().splitlines()
    return next(i for i, line in enumerate(text, 1) if 'a["fast"]' in line)


def _public(module: str, name: str) -> bool:
    """Whether `module.name` is public API: a name without a leading underscore in a public module."""
    mod = importlib.import_module(module)
    return not name.startswith("_") and not any(p.startswith("_") for p in module.split(".")) and hasattr(mod, name)


def test_the_benchmark_driver_uses_the_public_api_only():
    private = []
    for module, path in MODULES.items():
        if not module.startswith("mlp.bench"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlp"):
                if node.module.startswith("mlp.bench"):
                    continue
                bad = [a.name for a in node.names if not _public(node.module, a.name)]
                allowed = node.module in ("mlp", "mlp.backends", "mlp.data")
                if bad or not allowed:
                    private.append(f"{module}:{node.lineno} from {node.module} import {[a.name for a in node.names]}")
    assert not private, private


@pytest.mark.parametrize(
    "package", ["mlp.nn", "mlp.model", "mlp.optim", "mlp.training", "mlp.io", "mlp.cli", "mlp.bench"]
)
def test_each_package_says_what_it_holds(package):
    assert (importlib.import_module(package).__doc__ or "").strip(), f"{package} has no docstring"
