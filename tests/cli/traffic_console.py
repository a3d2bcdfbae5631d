"""The real console on a switch that has seen traffic (for the tmux end-to-end test):
``python -m tests.cli.traffic_console [--history FILE]`` from the repository root."""
from __future__ import annotations

import argparse
import sys

from tests.cli.helpers import VIP
from tests.engine.net import Flow
from weboslb.cli.app import ConsoleApp, open_history
from weboslb.cli.command import open_runtime
from weboslb.cli.dispatch import Console


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--history")
    args = p.parse_args()
    rt = open_runtime(None)
    for port in (40001, 40002):  # two FTP control connections: client-IP persistence
        rt.switch.process(Flow("198.51.100.7", port, VIP, 21).syn(), 100.0)
    return ConsoleApp(Console(rt), history=open_history(args.history)).run()


if __name__ == "__main__":
    sys.exit(main())
