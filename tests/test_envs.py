"""`--use-conda` works: the env of every rule that runs `breedomics` has what the code imports.

The rules are read from ``workflow/rules/*.smk`` (``smk_rules``; a `use rule` one has its
base's shell): each one that runs ``{params.cli} <command>`` names a conda env. The modules
a command can reach are found with ``ast`` from its module in ``breedomics.cli.COMMANDS``
(imports anywhere in a function count, as they run when the command does); their
third-party imports, mapped to conda package names, must all be dependencies of that env
file, and declared in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml
from smk_rules import parse_rules

from breedomics.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

#: import name -> conda-forge package name (where they differ).
CONDA_NAME = {"sklearn": "scikit-learn", "yaml": "pyyaml", "allel": "scikit-allel"}
#: import name -> PyPI distribution name (where they differ).
PIP_NAME = {"sklearn": "scikit-learn", "yaml": "pyyaml", "allel": "scikit-allel"}


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.exists():
            return p
    return None


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (``from a import b``: a and a.b)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@cache
def third_party_imports(module: str) -> set[str]:
    """Top-level third-party modules reachable from ``module`` (breedomics modules followed)."""
    seen: set[str] = set()
    todo = [module]
    found: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        if path is None:
            continue
        parts = name.split(".")
        # a package's parents run first (their __init__)
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        for imp in _imports(path):
            top = imp.split(".")[0]
            if top == "breedomics":
                todo.append(imp)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
    return found


@cache
def breedomics_rules() -> dict[str, tuple[str | None, set[str]]]:
    """rule name -> (its conda env path, the breedomics commands its shell runs)."""
    rules = {}
    for name, info in parse_rules().items():
        cmds = set(re.findall(r"\{params\.cli\}\s+([a-z][a-z-]*)", info.get("shell", "")))
        if not cmds:
            continue
        env = re.fullmatch(r"\"([^\"]+)\",?", info.get("conda", "").strip())
        rules[name] = (
            str((Path(info["__file__"]).parent / env.group(1)).resolve()) if env else None,
            cmds,
        )
    return rules


def env_packages(path: str) -> set[str]:
    with open(path) as fh:
        deps = yaml.safe_load(fh)["dependencies"]
    return {re.split(r"[=<>!~ ]", d, maxsplit=1)[0].lower() for d in deps if isinstance(d, str)}


def test_rules_are_found():
    rules = breedomics_rules()
    assert len(rules) >= 20, rules
    assert {"genotype-qc", "gwas", "gs", "census"} <= set().union(*(c for _, c in rules.values()))
    # the scan sees what a command imports (the genotype reader's VCF library included)
    assert {"numpy", "pandas", "cyvcf2"} <= third_party_imports(COMMANDS["genotype-qc"][0])


@pytest.mark.parametrize("rule", sorted(breedomics_rules()))
def test_rule_env_has_every_import(rule):
    env, cmds = breedomics_rules()[rule]
    assert env, f"rule {rule} runs breedomics but names no conda env"
    have = env_packages(env)
    for cmd in cmds:
        assert cmd in COMMANDS, f"rule {rule} runs unknown command 'breedomics {cmd}'"
        need = {CONDA_NAME.get(m, m) for m in third_party_imports(COMMANDS[cmd][0])}
        missing = sorted(need - have)
        assert not missing, f"{Path(env).name} (rule {rule}, breedomics {cmd}) lacks {missing}"


def test_pyproject_declares_every_import():
    with open(REPO / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    have = {re.split(r"[=<>!~\[ ;]", d, maxsplit=1)[0].lower() for d in declared}
    need = set()
    for module, *_ in COMMANDS.values():
        need |= {PIP_NAME.get(m, m) for m in third_party_imports(module)}
    assert not sorted(need - have), sorted(need - have)
