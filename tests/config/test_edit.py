"""The command interpreter the dump reader and the console share."""
from __future__ import annotations

from weboslb.config.edit import ROOT, Cursor, execute
from weboslb.config.model import Config


def test_navigation_creates_objects_and_moves_the_cursor() -> None:
    cfg = Config()
    out = execute(cfg, ROOT, "/cfg/slb/virt web/service 443 https")
    assert out.error is None and out.cursor.path == "/cfg/slb/virt web/service 443"
    assert out.created == ["/cfg/slb/virt web", "/cfg/slb/virt web/service 443"]
    assert cfg.slb.virt["web"].service[443].app == "https"
    out = execute(cfg, out.cursor, "../../real 1/rip 10.0.0.1/ena")
    assert out.cursor.path == "/cfg/slb/real 1"
    assert out.changed == [("/cfg/slb/real 1", "rip"), ("/cfg/slb/real 1", "ena")]
    assert cfg.slb.real[1].ena


def test_del_removes_the_object_and_goes_up() -> None:
    cfg = Config()
    out = execute(cfg, ROOT, "/c/slb/real 1/rip 10.0.0.1")
    out = execute(cfg, out.cursor, "del")
    assert out.actions == ["del"] and out.cursor.path == "/cfg/slb" and cfg.slb.real == {}


def test_cur_is_an_action_for_the_console() -> None:
    out = execute(Config(), ROOT, "/c/slb/adv/cur")
    assert out.actions == ["cur"] and out.cursor.path == "/cfg/slb/adv"


def test_unmodelled_rest_is_handed_back_untouched() -> None:
    out = execute(Config(), ROOT, '/c/slb/real 1/adv/ submac  ena/x "a/b"')
    assert out.rest == 'adv/submac  ena/x "a/b"' and out.known
    assert out.cursor.path == "/cfg/slb/real 1"


def test_errors_stop_the_line() -> None:
    cfg = Config()
    out = execute(cfg, ROOT, "/c/slb/real 1/weight x/ena")
    assert out.error == "/cfg/slb/real 1: weight: expected a number <1-48>, got 'x'"
    assert not cfg.slb.real[1].ena


def test_up_stops_at_main() -> None:
    assert Cursor().up() == ROOT
    out = execute(Config(), ROOT, "..")
    assert out.cursor == ROOT and out.error is None
