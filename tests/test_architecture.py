"""Import rules of the package, checked on the source of every module of ``src/breedomics``.

1. No module uses a private name (one starting with ``_``, dunders aside) of another
   subpackage: ``from breedomics.core.genotypes import _open_bed`` in ``census`` is
   refused, ``from breedomics.gs._gibbs import sample`` in ``gs`` is fine. A private
   module of another subpackage (``breedomics.census._common``) counts as a private
   name, and so does ``mod._name`` on a module imported from another subpackage.
   Top-level modules (``breedomics.sheets``, ``breedomics.cli``) are subpackages of
   their own.
2. No runtime module imports :mod:`breedomics.testing` (simulators and evaluators
   serve tests, benchmarks and the test-data scripts only).
3. No function outside :mod:`breedomics.core` computes a GRM, a dosage centring or a
   REML fit: a function named for one of them (``grm``, ``reml``, ``centre``,
   ``standardise``...; plots, tables and I/O aside) must hand the work to the core,
   directly or through functions that do.

The checker reads the source with :mod:`ast` (imports inside functions included) and
is itself tested on small snippets with known answers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "breedomics"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _subpackage(module: str) -> str:
    """``breedomics.gwas.scan`` -> ``gwas``; ``breedomics.sheets`` -> ``sheets``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(module: str, root: Path) -> bool:
    rel = Path(*module.split("."))
    return (root / rel).with_suffix(".py").exists() or (root / rel / "__init__.py").exists()


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_violations(source: str, module: str, is_package: bool = False, root: Path = SRC):
    """Broken rules of one module's source, as ``(line, message)`` pairs.

    Parameters
    ----------
    source : str
        Python source of the module.
    module : str
        Its dotted name (``breedomics.gwas.scan``).
    is_package : bool
        Whether it is a package's ``__init__`` (relative imports start there).
    root : Path
        Folder holding ``breedomics/``, to tell modules from other names.
    """
    own = _subpackage(module)
    out = []
    aliases: dict[str, str] = {}  # local name -> breedomics module of another subpackage
    testing_lines: set[int] = set()

    def check_target(line: int, target: str, what: str) -> None:
        parts = target.split(".")
        if parts[0] != "breedomics":
            return
        sub = _subpackage(target)
        if sub == "testing" and own != "testing" and line not in testing_lines:
            testing_lines.add(line)
            out.append((line, f"runtime module imports {target} ({what})"))
        if sub != own and any(_private(p) for p in parts[1:]):
            out.append((line, f"private module {target} of subpackage {sub!r} ({what})"))

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                check_target(node.lineno, a.name, f"import {a.name}")
                if a.name.startswith("breedomics.") and _subpackage(a.name) != own:
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            if not target or target.split(".")[0] != "breedomics":
                continue
            check_target(node.lineno, target, f"from {target} import ...")
            for a in node.names:
                full = f"{target}.{a.name}"
                sub = _subpackage(full)
                if _is_module(full, root):
                    check_target(node.lineno, full, f"from {target} import {a.name}")
                    if sub != own:
                        aliases[a.asname or a.name] = full
                elif _private(a.name) and _subpackage(target) != own:
                    out.append(
                        (
                            node.lineno,
                            f"private name {a.name} of {target} (subpackage "
                            f"{_subpackage(target)!r}) imported into {own!r}",
                        )
                    )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            out.append((node.lineno, f"private name {node.attr} of {aliases[node.value.id]} used"))
    return sorted(set(out))


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, _module_name(path), path.name == "__init__.py"


# --------------------------------------------------------------------------- the checker
@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("breedomics.gs.cv", "from breedomics.gs._gibbs import sample\n", 0),
        ("breedomics.gs.cv", "from ._gibbs import sample\n", 0),
        ("breedomics.census.pca", "from breedomics.core.genotypes import _open_bed\n", 1),
        ("breedomics.census.pca", "from ..core.genotypes import _open_bed, read_samples\n", 1),
        ("breedomics.gwas.scan", "from breedomics.census._common import x\n", 1),
        ("breedomics.census.pca", "from breedomics.census._common import x\n", 0),
        ("breedomics.gwas.scan", "import breedomics.census._common as c\n", 1),
        ("breedomics.omics.qvalue", "from breedomics.core import genotypes as g\ng._vcf(1)\n", 1),
        ("breedomics.omics.qvalue", "from breedomics.core import genotypes as g\ng.vcf(1)\n", 0),
        ("breedomics.cli", "from breedomics import __version__\n", 0),
        ("breedomics.gwas.scan", "def f():\n    from breedomics.testing import simulate\n", 1),
        ("breedomics.gwas.scan", "import breedomics.testing.simulate_gwas\n", 1),
        ("breedomics.gwas.scan", "from breedomics import testing\n", 1),
        ("breedomics.testing.simulate", "from breedomics.testing.simulate_gs import f\n", 0),
        ("breedomics.testing.simulate", "from breedomics.core.genotypes import write_bed\n", 0),
    ],
)
def test_checker_on_snippets(module, source, expected):
    assert len(import_violations(source, module)) == expected


