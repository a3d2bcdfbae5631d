"""Broken captures through the command line: ``weboslb replay`` and ``weboslb extract``.

Each case is a capture of good traffic (``corpus.good_frames``, pcap or pcapng) damaged one
way.  A user sees one line on standard error naming the file, the offset of the bad record and
what is wrong with it; everything before that record is replayed (the report is the report of
the good prefix, byte for byte but for the file name and the timings) and extracted (the same
rows); the exit status says whether anything was.  A file that is no capture at all is refused
in one line, before anything runs.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.malformed.corpus import (
    CONFIG,
    Layout,
    block_header,
    good_frames,
    pcap_layout,
    pcapng_layout,
    record_header,
)
from weboslb.io.pcap import MAX_RECORD
from weboslb.main import main

FRAMES = good_frames()
PCAP = pcap_layout(FRAMES)
PCAPNG = pcapng_layout(FRAMES)
AT = 40  # the damaged record: frames 0..39 come before it


@dataclass(frozen=True)
class Broken:
    """A capture damaged at ``offset`` (the start of the bad record); ``reason`` as printed."""

    data: bytes
    offset: int
    reason: str


def cut(layout: Layout, extra: int) -> Broken:
    start = layout.starts[AT]
    return Broken(layout.data[:start + extra], start, "")


def replaced(layout: Layout, new: bytes, reason: str, keep_tail: bool = True) -> Broken:
    """Record AT's first bytes replaced by ``new`` (the rest of the file kept)."""
    start = layout.starts[AT]
    tail = layout.data[start + len(new):] if keep_tail else b""
    return Broken(layout.data[:start] + new + tail, start, reason)


def epb_field(field: int, value: int, reason: str, layout: Layout = PCAPNG) -> Broken:
    """EPB AT with the 32-bit word at ``field`` bytes into the block set to ``value``."""
    data = bytearray(layout.data)
    struct.pack_into("<I", data, layout.starts[AT] + field, value)
    return Broken(bytes(data), layout.starts[AT], reason)


SNAP = pcap_layout(FRAMES, snaplen=1000)
NOSNAP = pcap_layout(FRAMES, snaplen=0)
EPB_LEN = PCAPNG.starts[AT + 1] - PCAPNG.starts[AT]
LEFT = len(PCAPNG.data) - PCAPNG.starts[AT]

BROKEN = {
    "pcap cut in a record header": (cut(PCAP, 7), "truncated record header (7 of 16 bytes)"),
    "pcap cut in a frame": (cut(PCAP, 16 + 10), f"truncated record (captured length "
                                                f"{len(FRAMES[AT])}, 10 bytes left)"),
    "pcap record longer than the snapshot length": (
        replaced(SNAP, record_header(1500), ""),
        "record length 1500 exceeds the snapshot length 1000"),
    "pcap absurd record length": (
        replaced(NOSNAP, record_header(0x7FFF_FFFF), ""),
        f"record length {0x7FFF_FFFF} exceeds 256 MiB"),
    "pcap record over 256 MiB": (
        replaced(NOSNAP, record_header(MAX_RECORD + 1), ""),
        f"record length {MAX_RECORD + 1} exceeds 256 MiB"),
    "pcap garbage instead of a record": (
        replaced(PCAP, b"\xff" * 40, "", keep_tail=False),
        "record length 4294967295 exceeds the snapshot length 65535"),
    "pcapng cut in a block header": (cut(PCAPNG, 10), "truncated block header (10 of 12 "
                                                      "bytes)"),
    "pcapng cut in a block": (cut(PCAPNG, 20), f"block of {EPB_LEN} bytes runs past the end "
                                               f"of the file (20 bytes left)"),
    "pcapng block length not a multiple of 4": (
        epb_field(4, EPB_LEN + 1, ""), f"bad block length {EPB_LEN + 1}"),
    "pcapng block length below the minimum": (epb_field(4, 8, ""), "bad block length 8"),
    "pcapng absurd block length": (epb_field(4, 0x7FFF_FFF0, ""), f"bad block length "
                                                                  f"{0x7FFF_FFF0}"),
    "pcapng block longer than the file": (
        epb_field(4, LEFT + 4, ""),
        f"block of {LEFT + 4} bytes runs past the end of the file ({LEFT} bytes left)"),
    "pcapng trailing length differs": (
        epb_field(EPB_LEN - 4, EPB_LEN + 8, ""),
        f"trailing block length {EPB_LEN + 8} differs from {EPB_LEN}"),
    "pcapng packet for an undeclared interface": (
        epb_field(8, 3, ""), "packet for interface 3, but the section defines 1"),
    "pcapng captured length past its block": (
        epb_field(20, 4000, ""), f"captured length 4000 runs past its {EPB_LEN}-byte block"),
    "pcapng packet block too short": (
        replaced(PCAPNG, block_header(6, 12) + struct.pack("<I", 12), ""),
        "packet block of 12 bytes is too short"),
    "pcapng section of an unsupported version": (
        replaced(PCAPNG, block_header(0x0A0D0D0A, 28) + struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)
                 + struct.pack("<I", 28), ""),
        "unsupported pcapng version 2.0"),
}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def comparable(report: dict) -> dict:
    """A report without what differs between two files of the same frames."""
    summary = {k: v for k, v in report["summary"].items()
               if k not in ("captures", "errors", "elapsed", "pps")}
    return {**report, "summary": summary}


