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

The checker reads the source with :mod:`ast` (imports inside functions included) and
is itself tested on small snippets with known answers.
"""

from __future__ import annotations

import ast
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
    assert {"core", "census", "genotypes", "gwas", "gs", "omics", "testing"} <= subs
