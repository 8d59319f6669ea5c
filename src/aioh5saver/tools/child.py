"""The reading child's entry point: ``--max-memory BYTES inspect PATH ...`` prints one JSON
answer, ``--max-memory BYTES follow PATH ...`` prints one JSON line per poll; with
``--patches FILE``, inspect reads the file as ``recover`` would leave it (:mod:`.patched_view`).

Started by :func:`.sandbox.child_command` as ``python -P -c ...`` with a bare stand-in for the
package, so that it imports only what it runs: errors, format, engine and the reading tools,
never the saver, anyio or the async service.
"""

from __future__ import annotations

import argparse
import json
import sys

from aioh5saver.engine.hsds_engine import HSDS_SCHEME
from aioh5saver.tools.follow_child import follow_in_child
from aioh5saver.tools.inspect_child import inspect_in_child
from aioh5saver.tools.sandbox import limit_memory

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the child's command on ``argv`` (default: ``sys.argv[1:]``); return its exit status."""
    parser = argparse.ArgumentParser(prog="aioh5saver-child")
    parser.add_argument("--max-memory", type=int, required=True)
    parser.add_argument("command", choices=["inspect", "follow"])
    parser.add_argument("path")
    parser.add_argument("--mode", choices=["swmr", "plain"], default="plain")
    parser.add_argument("--log-lines", type=int, default=5)
    parser.add_argument("--max-nodes", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--gone-after", type=float, default=1.0)
    parser.add_argument("--patches", default=None)
    args = parser.parse_args(argv)
    limit_memory(args.max_memory)
    domain = args.path.startswith(HSDS_SCHEME)
    if domain:
        # Imported only for a domain: it needs h5pyd.
        from aioh5saver.tools.domain_child import follow_domain_in_child, inspect_domain_in_child
    if args.command == "follow":
        follow = follow_domain_in_child if domain else follow_in_child
        return follow(
            args.path,
            interval=args.interval,
            max_nodes=args.max_nodes,
            timeout=args.timeout,
            gone_after=args.gone_after,
        )
    what = "domain" if domain else "file"
    try:
        if domain:
            answer = inspect_domain_in_child(args.path, args.log_lines, args.max_nodes)
        else:
            answer = inspect_in_child(
                args.path, args.mode == "swmr", args.log_lines, args.max_nodes, args.patches
            )
    except MemoryError:
        answer = {"fatal": "MemoryError", "message": f"the {what} needs more memory than allowed"}
    except Exception as exc:  # HDF5 or the service failing unexpectedly: a clear answer
        answer = {"fatal": type(exc).__name__, "message": str(exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0
