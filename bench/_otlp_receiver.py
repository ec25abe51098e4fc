"""The loopback OTLP receiver of benchmark 6, in a process of its own.

    python -m bench._otlp_receiver

Prints the receiver's traces URL, then serves until its standard input closes or says `count`
(then it prints the number of spans received so far). In its own process, decoding the exports
does not compete for the benchmarked process's GIL: what is measured is the sink, the SDK's
span processing and the exporter, as in production where the collector runs elsewhere.
"""

from __future__ import annotations

import sys

from agent_runtime_core.testing.servers.otlp import OTLPReceiver


def main() -> None:
    with OTLPReceiver() as receiver:
        print(receiver.traces_url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(len(receiver.spans), flush=True)


if __name__ == "__main__":
    main()
