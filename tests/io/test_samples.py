"""The real captures of ../shared/samples/pcaps: frame counts, times and lengths agree with
tshark's truth files, and the frames with scapy's reading."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
from scapy.utils import RawPcapNgReader, RawPcapReader

from weboslb.io.capture import merge, open_capture

PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "pcaps"


def summary() -> dict[str, int]:
    path = PCAPS / "SUMMARY.tsv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["capture"]: int(row["frames"])
                for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}


CAPTURES = sorted(summary())


def need(name: str) -> Path:
    path = PCAPS / name
    if not path.is_file():
        pytest.skip(f"{name} is absent")
    return path


def truth(path: Path) -> list[tuple[float, int]]:
    """(frame.time_epoch, frame.len) per frame, from tshark."""
    stem = path.name.rsplit(".", 1)[0]
    with open(PCAPS / f"{stem}.truth.tsv", newline="", encoding="utf-8") as fh:
        return [(float(row["frame.time_epoch"]), int(row["frame.len"]))
                for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)]


@pytest.mark.skipif(not CAPTURES, reason="../shared/samples/pcaps is absent")
@pytest.mark.parametrize("name", CAPTURES)
def test_counts_times_and_lengths_agree_with_tshark(name):
    path = need(name)
    with open_capture(path) as cap:
        times, wires = [], []
        for batch in cap.batches():
            times.extend(batch.times)
            wires.extend(batch.wire_lengths)
        assert cap.error is None and cap.skipped == 0
        assert cap.records == len(times) == summary()[name]
        assert cap.position == cap.size == path.stat().st_size
    want = truth(path)
    assert wires == [w for _, w in want]
    # microsecond captures: one double step (2.4e-7 s at these epochs) is the only slack
    assert all(abs(t - w) < 5e-7 for t, (w, _) in zip(times, want, strict=True))


@pytest.mark.skipif(not CAPTURES, reason="../shared/samples/pcaps is absent")
@pytest.mark.parametrize("name", ["ndpi_alexa_app.pcapng", "tcpreplay_test.pcap",
                                  "cs_ppa2e_http_espn.pcap"])
def test_frames_agree_with_scapy(name):
    path = need(name)
    reader = (RawPcapNgReader if path.suffix == ".pcapng" else RawPcapReader)(str(path))
    want = [bytes(data) for data, _ in reader]
    reader.close()
    with open_capture(path) as cap:
        assert [f for _, _, f in cap.frames()] == want


@pytest.mark.skipif(not CAPTURES, reason="../shared/samples/pcaps is absent")
def test_merging_the_ftp_captures_keeps_every_frame_in_time_order():
    paths = [need(n) for n in ("zeek_ftp_ipv4.pcap", "zeek_ftp_ipv6.pcap", "cs_ppa1e_ftp.pcap")]
    captures = [open_capture(p) for p in paths]
    times = [t for batch in merge(captures) for t in batch.times]
    assert len(times) == sum(summary()[p.name] for p in paths)
    assert times == sorted(times)
    for cap in captures:
        cap.close()
