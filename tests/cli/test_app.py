"""The interactive console through prompt_toolkit, with keys from a pipe (prompt_toolkit's
testing recipe: ``create_pipe_input`` and ``DummyOutput``)."""
from __future__ import annotations

from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.cli.helpers import FakeHa, boot
from weboslb.cli.app import PAGER_PROMPT, ConsoleApp, history_path, open_history, toolbar_text

CTRL_C, CTRL_D = "\x03", "\x04"


def session(keys: str, console=None, history=None, eof: bool = False
            ) -> tuple[int, list[str], object]:
    """Run the console on ``keys`` (then the end of input, with ``eof``); its exit status,
    what it printed, and the console."""
    if console is None:
        console, _ = boot()
    out: list[str] = []
    with create_pipe_input() as inp:
        inp.send_text(keys)
        if eof:
            inp.close()
        app = ConsoleApp(console, input=inp, output=DummyOutput(), echo=out.append,
                         history=history)
        rc = app.run()
    return rc, out, console


def test_a_change_applied_from_the_prompt():
    rc, out, c = session("/c/sl/re 1/weight 7\rapply\rexit\r")
    assert rc == 0
    assert out[0].startswith("Alteon Web OS switch emulator")
    assert "[Main Menu]" in out
    assert 'Apply complete; don\'t forget to "save" updated configuration.' in out
    assert c.rt.switch.config.slb.real[1].weight == 7


def test_errors_are_printed_and_the_session_goes_on():
    rc, out, c = session("/c/slb/real 1/weight 49\rfoo\rexit\r")
    assert "bad weight 49; must be between 1 and 48" in out
    assert 'unknown command "foo"' in out
    assert rc == 0 and not c.rt.store.changed


def test_a_question_is_answered_on_the_terminal():
    rc, out, c = session("/c/slb/real 2/weight\r12\rexit\ry\r")
    assert "Current server weight: 1" in out
    assert c.rt.store.pending.slb.real[2].weight == 12


def test_ctrl_c_cancels_the_line_being_typed_and_a_question():
    keys = "/c/slb/real 2/weight 9" + CTRL_C + "/c/slb/real 3/weight\r" + CTRL_C + "exit\r"
    rc, out, c = session(keys)
    assert rc == 0 and not c.rt.store.changed


def test_ctrl_d_exits_with_the_unapplied_changes_warning():
    keys = "/c/slb/real 1/dis\r" + CTRL_D + "n\r" + "diff\r" + CTRL_D + "y\r"
    rc, out, c = session(keys)
    assert out.count("WARNING: There are unapplied configuration changes.") == 2
    assert "\tdis" in out  # the n kept the session: diff ran
    assert rc == 0


def test_end_of_input_ends_the_session_even_with_pending_changes():
    rc, out, c = session("/c/slb/real 1/dis\r", eof=True)
    assert rc == 0 and "WARNING: There are unapplied configuration changes." in out


def test_long_output_is_paged_by_lines():
    rc, out, c = session("lines 6\r/stats/slb/maint\rq" + "exit\r")
    page = out.index("SLB Maintenance Stats:")
    assert out[page:] == c.execute("/stats/slb/maint").output[:5]  # one screen, then q
    rc, out, c = session("lines 6\r/stats/slb/maint\r" + " " * 10 + "exit\r")
    page = out.index("SLB Maintenance Stats:")
    assert out[page:] == c.execute("/stats/slb/maint").output  # every key went on


def test_lines_0_turns_paging_off():
    rc, out, c = session("lines 0\r/stats/slb/maint\rexit\r")
    assert any(line.startswith("Incorrect IP6 Vports") for line in out)


def test_history_is_kept_across_sessions(tmp_path):
    path = tmp_path / "state" / "weboslb" / "history"
    session("/c/slb/real 1/weight 3\rexit\ry\r", history=open_history(path))
    assert path.exists()
    again = FileHistory(str(path))
    assert "/c/slb/real 1/weight 3" in list(again.load_history_strings())


def test_history_location(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "weboslb" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".weboslb_history"


def test_toolbar_shows_role_changes_and_sync():
    c, _ = boot()
    assert toolbar_text(c) == " standalone | no pending changes | sync: not configured "
    c.execute("/c/slb/real 1/dis")
    assert "* unapplied changes" in toolbar_text(c)
    ha_console, _ = boot(None, ha=FakeHa())
    assert toolbar_text(ha_console) == \
        " MASTER | no pending changes | sync: connected, sent 120, acked 118 "


def test_pager_prompt_is_the_devices():
    assert PAGER_PROMPT == "Press q to quit, any other key to continue"
