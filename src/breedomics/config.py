"""The run config: read it, check it against the schema, fill in the schema's defaults.

A run's config is the whole config: what it does not set comes from the defaults of
``workflow/schemas/config.schema.yaml`` (filled in here), never from another file. A
violation is one short message (the key, the bad value, what it accepts), never a
schema dump. :func:`breedomics.validate.validate_run` then checks the inputs it names.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match

from breedomics.errors import UserError
from breedomics.sheets import load_schema

__all__ = ["format_schema_error", "load_config", "validate_config"]

#: What each named value type of the schema (``definitions``) accepts, in words.
_DEFINITIONS = {
    "path": "a path without spaces, quotes, $ ; & | < > ( ) { } * ?",
    "contig": "a contig name (letters, digits, '.', '_', '-', '|')",
    "trait": "a name: a letter, then letters, digits, '_', '.', '-'",
    "dataset": "a name: a letter, then letters, digits, '_', '.', '-'",
    "column": "a column name: a letter or '_', then letters, digits, '_', '.', '-'",
}


def _with_defaults(cls):
    """A validator class that fills in the schema's ``default`` of absent properties.

    Defaults are deep-copied, so two configs never share a list or dict.
    """
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": properties})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _sub_schema(schema: dict, path) -> dict:
    """The schema of the key at ``path`` (following properties/additionalProperties/$ref)."""
    defs = schema.get("definitions", {})
    node = schema
    for part in path:
        props = node.get("properties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return {}
        ref = node.get("$ref", "")
        if ref.startswith("#/definitions/"):
            node = {**defs.get(ref.rsplit("/", 1)[1], {}), **node}
    return node


def _allowed(sub: dict) -> str:
    """What a key accepts, in words (for the fix part of a message)."""
    branches = sub.get("anyOf", [sub])
    words = []
    for b in branches:
        if "enum" in b:
            words.append("one of " + ", ".join(map(str, b["enum"])))
        elif "const" in b:
            words.append("empty" if b["const"] == "" else repr(b["const"]))
        elif "$ref" in b:
            name = b["$ref"].rsplit("/", 1)[1]
            words.append(_DEFINITIONS.get(name, f"a {name}"))
        elif b.get("type") == "null":
            continue
        elif b.get("type") in ("integer", "number"):
            lo = b.get("minimum", b.get("exclusiveMinimum"))
            hi = b.get("maximum", b.get("exclusiveMaximum"))
            rng = (
                f" from {lo} to {hi}"
                if lo is not None and hi is not None
                else f" of at least {lo}"
                if lo is not None
                else f" of at most {hi}"
                if hi is not None
                else ""
            )
            if "exclusiveMinimum" in b or "exclusiveMaximum" in b:
                rng += " (bounds excluded)" if rng else ""
            words.append(("an integer" if b["type"] == "integer" else "a number") + rng)
        elif b.get("type") == "object" and b.get("properties"):
            words.append("a mapping of the keys " + ", ".join(b["properties"]))
        elif b.get("type") == "array" and isinstance(b.get("items"), dict):
            words.append("a list, each " + (_allowed(b["items"]) or "a value"))
        elif "type" in b:
            words.append(
                {"object": "a mapping (key: value)", "array": "a list"}.get(
                    b["type"], ("an " if b["type"][0] in "aeiou" else "a ") + b["type"]
                )
            )
    return " or ".join(dict.fromkeys(words))


def format_schema_error(err: ValidationError, schema: dict, source: str) -> str:
    """One short message for one schema violation: key, bad value, fix."""
    where = f"Config '{source}'"
    key = _key(err.absolute_path)
    v = err.validator
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        full = f"{key}.{missing}" if err.absolute_path else missing
        desc = _sub_schema(schema, [*err.absolute_path, missing]).get("description", "")
        return f"{where}: key '{full}' is missing; add it. {desc}".strip()
    if v == "additionalProperties":
        known = sorted(_sub_schema(schema, err.absolute_path).get("properties", {}))
        extra = sorted(set(err.instance) - set(known)) if isinstance(err.instance, dict) else []
        name = f"{key}.{extra[0]}" if err.absolute_path and extra else (extra or ["?"])[0]
        return (
            f"{where}: unknown key '{name}'; fix its spelling or remove it "
            f"(keys here: {', '.join(known)})."
        )
    if "propertyNames" in err.absolute_schema_path:
        names = _sub_schema(schema, err.absolute_path).get("propertyNames", {})
        ref = names.get("$ref", "").rsplit("/", 1)[-1]
        allowed = _DEFINITIONS.get(ref, "a letter, then letters, digits, '_', '.', '-'")
        return (
            f"{where}, key '{key}': the name {err.instance!r} is not allowed (it becomes "
            f"part of file names); rename it: {allowed}."
        )
    sub = _sub_schema(schema, err.absolute_path)
    value = err.instance
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    if v == "anyOf" or (v == "pattern" and isinstance(value, str)):
        what = "is not allowed here"
    elif v == "enum":
        what = "is not one of " + ", ".join(map(str, err.validator_value))
    elif v == "type":
        what = f"is not of type {err.validator_value}"
    else:
        what = err.message
        what = what[len(repr(value)) :].strip() if what.startswith(repr(value)) else what
        what = what if len(what) <= 120 else what[:117] + "..."
    allowed = _allowed(sub)
    fix = f" Use {allowed}." if allowed else ""
    desc = sub.get("description", "")
    return f"{where}, key '{key}': value {shown} {what}.{fix} {desc}".strip()


def validate_config(config: dict, source: str = "config", schema_dir: Path | None = None) -> dict:
    """Validate ``config`` against the config schema, filling in its defaults in place.

    Parameters
    ----------
    config : dict
        The parsed config (changed in place: absent keys get the schema's defaults).
    source : str
        The config file, named in messages.
    schema_dir : pathlib.Path, optional
        The workflow's schema folder (default: the checkout's ``workflow/schemas``).

    Returns
    -------
    dict
        ``config``.

    Raises
    ------
    UserError
        On the first violation, in a few lines: the key, its value and the fix.
    """
    if not isinstance(config, dict):
        raise UserError(f"Config '{source}' is not a mapping of keys to values (is it YAML?).")
    schema = load_schema("config", schema_dir)
    # A section whose keys are all commented out parses as null: it means "defaults".
    for key, sub in schema.get("properties", {}).items():
        if config.get(key, 0) is None and sub.get("type") == "object":
            del config[key]
    err = best_match(_Validator(schema).iter_errors(config))
    if err is not None:
        raise UserError(format_schema_error(err, schema, source))
    return config


def load_config(path: str | Path, schema_dir: Path | None = None) -> dict:
    """Read a config YAML file and validate it (:func:`validate_config`)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"Config '{path}' does not exist: give the path of your config YAML.")
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise UserError(
            f"Config '{path}'{line} is not valid YAML ({getattr(exc, 'problem', exc)}); "
            "check indentation and quoting there."
        ) from None
    return validate_config(config, str(path), schema_dir)
