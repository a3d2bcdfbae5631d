"""Pending, applied and saved copies with Alteon's semantics."""
from __future__ import annotations

import pytest

from tests.config.helpers import base
from weboslb.config import dump, yamlio
from weboslb.config.edit import ROOT, execute
from weboslb.config.model import Config
from weboslb.config.store import Store


def run(store: Store, line: str) -> None:
    out = execute(store.pending, ROOT, line)
    assert out.error is None and out.rest is None, out


def test_edits_go_to_pending_and_diff_shows_them() -> None:
    store = Store(base())
    run(store, "/c/slb/real 3/rip 10.0.1.13/ena")
    run(store, "/c/slb/group 1/add 3")
    assert store.changed and not store.unsaved
    assert 3 not in store.applied.slb.real
    assert store.diff() == ("/c/slb/real 3\n\tena\n\trip 10.0.1.13\n"
                            "/c/slb/group 1\n\tadd 3\n")


def test_apply_swaps_when_valid() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/weight 5")
    assert store.apply() == []
    assert store.applied.slb.real[1].weight == 5
    assert not store.changed and store.unsaved
    assert store.diff() == ""
    store.pending.slb.real[1].weight = 6  # copies are deep: applied is untouched
    assert store.applied.slb.real[1].weight == 5


def test_apply_refuses_with_every_error_and_changes_nothing() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/weight 60")
    run(store, "/c/slb/virt 1/service 80/group 7")
    before = dump.write(store.applied)
    problems = store.apply()
    assert [str(p) for p in problems] == [
        "/cfg/slb/real 1: weight 60 out of range 1-48",
        "/cfg/slb/virt 1/service 80: group 7 does not exist"]
    assert dump.write(store.applied) == before
    assert store.changed  # still pending, to be fixed or reverted


def test_apply_drops_objects_that_only_have_an_index() -> None:
    store = Store(base())
    run(store, "/c/slb/real 9")
    run(store, "/c/slb/group 4")
    problems = store.apply()
    assert [(p.severity, str(p)) for p in problems] == [
        ("warning", "/cfg/slb/real 9: has no settings and is removed on apply"),
        ("warning", "/cfg/slb/group 4: has no settings and is removed on apply")]
    assert 9 not in store.applied.slb.real and 9 not in store.pending.slb.real


def test_revert_drops_pending() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/dis")
    store.revert()
    assert not store.changed and store.pending.slb.real[1].ena


def test_save_writes_applied_not_pending() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/weight 5")
    store.apply()
    run(store, "/c/slb/real 1/weight 7")
    written: list[str] = []
    text = store.save(written.append)
    assert written == [text]
    assert dump.read(text).config.slb.real[1].weight == 5  # type: ignore[union-attr]
    assert not store.unsaved and store.changed


def test_save_failure_leaves_flash_unchanged() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/weight 5")
    store.apply()

    def broken(text: str) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.save(broken)
    assert store.unsaved and store.saved.slb.real[1].weight == 1


def test_diff_flash_and_revert_apply_use_the_saved_copy() -> None:
    store = Store(base())
    run(store, "/c/slb/real 1/weight 5")
    store.apply()
    run(store, "/c/slb/real 2/weight 6")
    assert store.diff() == "/c/slb/real 2\n\tweight 6\n"
    assert store.diff_flash() == "/c/slb/real 1\n\tweight 5\n/c/slb/real 2\n\tweight 6\n"
    store.revert_apply()
    assert store.applied == store.saved == store.pending == base()


def test_save_in_yaml() -> None:
    store = Store(base(), render=yamlio.write)
    assert yamlio.read(store.save()).config == base()


def test_an_empty_store_applies() -> None:
    store = Store(Config())
    assert store.apply() == [] and store.diff() == ""
