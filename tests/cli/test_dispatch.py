"""The console's command language, line by line: output, menu path and config state out."""
from __future__ import annotations

from copy import deepcopy

import pytest

from tests.cli.helpers import VIP, FakeHa, boot, connect, run
from weboslb.cli import render, tree
from weboslb.cli.dispatch import Console
from weboslb.config import dump
from weboslb.config.model import Pbind
from weboslb.engine.sessdump import dump as sess_dump

MAIN_MENU = """\
[Main Menu]
     info     - Information Menu
     stats    - Statistics Menu
     cfg      - Configuration Menu
     oper     - Operations Command Menu
     boot     - Boot Options Menu
     maint    - Maintenance Menu
     diff     - Show pending config changes  [global command]
     apply    - Apply pending config changes [global command]
     save     - Save updated config to FLASH [global command]
     revert   - Revert pending or applied changes [global command]
     exit     - Exit  [global command, always available]"""


def pending(console: Console):
    return console.rt.store.pending


# ---- grammar and feel ------------------------------------------------------------------------

def test_the_main_menu_and_prompt_are_the_devices():
    c, _ = boot()
    assert c.prompt == ">> Main# "
    c.verbose = 1
    assert "\n".join(run(c, "/")) == MAIN_MENU


@pytest.mark.parametrize("line, prompt", [
    ("/cfg/slb/real 1", ">> Real server 1# "),
    ("/c/slb/group 2", ">> Real server group 2# "),
    ("/c/slb/virt 1", ">> Virtual Server 1# "),
    ("/c/slb/virt 1/service 80", ">> Virtual Server 1 80 http Service# "),
    ("/c/slb/adv", ">> Layer 4 Advanced# "),
    ("/c/l3/vrrp/vr 3", ">> Virtual Router 3# "),
    ("/info/slb/sess", ">> Session Table Information# "),
    ("/oper/vrrp", ">> VRRP Operations# "),
    ("/stats/slb", ">> SLB Statistics# "),
])
def test_menu_titles_in_the_prompt(line, prompt):
    c, _ = boot()
    run(c, line)
    assert c.prompt == prompt


def test_entering_a_menu_lists_it_under_its_header():
    c, _ = boot()
    c.verbose = 1
    out = run(c, "/c/slb/real 1")
    assert out[0] == "[Real server 1 Menu]"
    assert "     weight   - Set server weight" in out
    assert out[-1] == "     cur      - Display current settings"


def test_unique_prefixes_reach_the_same_menus_and_values():
    c, _ = boot()
    run(c, "/c/sl/re 1/wei 7")
    assert c.prompt == ">> Real server 1# "
    assert pending(c).slb.real[1].weight == 7
    run(c, "/i/sl/se")
    assert tree.path_text(c.path) == "/info/slb/sess"


def test_chained_commands_create_and_set_in_one_line():
    c, _ = boot()
    run(c, "/cfg/slb/real 9/rip 10.0.1.99/ena/name \"new web\"/weight 3")
    real = pending(c).slb.real[9]
    assert (real.rip, real.ena, real.name, real.weight) == ("10.0.1.99", True, "new web", 3)
    assert c.prompt == ">> Real server 9# "


def test_dot_dot_and_up_climb_menus():
    c, _ = boot()
    run(c, "/cfg/slb/real 1", "../real 2/weight 4")
    assert c.prompt == ">> Real server 2# " and pending(c).slb.real[2].weight == 4
    run(c, "up")
    assert c.prompt == ">> Server Load Balancing# "
    run(c, "up", "up", "up")
    assert c.prompt == ">> Main# "


def test_old_web_os_10_paths_are_aliases():
    c, _ = boot()
    run(c, "/cfg/slb/direct dis")
    assert pending(c).slb.adv.direct is False
    assert c.prompt == ">> Server Load Balancing# "  # the command ran where it was typed
    run(c, "/cfg/vrrp/on")
    assert pending(c).l3.vrrp.on and c.prompt == ">> Virtual Router Redundancy Protocol# "


def test_help_and_question_mark_list_the_menu_and_the_globals():
    c, _ = boot()
    run(c, "/c/slb/real 1")
    for word in ("help", "?"):
        out = run(c, word)
        assert out[0] == "[Real server 1 Menu]"
        assert "[Global Commands]" in out
        assert any(line.startswith("     lines    - ") for line in out)
    assert run(c, "help weight") == ["weight - Set server weight"]


