"""``weboslb config check`` and ``weboslb config convert`` through the real entry point."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.config.helpers import BASE_YAML, REPO, SAMPLES
from weboslb.config import dump, files, yamlio
from weboslb.main import main

EXAMPLES = sorted((REPO / "configs").glob("*.yaml"))


def test_there_are_examples_for_every_persistence_mode_and_the_ha_pair() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"clientip", "cookie-insert", "cookie-passive", "cookie-rewrite", "sslid", "ftp",
            "urlhash", "ha-a", "ha-b"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_passes_config_check(path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ok (") and "error" not in out and "warning" not in out


def test_the_packaged_default_passes_check(capsys: pytest.CaptureFixture) -> None:
    cfg = files.default()
    assert cfg.slb.on and cfg.slb.virt
    assert main(["config", "check", str(REPO / "weboslb" / "config" / "default.yaml")]) == 0


def test_the_ha_pair_differs_only_where_an_ha_pair_must() -> None:
    a = files.load(REPO / "configs" / "ha-a.yaml").config
    b = files.load(REPO / "configs" / "ha-b.yaml").config
    assert a is not None and b is not None
    assert a.slb.sync.state and b.slb.sync.state
    assert a.slb.real == b.slb.real and a.slb.group == b.slb.group and a.slb.virt == b.slb.virt
    assert a.slb.adv == b.slb.adv
    # each names the other's sync interface (loopback, for `weboslb switch`)
    assert a.slb.sync.peer[1].addr == b.l3.if_[3].addr and b.slb.sync.peer[1].addr == \
        a.l3.if_[3].addr
    for k, vr in a.l3.vrrp.vr.items():
        assert (vr.vrid, vr.addr, vr.share) == (b.l3.vrrp.vr[k].vrid, b.l3.vrrp.vr[k].addr,
                                                False)
        assert vr.prio > b.l3.vrrp.vr[k].prio


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_lists_every_error_with_file_and_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    bad = BASE_YAML.replace("rip: 10.0.1.12}", "rip: 10.0.1.12, weight: 60}").replace(
        "80: {app: http, group: 1,", "80: {app: http, group: 3,")
    path = write(tmp_path, "bad.yaml", bad)
    assert main(["config", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    weight = 1 + next(i for i, ln in enumerate(bad.splitlines()) if "weight: 60" in ln)
    group = 1 + next(i for i, ln in enumerate(bad.splitlines()) if "group: 3" in ln)
    assert lines == [
        f"{path}:{weight}: error: /cfg/slb/real 2: weight 60 out of range 1-48",
        f"{path}:{group}: error: /cfg/slb/virt 1/service 80: group 3 does not exist",
        f"{path}: 2 errors"]


def test_check_reports_malformed_dump_lines(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, "bad.cfg", "/c/slb/real 1\n\trip 10.0.0.1\n\tweight lots\n"
                                      "\tshut psession\n")
    assert main(["config", "check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:3: error: /cfg/slb/real 1: weight: expected a number <1-48>, got 'lots'",
        f"{path}:4: warning: /cfg/slb/real 1: unknown command 'shut' kept verbatim",
        f"{path}: 1 error"]


def test_check_quiet_prints_only_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, "w.cfg", "/c/slb/real 1\n\trip 10.0.0.1\n\tshut psession\n")
    assert main(["config", "check", "-q", str(path)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("text, message", [
    ("slb: {real: [1\n", "YAML syntax: expected ',' or ']', but got '<stream end>' (while "
     "parsing a flow sequence)"),
    ("4: IP4 1.4.222.10,   00:03:b2:78:08:05, vname x\n",
     "this is /info/slb/dump output (operational state), not a configuration dump"),
])
def test_check_of_something_that_is_not_a_config(tmp_path: Path, text: str, message: str,
                                                  capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, "x.txt" if text.startswith("4:") else "x.yaml", text)
    assert main(["config", "check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].endswith(f": error: {message}")
    assert out[1] == f"{path}: nothing loaded"


def test_check_of_binary_junk(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "junk.cfg"
    path.write_bytes(b"/c/slb\n\xff\xfe\x00")
    assert main(["config", "check", str(path)]) == 1
    assert f"{path}:2: error: not a text file (invalid UTF-8)" in capsys.readouterr().out


def test_check_of_a_missing_file_is_a_usage_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared samples are absent")
def test_check_of_the_samples(capsys: pytest.CaptureFixture) -> None:
    radware = SAMPLES / "GENERATED_Radware_F5-to-Alteon-Migrator_sample01.cfg"
    assert main(["config", "check", str(radware)]) == 0
    info = SAMPLES / "netopsify_alteon-dump-parser_info-slb-dump.txt"
    assert main(["config", "check", str(info)]) == 1
    assert "not a configuration dump" in capsys.readouterr().out


def test_convert_yaml_to_dump_and_back(tmp_path: Path) -> None:
    src = REPO / "configs" / "ha-a.yaml"
    out_cfg = tmp_path / "ha-a.cfg"
    assert main(["config", "convert", str(src), str(out_cfg)]) == 0
    text = out_cfg.read_text()
    assert text.startswith("script start ") and "/c/slb/sync\n" in text
    back = tmp_path / "back.yaml"
    assert main(["config", "convert", str(out_cfg), str(back)]) == 0
    assert yamlio.read(back.read_text()).config == files.load(src).config


def test_convert_to_stdout_needs_a_format(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = REPO / "configs" / "sslid.yaml"
    assert main(["config", "convert", str(src), "-"]) == 2
    assert "use --to yaml|dump" in capsys.readouterr().err
    assert main(["config", "convert", str(src), "-", "--to", "dump"]) == 0
    assert dump.read(capsys.readouterr().out).config == files.load(src).config


def test_convert_refuses_a_file_with_errors(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    src = write(tmp_path, "bad.cfg", "/c/slb/real 1\n\tweight heavy\n")
    dst = tmp_path / "out.yaml"
    assert main(["config", "convert", str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2: error:" in err and "not converted" in err
    assert not dst.exists()


def test_convert_refuses_what_the_target_cannot_hold(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    src = write(tmp_path, "q.yaml", "slb: {real: {1: {name: 'a\" b'}}}\n")
    assert main(["config", "convert", str(src), str(tmp_path / "q.cfg")]) == 1
    assert "cannot represent" in capsys.readouterr().err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared samples are absent")
def test_convert_a_sample_dump_keeps_it_whole(tmp_path: Path) -> None:
    sample = tmp_path / "s.cfg"
    shutil.copy(SAMPLES / "netopsify_alteon-config-parser.cfg", sample)
    assert main(["config", "convert", str(sample), str(tmp_path / "s.yaml")]) == 0
    assert main(["config", "convert", str(tmp_path / "s.yaml"), str(tmp_path / "s2.cfg")]) == 0
    original = files.load(sample).config
    assert original is not None
    assert (tmp_path / "s2.cfg").read_text() == dump.write(original)


def test_config_without_action_prints_help(capsys: pytest.CaptureFixture) -> None:
    assert main(["config"]) == 0
    assert "check" in capsys.readouterr().out