def replay_json(tmp_path: Path, capture: Path, capsys) -> tuple[int, dict, str]:
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / f"{capture.name}.json"
    code, _, err = run(["replay", "-q", "-c", str(cfg), str(capture), "--report-json",
                        str(out)], capsys)
    return code, json.loads(out.read_text()), err


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_capture_is_one_line_and_its_good_prefix_is_replayed(tmp_path, name, capsys):
    broken, reason = BROKEN[name]
    bad = tmp_path / "bad.cap"
    bad.write_bytes(broken.data)
    good = tmp_path / "prefix.cap"
    good.write_bytes(broken.data[:broken.offset])

    code, report, err = replay_json(tmp_path, bad, capsys)
    assert code == 0
    assert err == f"weboslb replay: {bad}: offset {broken.offset}: {reason}\n"
    assert report["summary"]["errors"] == [f"{bad}: offset {broken.offset}: {reason}"]
    assert report["summary"]["packets"] == AT
    code, prefix, err = replay_json(tmp_path, good, capsys)
    assert (code, err) == (0, "")
    assert comparable(report) == comparable(prefix)

    code, rows, err = run(["extract", "--no-header", str(bad)], capsys)
    assert code == 0 and err == f"weboslb extract: {bad}: offset {broken.offset}: {reason}\n"
    assert rows and run(["extract", "--no-header", str(good)], capsys) == (0, rows, "")


NOT_CAPTURES = {
    "empty file": (b"", "not a pcap or pcapng capture (empty file)"),
    "text": (b"GET / HTTP/1.1\r\n", "not a pcap or pcapng capture (magic 0x47455420)"),
    "pcap header cut": (PCAP.data[:10], "offset 0: truncated pcap file header (10 of 24 "
                                        "bytes)"),
    "pcap version 1.0": (b"\xd4\xc3\xb2\xa1\x01\x00\x00\x00" + PCAP.data[8:],
                         "offset 0: unsupported pcap version 1.0"),
    "pcapng section header cut": (PCAPNG.data[:8], "offset 0: truncated pcapng section header "
                                                   "(8 of 12 bytes)"),
    "pcapng byte-order magic wrong": (PCAPNG.data[:8] + b"XXXX" + PCAPNG.data[12:],
                                      "not a pcap or pcapng capture (magic "
                                      "0x0a0d0d0a1c00000058585858)"),
}


@pytest.mark.parametrize("name", list(NOT_CAPTURES))
def test_a_file_that_is_no_capture_is_refused_in_one_line(tmp_path, name, capsys):
    data, message = NOT_CAPTURES[name]
    bad = tmp_path / "bad.cap"
    bad.write_bytes(data)
    code, out, err = run(["replay", str(bad)], capsys)
    assert code == 1 and err.startswith(f"weboslb replay: {bad}: {message}")
    assert err.count("\n") == 1
    code, out, err = run(["extract", "--no-header", str(bad)], capsys)
    assert code == 1 and err == f"weboslb extract: {bad}: {message}\n" and out == ""


def test_a_broken_capture_on_standard_input_is_named_and_its_prefix_kept(tmp_path):
    broken, reason = BROKEN["pcap cut in a frame"]
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(CONFIG)
    run = subprocess.run([sys.executable, "-m", "weboslb", "replay", "-c", str(cfg), "-",
                          "--report-json", str(tmp_path / "r.json")], input=broken.data,
                         capture_output=True, timeout=120, check=False)
    assert run.returncode == 0
    assert run.stderr.decode() == f"weboslb replay: <stdin>: offset {broken.offset}: {reason}\n"
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["packets"] == AT


def test_a_capture_broken_among_several_costs_only_its_own_tail(tmp_path, capsys):
    """Captures merged by time: the broken one stops at its bad record, the others run on."""
    broken, reason = BROKEN["pcapng trailing length differs"]
    other = pcap_layout(FRAMES[:AT])  # the same frames, a second capture beside it
    paths = {}
    for name, data in (("bad", broken.data), ("prefix", broken.data[:broken.offset]),
                       ("other", other.data)):
        paths[name] = tmp_path / f"{name}.cap"
        paths[name].write_bytes(data)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(CONFIG)
    reports = []
    for first in ("bad", "prefix"):
        out = tmp_path / f"{first}.json"
        code, _, err = run(["replay", "-q", "-c", str(cfg), str(paths[first]),
                            str(paths["other"]), "--report-json", str(out)], capsys)
        assert code == 0
        reports.append(json.loads(out.read_text()))
    assert err == "" and reports[0]["summary"]["packets"] == 2 * AT
    assert reports[0]["summary"]["errors"] == [f"{paths['bad']}: offset {broken.offset}: "
                                               f"{reason}"]
    assert comparable(reports[0]) == comparable(reports[1])
