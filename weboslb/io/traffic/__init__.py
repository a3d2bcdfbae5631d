"""Synthetic traffic for ``weboslb demo`` and ``weboslb bench replay``: what a tap on the
switch's client-facing port sees while clients use every persistence mode of one address plan
(``addresses``).

Frames are Ethernet/IPv4/TCP with SYN options, handshakes, sequence and acknowledgement
numbers kept right, delayed ACKs and slow-start rounds, FIN teardown and valid checksums
(``segments``), carrying what browsers, TLS stacks and FTP servers say (``payloads``).
A session (one connection, or an FTP control connection and its data connections,
``services``) is scripted whole into time-ordered lists when it starts (``sessions``); the
lists of all sessions are merged by time into the capture (``captures``), whose contents
are counted as it is made (``plan``).  The benchmark's capture is kept in a cache (``cache``).
"""
from __future__ import annotations

from weboslb.io.traffic.addresses import (
    GATEWAY_MACS,
    SWITCH_MAC,
    VIP_CACHE,
    VIP_WWW,
    VIPS,
)
from weboslb.io.traffic.cache import VERSION, cache_dir, cached_bench_capture
from weboslb.io.traffic.captures import bench_capture, demo_capture
from weboslb.io.traffic.plan import BenchPlan, DemoPlan, Mix
from weboslb.io.traffic.segments import SYN_OPTIONS, TcpPath, payload_sum

__all__ = [
    "GATEWAY_MACS", "SWITCH_MAC", "SYN_OPTIONS", "VERSION", "VIPS", "VIP_CACHE", "VIP_WWW",
    "BenchPlan", "DemoPlan", "Mix", "TcpPath", "bench_capture", "cache_dir",
    "cached_bench_capture", "demo_capture", "payload_sum",
]