def test_lines_and_pwd():
    c, _ = boot()
    assert run(c, "lines 40") == ["Current lines per screen: 40"] and c.lines == 40
    res = c.execute("lines 2")
    assert res.error == "bad lines 2; must be 0 or between 4 and 1000" and c.lines == 40
    run(c, "lines 0")
    assert c.lines == 0
    run(c, "/c/slb/virt 1/service 443")
    assert run(c, "pwd") == ["Current menu: /cfg/slb/virt 1/service 443"]


# ---- errors: device-style, and nothing changes ----------------------------------------------

@pytest.mark.parametrize("line, message", [
    ("foo", 'unknown command "foo"'),
    ("/cfg/slb/foo 1", 'unknown command "foo"'),
    ("/cfg/slb/real 1/weight 49", "bad weight 49; must be between 1 and 48"),
    ("/cfg/slb/real 1/tmout 11", "bad tmout 11; must be an even number"),
    ("/cfg/slb/real 300", "bad real 300; must be between 1 and 256"),
    ("/cfg/slb/virt 1/service 80/rport 3", "bad rport 3; must be 0, 1 or between 5 and 65534"),
    ("/cfg/slb/real 1/rip 10.0.1", "bad rip 10.0.1; is not an IP address"),
    ("/cfg/slb/real 1/weight lots", "bad weight: expected a number <1-48>, got 'lots'"),
    ("/cfg/slb/real 1/d", 'ambiguous command "d": del, descr, dis'),
    ("/cfg/slb/real 1/health http", 'command "health" is not supported by this emulator'),
    ("/cfg/slb/real 1/ena now", "bad ena: takes no argument, got 'now'"),
    ("/cfg/slb/group 1/rem 7", "bad rem 7; not in the list"),
    ("/cfg/slb/virt 1/service 80/pbind cookie passive \"J\" 99",
     "bad pbind: offset must be between 1 and 64"),
    ("/stats/slb/real 42", "real server 42 is not in the applied configuration"),
    ("/info/slb/sess/cip 1.2.3", "bad client IP address 1.2.3; is not an IP address"),
])
def test_bad_input_gets_the_devices_message_and_changes_nothing(line, message):
    c, _ = boot()
    run(c, "/c/slb/real 1")
    before = deepcopy(pending(c))
    res = c.execute(line)
    assert res.error == message
    assert pending(c) == before
    assert c.prompt == ">> Real server 1# "  # back where the line started


def test_a_line_is_all_or_nothing():
    c, _ = boot()
    res = c.execute("/cfg/slb/real 20/rip 10.0.1.20/ena/weight 99")
    assert res.error == "bad weight 99; must be between 1 and 48"
    assert 20 not in pending(c).slb.real


def test_garbage_never_raises_and_a_refused_line_changes_nothing():
    c, _ = boot()
    for line in ['"', '/"/"', "//", "/c/slb/real", "\x00\x01", "/c/slb/virt 1/service x y z",
                 "/c/slb/real -1", "/c/slb/real 1 2 3", "..//..", "/c/slb/real é/ena",
                 "lines -5", "/boot/load", "/maint/report", '/c/slb/real 1/name "a" "b"',
                 "/c/slb/virt 1/service 80/pbind cookie", "?" * 100, "/" * 50]:
        before = deepcopy(pending(c))
        res = c.execute(line)
        assert res.error is None or pending(c) == before, line


# ---- questions for missing arguments ---------------------------------------------------------

def test_a_missing_value_is_asked_for_with_the_current_one():
    c, io = boot(None, "5")
    run(c, "/c/slb/real 1/weight")
    assert io.lines == ["Current server weight: 1", "Enter new server weight [1-48]: 5"]
    assert pending(c).slb.real[1].weight == 5


def test_an_empty_answer_keeps_the_value():
    c, io = boot(None, "")
    run(c, "/c/slb/real 1/weight")
    assert pending(c).slb.real[1].weight == 1 and not c.rt.store.changed


def test_a_bad_answer_is_refused():
    c, io = boot(None, "77")
    res = c.execute("/c/slb/real 1/weight")
    assert res.error == "bad weight 77; must be between 1 and 48"
    assert not c.rt.store.changed


