"""``aioh5saver bench --hsds``: the HSDS rows' arithmetic and report, one quick run against a real
loopback service it starts itself, and its clear refusals (a missing extra, ports taken)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioh5saver.tools.bench.hsds_report import HsdsFigures
from aioh5saver.tools.bench.hsds_service import DATA_NODE_PORT, taken_data_node_ports
from aioh5saver.tools.bench.report import rewrite_from_json, write_reports
from hsds_server import skip_or_fail_without_hsds

_SIZES = {
    "per_row_rows": 100,
    "w1_producers": 8,
    "w1_rows": 5_000,
    "w1_batch": 1_000,
    "w2_producers": 4,
    "w2_rows": 250,
    "w2_points": 2048,
    "w2_batch": 100,
}
_CONTEXT = {"when": "now", "machine": "test", "mode": "full", "rounds": 3, "backend": "asyncio"}


def _figures() -> HsdsFigures:
    return HsdsFigures(
        data_nodes=2,
        rounds=3,
        sizes=_SIZES,
        versions="hsds 1.0.2, h5pyd 1.0.0",
        samples={
            "per_row": [30.0, 20.0, 40.0],
            "w1_batched": [16_000.0, 15_000.0, 17_000.0],
            "w1_saver": [12_000.0, 16_000.0, 90_000.0],
            "w2_batched": [400.0, 420.0, 410.0],
            "w2_saver": [300.0, 310.0, 320.0],
            "flush": [2.0, 2.1, 2.0],
        },
    )


def test_hsds_targets_are_judged_on_the_medians_of_the_rounds() -> None:
    """W1 at a median of 16,000 rows/s is 533x h5pyd per-row (30) and 1.00x hand-batched
    (16,000): both met; W2 at 310 rows/s is 0.76x hand-batched (410): not met."""
    targets = {target.name: target for target in _figures().targets()}
    per_row = targets["HSDS W1 AsyncH5Saver vs h5pyd per-row"]
    assert (per_row.required, per_row.measured, per_row.met) == (">= 50x", "533.33x", True)
    w1 = targets["HSDS W1 AsyncH5Saver vs h5pyd hand-batched"]
    assert (w1.required, w1.measured, w1.met) == (">= 0.8x", "1.00x", True)
    w2 = targets["HSDS W2 AsyncH5Saver vs h5pyd hand-batched"]
    assert (w2.measured, w2.met) == ("0.76x", False)


def test_hsds_rows_go_into_every_report_and_survive_a_rewrite(tmp_path: Path) -> None:
    """A report of HSDS rows alone: the terminal table, report.md and report.json hold them
    and their targets, no plot is drawn (no local workload ran), and report.md written again
    from report.json is the same."""
    table, written = write_reports(tmp_path, [], None, _CONTEXT, hsds=_figures())
    assert [path.name for path in written] == ["report.json", "report.md"]
    (w1_line,) = [line for line in table.splitlines() if line.startswith("W1 AsyncH5Saver")]
    assert w1_line.split()[4:8] == ["16,000", "rows/s", "0.13", "2.5"]
    assert "NOT MET  HSDS W2 AsyncH5Saver vs h5pyd hand-batched: 0.76x (target >= 0.8x)" in table
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["hsds"]["medians"]["w1_saver"] == 16_000.0
    assert data["hsds"]["samples"]["flush"] == [2.0, 2.1, 2.0]
    assert [t["met"] for t in data["targets"]] == [True, True, False]
    markdown = (tmp_path / "report.md").read_text()
    assert "## HSDS" in markdown
    assert (
        "| W2 AsyncH5Saver (4 producers) | 310 | rows/s | 5.08 | 3.2 | 300, 310, 320 |  | 0.76 |"
        in (markdown)
    )
    assert "| HSDS W2 AsyncH5Saver vs h5pyd hand-batched | >= 0.8x | 0.76x | **no** |" in markdown
    rewrite_from_json(tmp_path)
    assert (tmp_path / "report.md").read_text() == markdown


def _bench(out: Path, *options: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``aioh5saver bench`` in a child (after ``prelude``, Python run first there)."""
    code = (
        f"{prelude}\nimport sys\nfrom aioh5saver.tools.cli import main\n"
        f"sys.exit(main(['bench', '--out', {str(out)!r}, *{list(options)!r}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=100, check=False
    )


