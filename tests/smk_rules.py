"""The workflow's rules read from ``workflow/rules/*.smk`` as text, without running Snakemake.

A rule is ``rule NAME:`` or ``checkpoint NAME:`` with its directives, or ``use rule BASE as
NAME with:``, which is BASE's directives with the ones under ``with:`` replacing them
(``params`` merged by keyword, as Snakemake does). Tests that need rule names, shell
commands, conda envs or resources use this one reader.
"""

from __future__ import annotations

import re
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parents[1] / "workflow" / "rules"

_HEAD = re.compile(
    r"^(?:(?P<kind>rule|checkpoint)\s+(?P<name>\w+)\s*:"
    r"|use\s+rule\s+(?P<base>\w+)\s+as\s+(?P<derived>\w+)\s+with\s*:)"
)


def directives(body: list[str]) -> dict[str, str]:
    """Top-level directives of a rule body and their (multi-line) values."""
    code = [ln for ln in body if ln.strip() and not ln.lstrip().startswith("#")]
    if not code:
        return {}
    indent = len(code[0]) - len(code[0].lstrip())
    out: dict[str, str] = {}
    current = None
    for ln in code:
        level = len(ln) - len(ln.lstrip())
        m = re.match(r"(\w+)\s*:(.*)$", ln.strip())
        if level == indent and m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current is not None:
            out[current] += "\n" + ln.strip()
    return out


def _merge_params(base: str, new: str) -> str:
    """``params`` of a derived rule: the base's keywords, replaced or added by ``with:``."""

    def items(text: str) -> dict[str, str]:
        out: dict[str, str] = {}
        key = None
        for ln in text.splitlines():
            m = re.match(r"(\w+)\s*=", ln)
            if m:
                key = m.group(1)
                out[key] = ln
            elif key is not None:
                out[key] += "\n" + ln
        return out

    return "\n".join({**items(base), **items(new)}.values())


def parse_rules(rules_dir: Path = RULES_DIR) -> dict[str, dict[str, str]]:
    """rule name -> {directive: text} for every rule, checkpoint and `use rule` in
    ``rules_dir/*.smk``; ``__file__``, ``__kind__`` (rule, checkpoint or use) and, for a
    derived rule, ``__base__`` are added."""
    rules: dict[str, dict[str, str]] = {}
    for smk in sorted(rules_dir.glob("*.smk")):
        lines = smk.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = _HEAD.match(lines[i])
            i += 1
            if not m:
                continue
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i][0] in " \t#"):
                body.append(lines[i])
                i += 1
            own = directives(body)
            if m.group("name"):
                name = m.group("name")
                info = {"__file__": str(smk), "__kind__": m.group("kind"), **own}
            else:
                name, base = m.group("derived"), m.group("base")
                assert base in rules, f"use rule {base} as {name}: {base} not defined above"
                info = {**rules[base], **own, "__file__": str(smk), "__kind__": "use"}
                info["__base__"] = base
                if "params" in rules[base] and "params" in own:
                    info["params"] = _merge_params(rules[base]["params"], own["params"])
            assert name not in rules, f"rule {name} defined twice"
            rules[name] = info
    return rules


def rule_names(*files: str, checkpoints: bool = True, rules_dir: Path = RULES_DIR) -> set[str]:
    """Names of the rules of some .smk files: `use rule` ones included, checkpoints too
    unless ``checkpoints=False`` (e.g. for ``--groups``, which checkpoints must stay out of)."""
    wanted = {str(rules_dir / f) for f in files}
    return {
        name
        for name, info in parse_rules(rules_dir).items()
        if info["__file__"] in wanted and (checkpoints or info["__kind__"] != "checkpoint")
    }
