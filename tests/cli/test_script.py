"""``weboslb cli`` without a terminal: -c, script files, standard input, exit statuses."""
from __future__ import annotations

import argparse
import io

import pytest

from weboslb.cli import command
from weboslb.cli.script import split_commands
from weboslb.config import files


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = command.main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_commands_run_without_prompts(capsys):
    rc, out, err = cli(capsys, "-c", "/c/sl/re 1/weight 7; diff; apply")
    assert rc == 0 and err == ""
    assert out.splitlines() == ["/c/slb/real 1", "\tweight 7", "-" * 66,
                                'Apply complete; don\'t forget to "save" updated configuration.']
    assert ">>" not in out


def test_the_first_error_stops_the_script_with_status_1(capsys):
    rc, out, err = cli(capsys, "-c", "/c/slb/real 1/weight 5; /c/slb/real 1/weight 50; diff")
    assert rc == 1
    assert err.splitlines() == ["-c:2: bad weight 50; must be between 1 and 48"]
    assert out == ""  # diff never ran


def test_repeated_c_options_are_numbered_across(capsys):
    rc, out, err = cli(capsys, "-c", "/info/sys", "-c", "pwd; nonsense")
    assert rc == 1 and err.splitlines() == ['-c:3: unknown command "nonsense"']


def test_a_script_file_answers_questions_from_its_next_lines(tmp_path, capsys):
    script = tmp_path / "setup.txt"
    script.write_text("# persistence for the HTTPS service\n"
                      "/c/slb/virt 1/service 443/pbind\n"
                      "cookie\ni\nSRV\n\n"
                      "/* a dump comment */\n"
                      "/c/slb/real 2\n\tweight 4\n"
                      "apply\n")
    rc, out, err = cli(capsys, str(script))
    assert rc == 0, err
    assert "New cookie persistence mode: insert" in out
    assert out.splitlines()[-1] == 'Apply complete; don\'t forget to "save" updated ' \
        "configuration."


def test_errors_name_the_file_and_line(tmp_path, capsys):
    script = tmp_path / "broken.txt"
    script.write_text("/c/slb/real 1\n\n\tbogus 1\n")
    rc, out, err = cli(capsys, str(script))
    assert rc == 1 and err.splitlines() == [f'{script}:3: unknown command "bogus"']


def test_standard_input_is_a_script(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("/c/slb/real 1/weight\n9\ndiff\n"))
    rc, out, err = cli(capsys)
    assert rc == 0
    assert out.splitlines() == ["Current server weight: 1", "/c/slb/real 1", "\tweight 9"]
    assert err == "WARNING: There are unapplied configuration changes (lost on exit).\n"


def test_a_question_at_the_end_of_input_is_an_error(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("/c/slb/real 1/weight\n"))
    rc, out, err = cli(capsys, "-")
    assert rc == 1
    assert err == '<stdin>:1: no answer to "Enter new server weight [1-48]:" (end of input)\n'


def test_save_writes_the_config_file_in_its_own_format(tmp_path, capsys):
    path = tmp_path / "switch.yaml"
    path.write_text(files.default_text())
    rc, out, err = cli(capsys, "--config", str(path), "-c",
                       "/c/slb/real 3/weight 11; apply; save; exit")
    assert rc == 0, err
    assert f"New config successfully saved to FLASH ({path})" in out
    saved = files.load(path)
    assert saved.ok and saved.config.slb.real[3].weight == 11
    assert files.sniff(path.read_text()) == "yaml"


def test_a_dump_config_boots_and_saves_as_a_dump(tmp_path, capsys):
    path = tmp_path / "switch.cfg"
    path.write_text(files.render(files.default(), "dump"))
    rc, out, err = cli(capsys, "--config", str(path), "-c", "/c/slb/real 2/dis; apply; save")
    assert rc == 0, err
    assert path.read_text().startswith("script start")
    assert not files.load(path).config.slb.real[2].ena


@pytest.mark.parametrize("text, message", [
    ("slb: {real: {1: {weight: lots}}}\n", "not loaded"),
    ("slb:\n  virt:\n    1: {ena: true, vip: 192.0.2.1, service: {80: {group: 9}}}\n",
     "the configuration does not apply; not started"),
])
def test_a_config_that_cannot_run_is_refused(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    rc, out, err = cli(capsys, "--config", str(path), "-c", "/info/sys")
    assert rc == 2 and message in err.splitlines()[-1]
    assert err.splitlines()[0].startswith(f"{path}:")  # the problem, with its line


def test_a_missing_config_file(capsys):
    rc, out, err = cli(capsys, "--config", "/nonexistent/sw.yaml", "-c", "pwd")
    assert rc == 2
    assert err == "weboslb cli: cannot read /nonexistent/sw.yaml: No such file or directory\n"


def test_add_parser_wires_into_the_weboslb_command(capsys):
    parser = argparse.ArgumentParser(prog="weboslb")
    sub = parser.add_subparsers(dest="command")
    command.add_parser(sub)
    args = parser.parse_args(["cli", "-c", "/stats/slb/real 1"])
    assert args.run(args) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Real server 1 stats:"


def test_semicolons_inside_quotes_do_not_split():
    assert split_commands('a; /c/slb/real 1/name "x;y"; b') == \
        ["a", '/c/slb/real 1/name "x;y"', "b"]