@pytest.mark.parametrize(
    ("blocked", "named"),
    [("h5pyd", "no h5pyd client"), ("hsds", "no hsds service")],
)
def test_a_missing_hsds_extra_is_refused_before_any_work_naming_the_extra(
    tmp_path: Path, blocked: str, named: str
) -> None:
    """Without h5pyd (or the hsds service), ``bench --hsds`` exits at once with a message
    naming what is missing and the extra to install, and writes no report."""
    out = tmp_path / "out"
    done = _bench(out, "--hsds", "--quick", prelude=f"import sys; sys.modules[{blocked!r}] = None")
    assert done.returncode != 0
    assert "pip install 'aioh5saver[bench-hsds]'" in done.stderr
    assert named in done.stderr
    assert not (out / "report.json").exists()


@contextlib.contextmanager
def _data_node_ports_free(request: pytest.FixtureRequest) -> Iterator[None]:
    """HSDS's data-node ports free for the bench's own service: the tests' shared service
    (when it runs) is paused meanwhile."""
    if not taken_data_node_ports(2):
        yield
        return
    with request.getfixturevalue("hsds_server").paused():
        yield


def test_bench_hsds_quick_runs_every_hsds_row_on_its_own_service(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``bench --hsds-only --quick`` starts a loopback HSDS, shows a progress line per measure,
    writes every HSDS row with a positive figure and the three HSDS targets judged, and stops
    the service (its ports free again) and removes its storage."""
    skip_or_fail_without_hsds()
    out = tmp_path / "out"
    with _data_node_ports_free(request):
        done = _bench(out, "--hsds-only", "--quick")
        assert done.returncode == 0, done.stderr
        assert taken_data_node_ports(2) == [], "the bench's service is stopped"
    assert "HSDS: starting a loopback service with 2 data nodes" in done.stdout
    assert "[  6/6]" in done.stdout
    data = json.loads((out / "report.json").read_text())
    hsds = data["hsds"]
    assert hsds["data_nodes"] == 2
    assert set(hsds["samples"]) == {
        "per_row",
        "w1_batched",
        "w1_saver",
        "w2_batched",
        "w2_saver",
        "flush",
    }
    assert all(len(values) == 1 and values[0] > 0 for values in hsds["samples"].values())
    judged = [t for t in data["targets"] if t["name"].startswith("HSDS ")]
    assert len(judged) == 3
    assert all(t["measured"].endswith("x") and isinstance(t["met"], bool) for t in judged)
    assert "## HSDS" in (out / "report.md").read_text()
    assert not list(out.glob("data-*")), "the service's storage is removed"


def test_bench_hsds_refuses_when_the_data_node_ports_are_taken(tmp_path: Path) -> None:
    """With port 6101 taken (another HSDS, or anything), ``bench --hsds`` exits at once with a
    message naming the taken port, before running anything."""
    skip_or_fail_without_hsds()
    with contextlib.ExitStack() as stack:
        if DATA_NODE_PORT not in taken_data_node_ports(1):
            listener = stack.enter_context(socket.socket())
            # The tests' service may just have stopped: its sockets linger in TIME_WAIT.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", DATA_NODE_PORT))
            listener.listen()
        done = _bench(tmp_path / "out", "--hsds", "--quick")
    assert done.returncode != 0
    assert f"got [{DATA_NODE_PORT}" in done.stderr
    assert "another HSDS runs on this machine" in done.stderr
    assert not (tmp_path / "out" / "report.json").exists()
