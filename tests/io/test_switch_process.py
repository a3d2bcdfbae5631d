"""Two ``weboslb switch`` processes on loopback form an HA pair: A masters and mirrors, is
killed with SIGKILL, B takes over within the master-down interval plus a second, holds every
persistent entry A had acknowledged, and the clients replayed into B keep their servers."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from weboslb.io.capture import open_capture
from weboslb.io.pcap import PcapWriter
from weboslb.io.traffic import demo_capture

REPO = Path(__file__).resolve().parents[2]
VIP = "192.0.2.100"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pair_config(name: str, tmp: Path) -> Path:
    """configs/ha-X.yaml for a quick test: no holdoff, immediate mirror updates, and a
    round-robin group (so a client re-balanced without the mirror would likely move)."""
    text = (REPO / "configs" / name).read_text()
    text = text.replace("holdoff: 3", "holdoff: 0").replace("update: 10", "update: 0")
    text = text.replace("metric: hash", "metric: roundrobin")
    out = tmp / name
    out.write_text(text)
    return out


def split(capture: Path, first: Path, second: Path) -> int:
    """The capture's frames before and after its middle instant; the frames in the first."""
    frames = []
    with open_capture(str(capture)) as cap:
        for b in cap.batches(4096):
            frames += [(b.times[i], bytes(b.frame(i)), b.link(i)) for i in range(len(b))]
    middle = (frames[0][0] + frames[-1][0]) / 2
    head = [f for f in frames if f[0] < middle]
    for path, part in ((first, head), (second, [f for f in frames if f[0] >= middle])):
        with PcapWriter(path, part[0][2]) as w:
            for t, data, _ in part:
                w.write(t, data)
    return len(head)