# --------------------------------------------------------------------------- the package
def test_no_private_names_across_subpackages_and_no_testing_at_runtime():
    found = []
    for path, module, is_package in _modules():
        for line, msg in import_violations(path.read_text(), module, is_package):
            found.append(f"{path.relative_to(SRC)}:{line}: {msg}")
    assert not found, "import rules broken:\n" + "\n".join(found)


def test_every_subpackage_is_scanned():
    subs = {_subpackage(m) for _p, m, _i in _modules()}
    assert {"core", "census", "genotypes", "gwas", "gs", "omics", "phenome", "testing"} <= subs


# --------------------------------------------------------------------------- genetics in core
#: Names of functions that compute a GRM, a centring/standardisation or a REML fit.
GENETICS = re.compile(r"grm|reml|vanraden|kinship_matrix|cent(re|er)|standardi[sz]e", re.I)
#: Functions that only move such results around (I/O, tables, plots, PCA of a given GRM).
PRESENTATION = re.compile(r"^_?(plot|save|load|read|write)_|_table$|^pca_from_")


def _functions(source: str) -> dict[str, tuple[set[str], set[tuple[str, str]]]]:
    """Function and method names of a module -> (names its body uses, ``(obj, attr)`` pairs)."""
    out: dict[str, tuple[set[str], set[tuple[str, str]]]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names, attrs = out.setdefault(node.name, (set(), set()))
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    obj = sub.value.id if isinstance(sub.value, ast.Name) else ""
                    attrs.add((obj, sub.attr))
    return out


def _imports(source: str, module: str, is_package: bool) -> dict[str, str]:
    """Local name -> the dotted breedomics name it is bound to (module or module.name)."""
    out = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package) or ""
            if target.split(".")[0] == "breedomics":
                out.update({a.asname or a.name: f"{target}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("breedomics."):
                    out[a.asname or a.name] = a.name
    return out


def genetics_outside_core(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Functions outside ``core`` (and ``testing``) named for a GRM, centring or REML that
    do not hand the work to the core, directly or through functions that do.

    A function reaches the core when it calls a name imported from ``breedomics.core``
    (or an attribute of a core module), a function of its own module that reaches it, a
    function imported from another module that reaches it, or a method named for the
    genetics (``geno.grm()``) that reaches it. ``sources``: module -> (source, is_package).
    """
    funcs = {m: _functions(src) for m, (src, _) in sources.items()}
    imports = {m: _imports(src, m, pkg) for m, (src, pkg) in sources.items()}
    reach = {f"{m}.{n}" for m in sources if _subpackage(m) == "core" for n in funcs[m]}
    methods: set[str] = set()  # genetics-named methods that reach the core

    def reaches(module: str, names: set[str], attrs: set[tuple[str, str]]) -> bool:
        for name in names:
            target = imports[module].get(name)
            if target and (_subpackage(target) == "core" or target in reach):
                return True
            if f"{module}.{name}" in reach:
                return True
        for obj, attr in attrs:
            target = imports[module].get(obj)
            if target and _subpackage(target) == "core":
                return True
            if target and f"{target}.{attr}" in reach:
                return True
            if attr in methods:
                return True
        return False

    changed = True
    while changed:
        changed = False
        for module, fs in funcs.items():
            for name, (names, attrs) in fs.items():
                key = f"{module}.{name}"
                if key not in reach and reaches(module, names, attrs):
                    reach.add(key)
                    if GENETICS.search(name):
                        methods.add(name)
                    changed = True
    bad = []
    for module, fs in funcs.items():
        if _subpackage(module) in ("core", "testing"):
            continue
        for name in fs:
            if GENETICS.search(name) and not PRESENTATION.search(name):
                if f"{module}.{name}" not in reach:
                    bad.append(f"{module}.{name}")
    return sorted(bad)


def test_genetics_checker_on_snippets():
    core = "def accumulate_grm(x):\n    return x @ x.T\n"
    ok = "from breedomics.core.grm import accumulate_grm\n" + (
        "def census_grm(x):\n    return accumulate_grm(x)\n"
    )
    wrapper = (
        "from breedomics.census.grm import census_grm\ndef grm_job(x):\n    return census_grm(x)\n"
    )
    own = "import numpy as np\ndef my_grm(z):\n    return z @ z.T / np.sum(z)\n"
    plot = "def plot_grm(k, path):\n    return path\n"
    sources = {
        "breedomics.core.grm": (core, False),
        "breedomics.census.grm": (ok, False),
        "breedomics.census.jobs": (wrapper, False),
        "breedomics.gs.data": (own, False),
        "breedomics.gwas.plots": (plot, False),
    }
    assert genetics_outside_core(sources) == ["breedomics.gs.data.my_grm"]


def test_grm_centring_and_reml_only_in_core():
    sources = {m: (p.read_text(), pkg) for p, m, pkg in _modules()}
    bad = genetics_outside_core(sources)
    assert not bad, "GRM/centring/REML computed outside breedomics.core:\n" + "\n".join(bad)
