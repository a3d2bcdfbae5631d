"""The address plan of the generated captures: the VIPs and their services, the MACs on the
switch's client-facing port, and the client networks.

  192.0.2.100:80   HTTP; the servers set JSESSIONID on a client's first response (passive
                   cookie), the client returns it on every later request, new connections too
  192.0.2.100:443  HTTPS; a TLS 1.2 full handshake issues a session ID, the client's later
                   connections resume it, a few from another address (roaming: what sslid is for)
  192.0.2.100:21   FTP with USER/PASS; passive transfers (227, data to the VIP's announced
                   port) and active ones (PORT, data from the VIP's port 20); clientip binds it
  192.0.2.101:80   HTTP for URL hashing: a handful of URLs every client asks for
"""
from __future__ import annotations

VIP_WWW = bytes((192, 0, 2, 100))
VIP_CACHE = bytes((192, 0, 2, 101))
VIPS = (VIP_WWW, VIP_CACHE)
HTTP, HTTPS, FTP, FTP_DATA = 80, 443, 21, 20
SWITCH_MAC = bytes.fromhex("0060cf412ea0")  # Alteon WebSystems OUI
GATEWAY_MACS = (bytes.fromhex("001b543a7c01"), bytes.fromhex("288a1c4e9002"))  # two routers
DEMO_NETS = ((198, 51, 100), (203, 0, 113))  # the demo's clients (RFC 5737)
BENCH_NET = (198, 18)  # the benchmark's clients: 198.18.0.0/15 (RFC 2544), 131,070 hosts
PASSIVE_PORTS = (50000, 60000)  # the range FTP servers announce in 227 replies
