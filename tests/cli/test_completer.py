"""Tab completion from the menu tree: what may follow the text before the cursor."""
from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tests.cli.helpers import boot, run
from weboslb.cli.completer import FILE, ConsoleCompleter, suggest


def words(console, text: str) -> list[str]:
    return [s.text for s in suggest(console, text).items]


def completions(console, text: str):
    doc = Document(text, len(text))
    return list(ConsoleCompleter(console).get_completions(doc, CompleteEvent(True, False)))


def test_menu_words_with_their_help():
    c, _ = boot()
    found = completions(c, "/c/sl")
    assert [(x.text, x.start_position, x.display_meta_text) for x in found] == [
        ("slb", -2, "Server Load Balancing (Layer 4-7) Configuration Menu")]


def test_main_menu_then_globals():
    c, _ = boot()
    assert words(c, "") == ["info", "stats", "cfg", "oper", "boot", "maint", "diff", "apply",
                            "save", "revert", "exit", "quit", "help", "print", "up", "pwd",
                            "lines", "verbose"]
    assert words(c, "ap") == ["apply"]


def test_words_of_the_current_menu():
    c, _ = boot()
    run(c, "/c/slb/real 1")
    assert words(c, "we") == ["weight"]
    assert words(c, "../gr") == ["group"]


@pytest.mark.parametrize("text, expected", [
    ("/cfg/slb/real ", ["1", "2", "3", "4", "5", "6", "7", "8"]),
    ("/cfg/slb/group 1/add 1", ["1"]),
    ("/cfg/slb/virt 1/service 4", ["443"]),
    ("/cfg/slb/virt 1/service 80/pbind ", ["clientip", "cookie", "sslid", "disable"]),
    ("/cfg/slb/virt 1/service 80/pbind cookie ", ["insert", "passive", "rewrite"]),
    ("/cfg/slb/virt 1/service 80/dbind ", ["ena", "dis", "forceproxy"]),
    ("/cfg/slb/virt 1/service 80/group ", ["1", "2", "3"]),
    ("/cfg/slb/real 1/ena", ["ena"]),
    ("/cfg/slb/sync/state ", ["e", "d"]),
    ("/cfg/slb/group 1/backup ", ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "g1", "g2",
                                  "g3"]),
    ("/stats/slb/virt ", ["1", "2"]),
    ("/info/slb/sess/dip ", ["192.0.2.100", "192.0.2.101"]),
    ("/oper/slb/dis ", ["1", "2", "3", "4", "5", "6", "7", "8"]),
    ("diff ", ["flash"]),
    ("/cfg/vrrp/v", ["vr", "verbose"]),  # through an old Web OS 10 path
    ("/nothing/", []),
])
def test_arguments_come_from_the_pending_config(text, expected):
    c, _ = boot()
    assert words(c, text) == expected


def test_objects_carry_their_names():
    c, _ = boot()
    found = {x.text: x.display_meta_text for x in completions(c, "/stats/slb/real ")}
    assert found["4"] == "real 4 ftp1 10.0.1.21"


def test_new_objects_are_offered_once_they_exist():
    c, _ = boot()
    run(c, "/c/slb/real 42/rip 10.0.9.42")
    assert "42" in words(c, "/c/slb/group 1/add ")


def test_file_arguments_complete_paths(tmp_path):
    (tmp_path / "switch-a.yaml").write_text("")
    (tmp_path / "switch-b.yaml").write_text("")
    c, _ = boot()
    text = f"/boot/load {tmp_path}/swi"
    assert suggest(c, text).kind == FILE
    assert sorted(x.text for x in completions(c, text)) == ["tch-a.yaml", "tch-b.yaml"]
    assert [x.text for x in completions(c, f"/maint/replay a.pcap {tmp_path}/switch-b")] == \
        [".yaml"]