def test_a_missing_index_is_asked_for():
    c, io = boot(None, "12")
    run(c, "/c/slb/real")
    assert io.asked == ["Enter real server number [1-256]: "]
    assert c.prompt == ">> Real server 12# "


def test_no_answer_at_all_fails_the_line():
    c, io = boot()
    res = c.execute("/c/slb/real 1/weight")
    assert res.error == 'no answer to "Enter new server weight [1-48]:" (end of input)'


PASSIVE_DIALOG = """\
Current persistent binding mode: disabled
Enter cookie|sslid|disable persistence mode: cookie
Enter insert|passive|rewrite cookie persistence mode [i/p/r]: p
Enter cookie name: CookieSession1
Enter starting point of cookie value [1-64]: 1
Enter number of bytes to extract [0-64]: 8
Look for cookie in URI [e|d]: d
Set multiple response count [1-16]: 1"""


def test_the_pbind_cookie_dialog_word_for_word():
    c, io = boot(None, "cookie", "p", "CookieSession1", "1", "8", "d", "1")
    run(c, "/cfg/slb/virt 1/service 443/pbind disable", "apply")
    run(c, "/cfg/slb/virt 1/service 443/pbind")
    assert "\n".join(io.lines) == PASSIVE_DIALOG
    assert pending(c).slb.virt[1].service[443].pbind == Pbind(
        "cookie", "passive", "CookieSession1", offset=1, length=8)


def test_the_insert_cookie_dialog_asks_the_expiry_and_reports():
    c, io = boot(None, "cookie", "i", "SRV", "12/31/01@11:59")
    out = run(c, "/cfg/slb/virt 2/service 80/pbind")
    assert io.asked[-1] == "Enter cookie expiration: "
    assert out[-3:] == ["Current persistent binding for http: disabled",
                        "New persistent binding for http: cookie",
                        "New cookie persistence mode: insert"]
    assert pending(c).slb.virt[2].service[80].pbind == Pbind(
        "cookie", "insert", "SRV", expire="12/31/01@11:59")


# ---- the three configs -----------------------------------------------------------------------

def test_apply_runs_the_pending_config_on_the_switch():
    c, _ = boot()
    run(c, "/c/slb/real 1/weight 9")
    assert c.rt.switch.config.slb.real[1].weight == 1
    out = run(c, "apply")
    assert out[-1] == 'Apply complete; don\'t forget to "save" updated configuration.'
    assert c.rt.switch.config.slb.real[1].weight == 9 and not c.rt.store.changed


def test_a_failed_apply_keeps_pending_and_the_running_config():
    c, _ = boot()
    run(c, "/c/slb/virt 1/service 80/group 9")
    res = c.execute("apply")
    assert res.output == ["Error: /cfg/slb/virt 1/service 80: group 9 does not exist"]
    assert res.error == "apply failed: 1 error; the pending configuration is kept"
    assert c.rt.store.changed and c.rt.switch.config.slb.virt[1].service[80].group == 1


def test_diff_revert_and_diff_flash():
    c, _ = boot()
    assert run(c, "diff") == ["No pending configuration changes."]
    run(c, "/c/slb/real 2/dis")
    assert run(c, "diff") == ["/c/slb/real 2", "\tdis"]
    assert run(c, "revert") == ["Pending configuration changes reverted."]
    run(c, "/c/slb/real 2/dis", "apply")
    assert run(c, "diff") == ["No pending configuration changes."]
    assert run(c, "diff flash") == ["/c/slb/real 2", "\tdis"]
    run(c, "revert apply")
    assert c.rt.switch.config.slb.real[2].ena and not c.rt.store.unsaved


def test_save_writes_flash_after_confirmation():
    written: list[str] = []
    c, io = boot(None, "y", flash=written.append, flash_name="sw.cfg")
    run(c, "/c/slb/real 3/weight 2", "apply")
    out = run(c, "save")
    assert io.asked == ["Confirm saving to FLASH [y/n]: "]
    assert out == ["New config successfully saved to FLASH (sw.cfg)"]
    assert written == [dump.write(c.rt.store.applied)] and not c.rt.store.unsaved


def test_save_refused_keeps_flash():
    written: list[str] = []
    c, io = boot(None, "n", flash=written.append)
    run(c, "/c/slb/real 3/weight 2", "apply", "save")
    assert written == [] and c.rt.store.unsaved


