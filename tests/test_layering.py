"""One-way layers (core -> physics/ML packages, never back): an AST test over the source tree.

* ``lfqcd/`` (the generic core) never imports ``heavy_meson`` or ``mlsurrogate``; only the CLI
  wiring in ``lfqcd/cli.py`` may name them (as import strings of subcommands).
* ``torch`` is imported only under ``mlsurrogate/``. The one tolerated exception elsewhere is a
  re-binding guarded by ``if "torch" in sys.modules:`` (``lfqcd/threads.py`` pins the threads of a
  torch that someone else already loaded), which never loads torch.
* ``lfqcd.basis`` (the bottom layer) imports nothing from operators, assembly or solvers.

Static imports, ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name and
relative imports are all checked. Modules that do not exist yet are simply not scanned.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_files(*folders: str) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        base = ROOT / folder
        if base.is_dir():
            files += sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    return files


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _torch_guard(node: ast.AST, parents: dict) -> bool:
    """True inside ``if "torch" in sys.modules:``."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            t = node.test
            if (isinstance(t.left, ast.Constant) and t.left.value == "torch"
                    and len(t.ops) == 1 and isinstance(t.ops[0], ast.In)
                    and ast.unparse(t.comparators[0]) == "sys.modules"):
                return True
    return False


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a torch-loaded guard) for every import in ``path``."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    return imports_in(path.read_text(), package, str(path))


def imports_in(source: str, package: str, filename: str = "<src>") -> list[tuple[str, int, bool]]:
    tree = ast.parse(source, filename=filename)
    parents = _parents(tree)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                if node.module:
                    names = [".".join([*base, node.module])]
                else:  # from . import a, b: each name may be a module
                    names = [".".join([*base, a.name]) for a in node.names]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in ("importlib.import_module", "import_module", "__import__") and isinstance(
                    node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            found.append((name, node.lineno, _torch_guard(node, parents)))
    return found


def _top(name: str) -> str:
    return name.split(".")[0]


CORE_FILES = [p for p in python_files("lfqcd") if p.relative_to(ROOT).as_posix() != "lfqcd/cli.py"]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in CORE_FILES])
def test_core_never_imports_the_applications(path):
    bad = [(n, line) for n, line, _ in imports(path) if _top(n) in ("heavy_meson", "mlsurrogate")]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: lfqcd/ must not depend on applications"


# the ML benchmarks and examples are drivers of mlsurrogate (they exist to run torch); the rule
# is about the physics packages and the non-ML scripts
_ML_SCRIPTS = {"benchmarks/phantom_vs_tensor.py", "examples/train_surrogate.py",
               "benchmarks/al_vs_random.py", "benchmarks/streaming_vs_sequential.py",
               "examples/active_learning.py"}
NON_ML_FILES = [p for p in python_files("lfqcd", "heavy_meson", "benchmarks", "examples")
                if p.relative_to(ROOT).as_posix() not in _ML_SCRIPTS]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in NON_ML_FILES])
def test_torch_only_under_mlsurrogate(path):
    bad = [(n, line) for n, line, guarded in imports(path) if _top(n) == "torch" and not guarded]
    assert not bad, f"{path.relative_to(ROOT)} imports torch at {bad}: torch belongs to mlsurrogate/"


def test_basis_is_the_bottom_layer():
    path = ROOT / "lfqcd" / "basis.py"
    names = {n for n, _, _ in imports(path) if _top(n) == "lfqcd"}
    assert names <= {"lfqcd.errors"}, names


def test_scanner_sees_what_it_must():
    """The AST scanner itself: a top-level, a nested, a relative, a dynamic and a guarded import."""
    src = (
        "import os\n"
        "from . import sibling\n"
        "def f():\n"
        "    import torch.nn\n"
        "    importlib.import_module('heavy_meson.run')\n"
        "if 'torch' in sys.modules:\n"
        "    import torch\n"
    )
    got = imports_in(src, "lfqcd")
    assert ("os", 1, False) in got
    assert ("lfqcd.sibling", 2, False) in got
    assert ("torch.nn", 4, False) in got
    assert ("heavy_meson.run", 5, False) in got
    assert ("torch", 7, True) in got


