#!/usr/bin/env python3
"""Runs kdstudio-cli ranks the way torchrun's elastic agent does, for a check by hand.

The agent serves the c10d TCPStore itself and starts the workers with
TORCHELASTIC_USE_AGENT_STORE=True, so rank 0 must connect to that store rather than serve one.
Debian 12's torchrun (PyTorch 1.13 on Python 3.11) cannot start any program: it fails in its
own redirect handling ('NoneType' object has no attribute 'get'), even for /bin/true. So this
script does the agent's part with PyTorch's Python TCPStore, then starts N copies of the given
command with torchrun's variables.

    python3 scripts/check_torchrun_agent_store.py --nproc 2 -- \
        build/dev/app/kdstudio-cli train --config experiments/fashion-mnist/kd.json --epochs 1

Needs Debian's python3-torch. Exits with the first failing rank's code.
"""
import argparse
import datetime
import os
import socket
import subprocess
import sys

import torch.distributed as dist


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    port = free_port()
    store = dist.TCPStore("127.0.0.1", port, args.nproc, True, datetime.timedelta(seconds=120),
                          wait_for_workers=False)
    procs = []
    for rank in range(args.nproc):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   WORLD_SIZE=str(args.nproc), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(args.nproc),
                   TORCHELASTIC_USE_AGENT_STORE="True")
        procs.append(subprocess.Popen(command, env=env))
    codes = [p.wait() for p in procs]
    del store
    failed = [c for c in codes if c != 0]
    sys.exit(failed[0] if failed else 0)


if __name__ == "__main__":
    main()