def test_exit_warns_about_unapplied_changes():
    c, io = boot(None, "n", "y")
    run(c, "/c/slb/real 1/dis")
    res = c.execute("exit")
    assert res.output == ["WARNING: There are unapplied configuration changes."]
    assert io.asked == ["Confirm operation without applying changes (leave them pending) "
                        "[y/n]: "]
    assert not res.exit
    assert c.execute("quit").exit


def test_exit_without_changes_just_leaves():
    c, io = boot()
    res = c.execute("exit")
    assert res.exit and res.output == [] and io.asked == []


def test_cur_shows_applied_settings_then_pending_changes():
    c, _ = boot()
    out = run(c, "/c/slb/real 1/weight 6", "cur")
    assert out[0] == "Current Real server 1 configuration:"
    assert "    weight 1" in out and "    rip 10.0.1.11" in out
    assert out[-3:] == ["Pending Real server 1 changes:", "/c/slb/real 1", "    weight 6"]
    out = run(c, "/c/slb/adv/cur")
    assert out == ["Current Layer 4 Advanced configuration:", "    direct ena", "    matrix ena",
                   "    pmask 255.255.255.255", "    fastage 0", "    slowage 0",
                   "    vmasport dis", "    vmadip dis", "    spcount 8"]


def test_cur_of_a_container_is_its_dump_section():
    c, _ = boot()
    out = run(c, "/c/slb/cur")
    assert out[0] == "Current Server Load Balancing configuration:"
    assert out[1:3] == ["/c/slb", "    on"]
    assert "/c/slb/real 8" in out and not any(line.startswith("/c/l3") for line in out)


def test_del_removes_the_object_and_climbs():
    c, _ = boot()
    run(c, "/c/slb/real 8/del")
    assert 8 not in pending(c).slb.real and c.prompt == ">> Server Load Balancing# "


def test_cfg_dump_is_the_applied_config():
    c, _ = boot()
    run(c, "/c/slb/real 1/weight 5")  # pending only
    out = run(c, "/cfg/dump")
    assert "\n".join(out) + "\n" == dump.write(c.rt.store.applied)


# ---- info, stats, oper -----------------------------------------------------------------------

def traffic(c: Console) -> None:
    connect(c, "198.51.100.7", 40001)
    connect(c, "198.51.100.7", 40002)
    connect(c, "198.51.100.8", 40003)
    connect(c, "198.51.100.9", 40004, vport=80)


def test_session_dump_and_its_filters():
    c, _ = boot()
    traffic(c)
    sw = c.rt.switch
    everything = list(sess_dump(sw.sessions, sw.persistence.entries(), sw.services,
                                sw.persistence.users, c.rt.now()))
    assert run(c, "/info/slb/sess/dump") == everything and len(everything) == 6
    cip = run(c, "/i/sl/se/cip 198.51.100.7")
    assert len(cip) == 3 and all("198.51.100.7" in line for line in cip)
    assert any(line.endswith("EP c:2") for line in cip)  # the persistent entry, 2 users
    http = run(c, f"dip {VIP}")
    assert len(http) == 6
    reals = {line.split(" -> ")[1].split()[1] for line in cip if " -> " in line}
    real = next(rid for rid, r in c.rt.store.applied.slb.real.items() if r.rip in reals)
    assert all(line in run(c, f"real {real}") for line in cip)


def test_stats_pages():
    c, _ = boot()
    traffic(c)
    maint = run(c, "/stats/slb/maint")
    assert maint[0] == "SLB Maintenance Stats:"
    assert maint[2] == f"{'Current sessions:':<36}{4:>12}"
    virt = run(c, "/stats/slb/virt 1")
    assert virt[:4] == ["Virtual server 1 stats:", *render._TABLE_HEAD]
    # the HTTP connection waits for its request (delayed binding): no real yet
    assert virt[-1].startswith(f"{VIP:<21}") and virt[-1].split()[1:4] == ["3", "3", "3"]
    group = run(c, "/stats/slb/group 2")
    assert group[0] == "Real server group 2 stats:" and group[-1].split()[:3] == ["3", "3", "3"]
    real = run(c, "/stats/slb/real 1")
    assert real[0] == "Real server 1 stats:"
    assert run(c, "/stats/slb/layer7/maint")[0] == "Layer 7 maintenance stats:"
    run(c, "/stats/slb/clear")
    assert run(c, "/stats/slb/group 2")[-1].split()[:3] == ["3", "0", "3"]  # current stays


