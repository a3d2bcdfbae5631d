"""The three copies of a switch configuration, with Alteon's semantics (reference §2.3).

Edits go to ``pending``; ``diff`` shows pending against applied as dump commands; ``apply``
validates pending and, if nothing is wrong, makes it the running (applied) config; ``revert``
drops pending edits; ``save`` writes applied to flash (the switch's config file, through a
callable the shell provides); ``diff flash`` compares pending with flash and ``revert apply``
goes back to flash.  Copies are deep, so no edit leaks into a running config.
"""
from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy

from weboslb.config import dump
from weboslb.config.diag import Problem
from weboslb.config.menu import GROUP, REAL, VIRT
from weboslb.config.model import Config
from weboslb.config.validate import Limits, validate

# Alteon drops a real, group or virtual server that has nothing set but its index on apply.
_DROPPED_WHEN_EMPTY = (REAL, GROUP, VIRT)


def prune(config: Config) -> list[Problem]:
    """Remove objects that only have an index; a warning for each."""
    out = []
    for menu in _DROPPED_WHEN_EMPTY:
        held = getattr(config.slb, menu.attribute)
        for key in [k for k, obj in held.items() if obj == menu.build(k)]:
            del held[key]
            out.append(Problem("has no settings and is removed on apply",
                               f"/cfg/slb/{menu.name} {key}", severity="warning"))
    return out


class Store:
    def __init__(self, config: Config, limits: Limits = Limits(),
                 render: Callable[[Config], str] = dump.write) -> None:
        self.limits = limits
        self.render = render  # how ``save`` writes flash (dump or YAML)
        self.saved = deepcopy(config)
        self.applied = deepcopy(config)
        self.pending = deepcopy(config)

    @property
    def changed(self) -> bool:
        """Pending edits not applied yet."""
        return self.pending != self.applied

    @property
    def unsaved(self) -> bool:
        """Applied changes not saved to flash yet."""
        return self.applied != self.saved

    def diff(self) -> str:
        return dump.diff(self.pending, self.applied)

    def diff_flash(self) -> str:
        return dump.diff(self.pending, self.saved)

    def apply(self) -> list[Problem]:
        """Validate pending and run it.  Returns every problem found; when any is an error,
        nothing changes."""
        candidate = deepcopy(self.pending)
        problems = prune(candidate)
        problems += validate(candidate, self.limits)
        if not any(p.error for p in problems):
            self.applied = candidate
            self.pending = deepcopy(candidate)
        return problems

    def revert(self) -> None:
        self.pending = deepcopy(self.applied)

    def revert_apply(self) -> None:
        """Back to the saved config: drops applied-but-unsaved and pending changes."""
        self.applied = deepcopy(self.saved)
        self.pending = deepcopy(self.saved)

    def save(self, write: Callable[[str], None] | None = None) -> str:
        """Flash the applied config; ``write`` stores the text (flash is unchanged if it
        raises).  Pending edits stay pending."""
        text = self.render(self.applied)
        if write is not None:
            write(text)
        self.saved = deepcopy(self.applied)
        return text

