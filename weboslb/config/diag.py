"""Problems found while loading or validating a configuration, and what a load returns."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from weboslb.config.model import Config


@dataclass(frozen=True, slots=True)
class Problem:
    """One error or warning: a menu path (``/cfg/slb/virt 1/service 443``), the attribute it
    concerns if any, and the file line once known."""

    message: str
    path: str = ""
    attr: str = ""
    line: int = 0
    severity: str = "error"  # or "warning"

    @property
    def error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def text(self, source: str = "") -> str:
        """``file:line: error: /cfg/...: message`` (compiler style, one line)."""
        where = f"{source}:{self.line}" if source and self.line else source or (
            f"line {self.line}" if self.line else "")
        text = f"{where}: {self.severity}: {self}" if where else f"{self.severity}: {self}"
        return " ".join(text.splitlines())


@dataclass(slots=True)
class Loaded:
    """A parsed file: the config (None when nothing could be loaded), its problems, and where
    each object and attribute was set (``"/cfg/slb/real 1"``, ``"/cfg/slb/real 1/weight"``)."""

    config: Config | None
    problems: list[Problem] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def ok(self) -> bool:
        return self.config is not None and not self.errors

    def locate(self, problem: Problem) -> Problem:
        """``problem`` with the line that set its attribute, else the line of its object (or
        of the nearest enclosing object)."""
        if problem.line:
            return problem
        keys = [f"{problem.path}/{problem.attr}"] if problem.attr else []
        path = problem.path
        while path:
            keys.append(path)
            path = path.rpartition("/")[0]
        for key in keys:
            if key in self.where:
                return replace(problem, line=self.where[key])
        return problem