def test_core_import_does_not_load_torch_or_applications():
    """Runtime counterpart: importing the core modules loads no torch and no application."""
    core = ["basis", "assembly", "operators", "hamiltonian", "symmetry", "eigen", "thooft",
            "extrapolate", "couplings", "units", "errors", "info", "backend", "threads"]
    present = [m for m in core if (ROOT / "lfqcd" / f"{m}.py").exists()]
    code = ("import sys\n" + "".join(f"import lfqcd.{m}\n" for m in present)
            + "print(sorted(m for m in ('torch', 'heavy_meson', 'mlsurrogate') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


# --------------------------------------------------------------------------------------------
# mlsurrogate: layout by job, imports only downward
# --------------------------------------------------------------------------------------------
#: Every module of mlsurrogate, lowest first. A module may import only modules listed *before*
#: it (and anything outside mlsurrogate); a new module must be placed here. The package
#: ``mlsurrogate`` itself (lazy public API) is the top and may not be imported from inside.
ML_ORDER = [
    # base: no torch.distributed, no networks
    "mlsurrogate.errors",
    "mlsurrogate.seeds",
    "mlsurrogate.arch",
    "mlsurrogate.data",
    "mlsurrogate.costmodel",
    "mlsurrogate.energy",
    "mlsurrogate.config",
    "mlsurrogate.report",
    # single-process networks
    "mlsurrogate.models.layers",
    "mlsurrogate.models.dense",
    # torch.distributed
    "mlsurrogate.parallel.collectives",
    "mlsurrogate.parallel.runtime",
    "mlsurrogate.parallel.tensor",
    "mlsurrogate.parallel.phantom",
    # every mode's network and the checkpoint object
    "mlsurrogate.surrogate",
    # training
    "mlsurrogate.train.loop",
    "mlsurrogate.train.api",
    "mlsurrogate.train.run",
    "mlsurrogate.train.worker",
    "mlsurrogate.train.cli",
    # active learning
    "mlsurrogate.active.config",
    "mlsurrogate.active.simulators.standin",
    "mlsurrogate.active.simulators.client",
    "mlsurrogate.active.policy",
    "mlsurrogate.active.folder",
    "mlsurrogate.active.uncertainty",
    "mlsurrogate.active.rounds",
    "mlsurrogate.active.streaming",
    "mlsurrogate.active.run",
    "mlsurrogate.active.cli",
    # inverse problem through the surrogate, and prediction from a saved model
    "mlsurrogate.inverse.config",
    "mlsurrogate.inverse.standin",
    "mlsurrogate.inverse.lightlight",
    "mlsurrogate.inverse.forward",
    "mlsurrogate.inverse.posterior",
    "mlsurrogate.inverse.ensemble",
    "mlsurrogate.inverse.report",
    "mlsurrogate.inverse.run",
    "mlsurrogate.inverse.cli",
    "mlsurrogate.predict",
]
#: Sub-packages: their __init__ only documents; importing one counts as its first module.
ML_PACKAGES = ["mlsurrogate.models", "mlsurrogate.parallel", "mlsurrogate.train",
               "mlsurrogate.active", "mlsurrogate.active.simulators", "mlsurrogate.inverse"]


def _rank(name: str, order: list[str]) -> int | None:
    """Position of the module ``name`` (or the module a ``from M import x`` names) in ``order``."""
    for cand in (name, name.rsplit(".", 1)[0]):
        if cand in order:
            return order.index(cand)
        if cand in ML_PACKAGES:
            return min(i for i, m in enumerate(order) if m.startswith(cand + "."))
    return None


def upward_imports(module: str, names: list[tuple[str, int]], order: list[str]) -> list[str]:
    """The imports of ``module`` that are not strictly below it in ``order`` (self excluded)."""
    own = order.index(module)
    bad = []
    for name, line in names:
        if _top(name) != "mlsurrogate" or name == module:
            continue
        r = _rank(name, order)
        if r is None or r >= own:
            bad.append(f"line {line}: {name}")
    return bad


ML_FILES = python_files("mlsurrogate")


def test_every_mlsurrogate_module_has_a_layer():
    mods = {module_name(p) for p in ML_FILES} - {"mlsurrogate", *ML_PACKAGES}
    assert mods == set(ML_ORDER), (
        f"not placed in ML_ORDER: {sorted(mods - set(ML_ORDER))}; "
        f"listed but missing: {sorted(set(ML_ORDER) - mods)}")


@pytest.mark.parametrize("path", [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in ML_FILES])
def test_mlsurrogate_imports_only_downward(path):
    mod = module_name(path)
    names = [(n, line) for n, line, _ in imports(path)]
    if mod == "mlsurrogate":
        return  # the lazy public API names its modules as strings only
    if mod in ML_PACKAGES:
        bad = [f"line {line}: {n}" for n, line in names if _top(n) == "mlsurrogate"]
        assert not bad, f"{mod}/__init__ must stay empty of imports (it is loaded first): {bad}"
        return
    bad = upward_imports(mod, names, ML_ORDER)
    assert not bad, f"{mod} imports upward or sideways (see ML_ORDER in this file): {bad}"


def test_layer_check_catches_an_upward_import():
    """The checker itself: the old circles (models -> parallel, a policy -> streaming, the
    package root from inside) are reported; a downward import is not."""
    order = ML_ORDER
    assert upward_imports("mlsurrogate.models.dense",
                          [("mlsurrogate.parallel.phantom", 3)], order) == [
        "line 3: mlsurrogate.parallel.phantom"]
    assert upward_imports("mlsurrogate.active.rounds", [("mlsurrogate.active.streaming", 9)], order)
    assert upward_imports("mlsurrogate.train.loop", [("mlsurrogate", 1)], order)
    assert upward_imports("mlsurrogate.train.loop", [("mlsurrogate.unknown_module", 1)], order)
    assert not upward_imports("mlsurrogate.active.run",
                              [("mlsurrogate.active.streaming", 1), ("mlsurrogate.models", 2),
                               ("mlsurrogate.seeds", 3), ("numpy", 4)], order)


def test_one_derive_seed():
    """One seed-derivation function in the package (it lives in mlsurrogate.seeds)."""
    defs = [p.relative_to(ROOT).as_posix() for p in ML_FILES
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef) and node.name == "derive_seed"]
    assert defs == ["mlsurrogate/seeds.py"], defs


def test_one_gathered_export():
    """``all_gather_object`` is called in exactly one place (collectives.gather_objects)."""
    calls = [p.relative_to(ROOT).as_posix() for p in ML_FILES
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Attribute) and node.attr == "all_gather_object"]
    assert calls == ["mlsurrogate/parallel/collectives.py"], calls