def test_oper_clear_and_real_disable():
    c, io = boot(None, "y")
    traffic(c)
    assert run(c, "/oper/slb/clear") == ["Session table cleared: 4 sessions removed."]
    assert io.asked == ["Confirm clearing the SLB session table [y/n]: "]
    assert len(c.rt.switch.sessions) == 0
    run(c, "/oper/slb/dis 4")
    assert "  4: 10.0.1.21, ftp1, health inherit, DISABLED" in run(c, "/info/slb/dump")
    connect(c, "198.51.100.20", 40000)
    assert {s.real for s in c.rt.switch.sessions} == {5}
    run(c, "/oper/slb/ena 4")
    assert "  4: 10.0.1.21, ftp1, health inherit, UP" in run(c, "/info/slb/dump")


def test_info_slb_dump_layout():
    c, _ = boot()
    out = run(c, "/info/slb/dump")
    assert out[0] == "Real server state:"
    assert "1: IP4 192.0.2.100,   02:00:00:00:00:01, vname www" in out
    i = out.index("    ftp: rport ftp, group 2, ftp, health tcp (TCP), pbind clientip")
    assert out[i + 1:i + 3] == ["        Real Servers:",
                                "        4: 10.0.1.21, ftp1, group ena, health  (runtime TCP), UP"]


def test_standalone_switch_without_ha():
    c, _ = boot()
    assert c.rt.role == "standalone"
    assert run(c, "/info/slb/sync")[-1] == "Mirror: not configured"
    assert c.execute("/oper/slb/sync").error == \
        "cannot sync: this switch runs standalone (no peer is connected)"
    assert c.execute("/oper/vrrp/back 1").error == \
        "VRRP is not running: this switch runs standalone"
    assert run(c, "/info/vrrp")[0] == "VRRP information: off (not running: standalone switch)"


def test_ha_provider_plugs_in():
    ha = FakeHa()
    c, io = boot(None, "y", ha=ha, clock=lambda: 100.0)
    assert c.rt.role == "MASTER"
    sync = run(c, "/info/slb/sync")
    assert sync[-1] == ("    peer 10.1.1.2: connected, last update 10.0 s ago, entries sent 120, "
                        "acknowledged 118")
    assert run(c, "/oper/slb/sync") == ["Configuration sent to peer 10.1.1.2."]
    assert io.asked == ["Confirm Sync to Peer [y/n]: "]
    assert ha.pushed == [c.rt.store.applied]
    assert run(c, "/oper/vrrp/back 1") == ["Virtual router 1 backs off (priority 0)."]
    assert run(c, "/info/vrrp")[1] == \
        "    1: vrid 15, 192.0.2.100, if 1, renter, prio 200, master, server"


def test_info_sys():
    c, _ = boot()
    out = run(c, "/info/sys")
    assert out[0] == "System Information:" and "    sysName:          weboslb" in out


# ---- boot and maint --------------------------------------------------------------------------

def test_boot_load_puts_a_file_in_pending(tmp_path):
    from weboslb.config import files

    path = tmp_path / "other.yaml"
    path.write_text(files.default_text().replace("name: web1", "name: blue"))
    c, _ = boot()
    out = run(c, f"/boot/load {path}")
    assert out[0].startswith(f"Loaded {path} into the pending configuration")
    assert run(c, "diff") == ["/c/slb/real 1", '\tname "blue"']
    bad = tmp_path / "bad.yaml"
    bad.write_text("slb: {real: {1: {weight: lots}}}\n")
    res = c.execute(f"/boot/load {bad}")
    assert res.error == f"{bad}: not loaded (1 error)" and res.output[0].startswith(f"{bad}:1:")
    assert c.execute(f"/boot/load {tmp_path}/missing.yaml").error == \
        f"cannot read {tmp_path}/missing.yaml: No such file or directory"


def test_boot_reset_boots_from_flash():
    c, io = boot(None, "y")
    run(c, "/c/slb/real 1/weight 3", "apply")
    traffic(c)
    old = c.rt.switch
    out = run(c, "/boot/reset")
    assert out[0].startswith("Switch reset") and c.rt.switch is not old
    assert len(c.rt.switch.sessions) == 0 and c.rt.switch.config.slb.real[1].weight == 1
    assert c.prompt == ">> Main# "


