"""What every section is built from: the run's files, its config, the page's options, the
stages' status, and the warnings the sections find (shown together in section 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from breedomics.report.collect import RunFiles
from breedomics.report.html import slug
from breedomics.report.stages import Stage

__all__ = ["Context"]


@dataclass
class Context:
    """The inputs of the sections, and the ids and warnings they produce."""

    run: RunFiles
    config: Mapping
    stages: Mapping[str, Stage]
    max_rows: int = 2000
    manhattan_points: int = 3000
    warnings: list[str] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set)

    def uid(self, *parts: object) -> str:
        """A page-unique HTML id made from ``parts``."""
        base = slug(*parts)
        name, k = base, 1
        while name in self._ids:
            k += 1
            name = f"{base}-{k}"
        self._ids.add(name)
        return name

    def warn(self, message: str) -> None:
        """Add a line to the warning box."""
        self.warnings.append(message)

    def section(self, key: str) -> Mapping:
        """The config section ``key`` (``{}`` when absent)."""
        sub = self.config.get(key)
        return sub if isinstance(sub, Mapping) else {}
