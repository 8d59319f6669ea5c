"""Frames the demo drops with the live rich display and with plain output, under tmux.

Each run starts ``aioh5saver demo`` in a fresh detached tmux session (a real terminal, so that
the rich display is used) or piped through ``cat`` (plain lines), reads the summary table off
the pane, and records each instrument's "dropped" count. Source trees (``--src``) and modes
are interleaved in every round, so that the machine's load falls on all of them alike.

    python -m benchmarks.demo_display_drops --src before=tmp/before/src --src after=src \
        --rounds 5 --seconds 10
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

MODES = ("rich", "plain")
TMUX = shutil.which("tmux") or "tmux"


def run_once(src: Path, mode: str, seconds: float, folder: Path) -> dict[str, int]:
    """One demo in tmux; the dropped count of each instrument, from its summary table."""
    session = f"drops-{uuid.uuid4().hex[:8]}"
    out = folder / f"{session}.h5"
    demo = (
        f"PYTHONPATH={shlex.quote(str(src.resolve()))} {shlex.quote(sys.executable)} -m "
        f"aioh5saver demo --seconds {seconds:g} --out {shlex.quote(str(out))}"
    )
    if mode == "plain":
        demo += " | cat"
    command = f"{demo}; tmux wait-for -S {session}; sleep 600"
    subprocess.run(  # noqa: S603 (our own command lines)
        [TMUX, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", command],
        check=True,
    )
    try:
        subprocess.run([TMUX, "wait-for", session], check=True, timeout=seconds + 120)  # noqa: S603
        pane = subprocess.run(  # noqa: S603
            [TMUX, "capture-pane", "-p", "-J", "-S", "-", "-t", session],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        subprocess.run([TMUX, "kill-session", "-t", session], check=False)  # noqa: S603
        out.unlink(missing_ok=True)
    dropped: dict[str, int] = {}
    in_table = False
    for line in pane.splitlines():
        words = line.split()
        if words[:3] == ["instrument", "kind", "shape"]:  # the summary, not the live table
            in_table = True
            continue
        if in_table and words and words[0] == "total:":
            break
        if in_table and words:
            dropped[words[0]] = int(words[-1])
    if not dropped:
        raise RuntimeError(f"no summary table in the pane:\n{pane}")
    return dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--folder", type=Path, default=Path("tmp"))
    parser.add_argument("--modes", default=",".join(MODES), help="rich,plain (default: both)")
    args = parser.parse_args()
    sources = [(name, Path(path)) for name, _, path in (s.partition("=") for s in args.src)]
    args.folder.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], list[dict[str, int]]] = {}
    for round_index in range(args.rounds):
        modes = [mode for mode in args.modes.split(",") if mode in MODES]
        plan = [(name, src, mode) for name, src in sources for mode in modes]
        shift = round_index % len(plan)
        for name, src, mode in plan[shift:] + plan[:shift]:
            started = time.perf_counter()
            dropped = run_once(src, mode, args.seconds, args.folder)
            results.setdefault((name, mode), []).append(dropped)
            print(
                f"round {round_index + 1} {name:<8} {mode:<5} {time.perf_counter() - started:5.1f}"
                f" s  dropped {dropped}",
                flush=True,
            )
    print()
    print("| source | display | spectrometer dropped (each run) | median | camera | stage |")
    print("|---|---|---|---|---|---|")
    for (name, mode), runs in results.items():
        spectra = [run.get("spectrometer", 0) for run in runs]
        cameras = [run.get("camera", 0) for run in runs]
        stages = [run.get("stage", 0) for run in runs]
        print(
            f"| {name} | {mode} | {', '.join(map(str, spectra))} | "
            f"{statistics.median(spectra):g} | {statistics.median(cameras):g} | "
            f"{statistics.median(stages):g} |"
        )


if __name__ == "__main__":
    main()
