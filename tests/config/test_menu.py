"""The command tree is the single definition of a command: check it is self-consistent."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from weboslb.config import menu as m
from weboslb.config.menu import CFG, MAIN, Field, Menu, default_of
from weboslb.config.model import Config, Pbind


def menus(root: Menu = CFG) -> Iterator[Menu]:
    yield root
    for sub in root.menus:
        yield from menus(sub)


ALL = list(menus())


@pytest.mark.parametrize("menu", ALL, ids=lambda x: x.name)
def test_every_field_is_a_model_attribute(menu: Menu) -> None:
    obj = menu.build(80 if menu is m.SERVICE else None)
    names = {f.name for f in dataclasses.fields(obj)}
    for fld in menu.fields:
        assert fld.attribute in names, f"{menu.name}/{fld.name}"
    for sub in menu.menus:
        assert sub.attribute in names, f"{menu.name}/{sub.name}"
    assert ("extra" in names) != menu.container


@pytest.mark.parametrize("menu", ALL, ids=lambda x: x.name)
def test_model_attributes_are_all_in_the_tree(menu: Menu) -> None:
    obj = menu.build(80 if menu is m.SERVICE else None)
    covered = {f.attribute for f in menu.fields} | {s.attribute for s in menu.menus}
    covered |= {"extra", "verbatim"} | {a for a, _ in (menu.key.carries if menu.key else ())}
    assert {f.name for f in dataclasses.fields(obj)} <= covered


@pytest.mark.parametrize("menu", [x for x in ALL if x.container], ids=lambda x: x.name)
def test_container_layout_orders_every_submenu(menu: Menu) -> None:
    assert {s.name for s in menu.menus} <= set(menu.layout)
    assert set(menu.layout) <= {s.name for s in menu.menus} | set(menu.known)


@pytest.mark.parametrize("menu", ALL, ids=lambda x: x.name)
def test_known_words_are_not_modelled_words(menu: Menu) -> None:
    words = {w for i in menu.items for w in (i.words if isinstance(i, Field) else (i.name,))}
    assert not words & set(menu.known)
    for alias, target in menu.aliases:
        assert alias not in words


def test_defaults_come_from_the_model() -> None:
    assert default_of(m.GROUP, m.GROUP.item("metric")) == "leastconns"  # type: ignore[arg-type]
    assert default_of(m.REAL, m.REAL.item("tmout")) == 10  # type: ignore[arg-type]
    assert default_of(m.SYNC, m.SYNC.item("update")) == 30  # type: ignore[arg-type]
    assert default_of(m.ADV, m.ADV.item("matrix")) is True  # type: ignore[arg-type]
    assert default_of(m.SERVICE, m.SERVICE.item("rport"), 443) == 443  # type: ignore[arg-type]
    assert default_of(m.SERVICE, m.SERVICE.item("pbind"), 80) == Pbind("disable")  # type: ignore


@pytest.mark.parametrize("menu, word, kind, target", [
    (MAIN, "c", "item", "cfg"),
    (MAIN, "i", "known", "info"),
    (CFG, "sl", "item", "slb"),
    (CFG, "vrrp", "alias", "l3/vrrp"),
    (m.SLB, "dir", "alias", "adv/direct"),
    (m.SLB, "sy", "item", "sync"),
    (m.SLB, "s", "ambiguous", None),
    (m.SLB, "ssl", "known", None),
    (m.REAL, "ri", "item", "rip"),
    (m.REAL, "di", "item", "ena"),  # "dis" is the off word of the ena flag
    (m.REAL, "d", "ambiguous", None),
    (m.REAL, "shut", "unknown", None),
    (m.GROUP, "ADD", "item", "add"),
])
def test_resolve(menu: Menu, word: str, kind: str, target: str | None) -> None:
    found = menu.resolve(word)
    assert found.kind == kind
    if kind == "item":
        assert found.target.name == target
    elif kind == "alias":
        assert found.target == target


def test_fields_with_python_keyword_names() -> None:
    fld = m.VR.item("if")
    assert isinstance(fld, Field) and fld.attribute == "if_" and fld.key == "if"
    assert m.L3.item("if").attribute == "if_"  # type: ignore[union-attr]


def test_walk_visits_every_object_with_its_path() -> None:
    cfg = Config()
    cfg.slb.virt["web"] = m.VIRT.build("web")
    cfg.slb.virt["web"].service[443] = m.SERVICE.build(443)
    paths = [n.path for n in m.walk(cfg)]
    assert "/cfg/slb/virt web/service 443" in paths
    assert "/cfg/l3/vrrp" in paths
    assert paths.index("/cfg/slb/virt web") < paths.index("/cfg/slb/virt web/service 443")


def test_indexes_sort_numbers_then_names_in_creation_order() -> None:
    assert m.sorted_keys({"b": 0, 10: 0, "a": 0, 2: 0}) == [2, 10, "b", "a"]


def test_every_command_has_help_and_is_documented() -> None:
    from tests.config.helpers import REPO

    doc = (REPO / "docs" / "config.md").read_text()
    for menu in ALL:
        assert f"`{menu.name}" in doc or f"/{menu.name}" in doc, menu.name
        for fld in menu.fields:
            for word in fld.words:
                assert fld.help_for(word), f"{menu.name}/{word} has no help"
                assert f"`{word}" in doc or f" {word}" in doc, f"{menu.name}/{word}"
