#!/usr/bin/python3
"""shared/bench/peers.py (or bench/peers_bert.py, which runs peers.py's code on BERT) on the
first N examples of a dev set (N = $PEERS_LIMIT; 0 or unset: all), the same rows `glueq eval
--limit N` takes, so that a benchmark of the peers fits in minutes on a small machine.
Arguments and output are peers.py's (see its header).

usage: PEERS_LIMIT=N peers_limit.py PEERS_PY run DIR TASK [peers.py flags]
"""
import builtins
import importlib.util
import itertools
import os
import sys


def main():
    spec = importlib.util.spec_from_file_location("peers", sys.argv[1])
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    limit = int(os.environ.get("PEERS_LIMIT", "0") or 0)
    real_open = builtins.open

    # peers.batches reads fixtures/tokrefs/<task>-dev.jsonl with open(); give it the first N lines
    # (through builtins, so that it holds for the peers.py that peers_bert.py imports too).
    def limited_open(path, *a, **k):
        f = real_open(path, *a, **k)
        if limit > 0 and str(path).endswith("-dev.jsonl"):
            return list(itertools.islice(f, limit))
        return f

    builtins.open = limited_open
    sys.argv = [sys.argv[1]] + sys.argv[2:]
    peers.main()


if __name__ == "__main__":
    main()