class Switch:
    """One ``weboslb switch`` child process."""

    def __init__(self, config: Path, tmp: Path, ports: tuple[int, int], *extra: str) -> None:
        self.status_path = tmp / f"{config.stem}.status.json"
        self.err_path = tmp / f"{config.stem}.err"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "weboslb", "switch", "-c", str(config),
             "--status", str(self.status_path), "--mirror-port", str(ports[0]),
             "--vrrp-port", str(ports[1]), "--speed", "20", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
            cwd=tmp)
        deadline = time.monotonic() + 30
        while ": running" not in self.log():  # SIGUSR1 is handled from then on
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def status(self) -> dict:
        self.status_path.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not self.status_path.exists():
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "no status after SIGUSR1\n" + self.log()
            time.sleep(0.02)
        return json.loads(self.status_path.read_text())

    def wait_for(self, what, timeout: float = 30.0, step: float = 0.1) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if what(st):
                return st
            assert time.monotonic() < deadline, f"timed out: {st}\n{self.log()}"
            time.sleep(step)

    def command(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def log(self) -> str:
        if not self.err.closed:
            self.err.flush()
        return self.err_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.err.close()


def replayed(st: dict) -> bool:
    return not st["replay"]["running"] and st["replay"]["frames"] > 0


def by_key(report: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in report["connections"]:
        if c["persist_key"] and c["real"]:
            out.setdefault(c["persist_key"], set()).add(c["real"])
    return out


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals")
def test_kill_9_the_active_and_the_standby_keeps_every_client(tmp_path):
    demo_capture(tmp_path / "all.pcap", seed=7, clients=120, duration=40)
    first, second = tmp_path / "first.pcap", tmp_path / "second.pcap"
    assert split(tmp_path / "all.pcap", first, second) > 1000
    ports = (free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM))
    a_cfg, b_cfg = pair_config("ha-a.yaml", tmp_path), pair_config("ha-b.yaml", tmp_path)
    a = Switch(a_cfg, tmp_path, ports, "--replay", str(first),
               "--report-json", str(tmp_path / "a.json"), "--no-console")
    b = Switch(b_cfg, tmp_path, ports)
    try:
        # A masters, replays the first half, and B acknowledges all it made
        st = a.wait_for(lambda s: replayed(s) and s["mirror"]["synced"]
                        and s["mirror"]["acknowledged"] is not None
                        and len(s["mirror"]["acknowledged"]) == s["persistent"]["count"] > 0)
        assert st["role"] == "MASTER" and st["serving"] == [VIP]
        acked = {(e["kind"], e["vsvc"], e["key"]): e["real"] for e in st["mirror"]["acknowledged"]}
        assert {k for k, _, _ in acked} >= {"cookie", "sslid"}
        assert b.status()["role"] == "BACKUP"

        a.proc.kill()  # SIGKILL: no goodbye, no priority-0 advertisement
        killed = time.monotonic()
        a.proc.wait(5)
        st = b.wait_for(lambda s: s["role"] == "MASTER" and s["serving"] == [VIP], step=0.05)
        took = time.monotonic() - killed
        # master down interval of the VIP's router: 3 x adver + (256 - priority) / 256
        prio = next(r["prio"] for r in st["vrrp"] if r["addr"] == VIP)
        assert took <= 3 * 1 + (256 - prio) / 256 + 1.0, b.log()
        held = {(e["kind"], e["vsvc"], e["key"]): e["real"] for e in st["persistent"]["entries"]}
        assert {k: held.get(k) for k in acked} == acked  # every acknowledged entry, same real

        # the second half into B: the clients of the first keep their servers
        b.command(f"/maint/replay {second}")
        b.wait_for(replayed)
        b.command(f"/maint/report {tmp_path / 'b.json'}")
        deadline = time.monotonic() + 10
        while not (tmp_path / "b.json").exists():
            assert time.monotonic() < deadline, b.log()
            time.sleep(0.05)
        before = by_key(json.loads((tmp_path / "a.json").read_text()))
        after = by_key(json.loads((tmp_path / "b.json").read_text()))
        common = before.keys() & after.keys()
        assert len(common) >= 20, (len(before), len(after))
        moved = {k: (before[k], after[k]) for k in common if after[k] != before[k]}
        assert moved == {}
        assert re.search(r"master down", b.log())

        # A comes back with an empty table: it relearns B's before it serves again
        a.err.close()
        a = Switch(a_cfg, tmp_path, ports, "--no-console")
        st = a.wait_for(lambda s: s["serving"] == [VIP], timeout=30)
        mine = {(e["kind"], e["vsvc"], e["key"]): e["real"] for e in st["persistent"]["entries"]}
        theirs = {(e["kind"], e["vsvc"], e["key"]): e["real"]
                  for e in b.status()["persistent"]["entries"]}
        assert mine == theirs and len(mine) > len(acked)
        assert b.status()["serving"] == []
    finally:
        a.stop()
        b.stop()
    assert b.proc.returncode == 0
    assert "stopped" in b.log()


def test_a_peer_on_no_interface_is_refused_with_the_menu_path(tmp_path):
    text = (REPO / "configs" / "ha-a.yaml").read_text().replace(
        "addr: 127.0.1.3}", "addr: 198.18.0.9}")
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    run = subprocess.run([sys.executable, "-m", "weboslb", "switch", "-c", str(cfg),
                          "--no-console"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "weboslb switch: /cfg/slb/sync/peer 1: 198.18.0.9 is on none of this switch's IP "
        "interfaces (/cfg/l3/if): nothing to reach it from")


def test_console_back_off_and_a_clean_stop_hand_over_at_once(tmp_path):
    ports = (free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM))
    a = Switch(pair_config("ha-a.yaml", tmp_path), tmp_path, ports)
    b = Switch(pair_config("ha-b.yaml", tmp_path), tmp_path, ports, "--no-console")
    try:
        a.wait_for(lambda s: s["serving"] == [VIP])
        b.wait_for(lambda s: s["role"] == "BACKUP")
        # a real out of service on A, pushed to B: both track one real fewer
        for line in ("/cfg/slb/real 3/dis", "apply", "/oper/slb/sync"):
            a.command(line)
        b.wait_for(lambda s: s["vrrp"][2]["prio"] == 104, timeout=10, step=0.05)
        assert "configuration received from peer: applied; not saved" in b.log()
        assert a.status()["vrrp"][2]["prio"] == 204
        a.command("/oper/vrrp/back 3")  # the piped console of process A
        asked = time.monotonic()
        b.wait_for(lambda s: s["serving"] == [VIP], timeout=10, step=0.05)
        # priority 0 makes the backup take over after its skew time, not 3 adverts
        assert time.monotonic() - asked < 2.5
        assert a.status()["serving"] == []
        a.command("/info/vrrp")
        a.command("/no/such/menu")
        b.proc.send_signal(signal.SIGTERM)  # B leaves as RFC 3768 asks: priority 0
        stopped = time.monotonic()
        assert b.proc.wait(10) == 0
        a.wait_for(lambda s: s["serving"] == [VIP], timeout=10, step=0.05)
        assert time.monotonic() - stopped < 2.5
    finally:
        a.proc.stdin.close()
        a.stop()
        b.stop()
    out = a.proc.stdout.read()
    assert "Virtual router 3 backs off: priority 0 advertised, now backup." in out
    assert "    3: vrid 3, 192.0.2.100, if 1, renter, prio 204, backup, server" in out
    assert "configuration sent to peer 127.0.1.3" in out
    assert re.search(r"<stdin>:6: unknown command", a.log())