def test_maint_replay_summary_and_report():
    seen: list[list[str]] = []
    written: dict[str, str] = {}

    def replay(paths: list[str]) -> str:
        seen.append(paths)
        return "3 frames\n2 sessions"

    c, _ = boot(None, replay=replay, writer=written.__setitem__)
    assert c.execute("/maint/summary").error == "no replay has run yet (/maint/replay FILE)"
    assert run(c, "/maint/replay /tmp/a.pcap b.pcapng") == ["3 frames", "2 sessions"]
    assert seen == [["/tmp/a.pcap", "b.pcapng"]]
    assert run(c, "summary") == ["3 frames", "2 sessions"]
    run(c, "report /tmp/out/report.txt")
    assert written == {"/tmp/out/report.txt": "3 frames\n2 sessions"}


def test_maint_replay_errors_are_one_line():
    def replay(paths: list[str]) -> str:
        raise ValueError(f"{paths[0]}: offset 24: truncated record")

    c, _ = boot(None, replay=replay)
    assert c.execute("/maint/replay x.pcap").error == \
        "replay failed: x.pcap: offset 24: truncated record"
    c2, _ = boot()
    assert c2.execute("/maint/replay x.pcap").error == \
        "replay is not available: no replay runner is plugged in"


# ---- the tree stays in step with dispatch and render ----------------------------------------

def test_every_command_of_the_tree_has_a_handler():
    c, _ = boot()
    actions = {g.action for g in tree.GLOBALS} - {"up"}
    stack = [tree.MAIN]
    while stack:
        node = stack.pop()
        for item in getattr(node, "items", ()):
            if isinstance(item, tree.Command):
                actions.add(item.action)
            elif isinstance(item, tree.OpMenu):
                stack.append(item)
    actions.add(tree.DUMP.action)
    assert actions <= set(c._actions), actions - set(c._actions)


def test_every_counter_has_a_label():
    from dataclasses import fields

    from weboslb.engine.stats import Layer7Stats, MaintStats

    assert {f.name for f in fields(MaintStats) if not f.name.startswith("_")} == \
        set(render.MAINT_LABELS)
    assert {f.name for f in fields(Layer7Stats)} == set(render.LAYER7_LABELS)


# ---- anything typed --------------------------------------------------------------------------

_WORDS = ["cfg", "c", "slb", "sl", "real", "re", "group", "virt", "service", "pbind", "cookie",
          "passive", "weight", "rip", "ena", "dis", "del", "cur", "add", "rem", "apply",
          "diff", "revert", "lines", "..", "up", "info", "stats", "oper", "boot", "maint",
          "sess", "dump", "1", "2", "80", "300", "-1", "10.0.0.1", '"x y"', '"', "?", "help",
          "verbose", "http", "flash", "é", "\t", "vrrp", "direct"]


def test_typed_lines_never_raise_and_refused_lines_change_nothing():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    step = st.lists(st.sampled_from(_WORDS) | st.text(max_size=6), min_size=0, max_size=4)
    line = st.tuples(st.booleans(), st.lists(step.map(" ".join), max_size=5)).map(
        lambda t: ("/" if t[0] else "") + "/".join(t[1]))

    shared, _ = boot()
    rt = shared.rt

    @settings(max_examples=300, deadline=None)
    @given(lines=st.lists(line, min_size=1, max_size=4))
    def check(lines):
        rt.store.revert_apply()  # every example starts from the booted config
        rt.run_applied()
        c = Console(rt, verbose=0)
        for text in lines:
            before = deepcopy(pending(c))
            res = c.execute(text)
            if res.error is not None:
                assert pending(c) == before, text
            assert c.prompt.startswith(">> ") and c.prompt.endswith("# ")

    check()


def test_ctrl_c_during_a_long_command_cancels_the_line():
    def replay(paths: list[str]) -> str:
        raise KeyboardInterrupt

    c, _ = boot(None, replay=replay)
    run(c, "/c/slb/real 1")
    res = c.execute("/c/slb/real 2/weight 9/../../../maint/replay big.pcap")
    assert res.cancelled and res.error is None
    assert c.prompt == ">> Real server 1# "
    assert pending(c).slb.real[2].weight == 9  # committed before the command ran
