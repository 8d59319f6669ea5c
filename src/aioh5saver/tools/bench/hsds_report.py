"""The HSDS rows of the report: what each measure gave per round, their medians, the ratios to
h5pyd's own appends, the HSDS targets, and their text (terminal, Markdown, JSON)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MEASURES", "HsdsFigures", "HsdsTarget"]

#: Each measure's key, its label, and its unit (rows/s, or seconds for the flush).
MEASURES = {
    "per_row": ("W1 h5pyd per-row (1 scalar row a request)", "rows/s"),
    "w1_batched": ("W1 h5pyd hand-batched", "rows/s"),
    "w1_saver": ("W1 AsyncH5Saver", "rows/s"),
    "w2_batched": ("W2 h5pyd hand-batched", "rows/s"),
    "w2_saver": ("W2 AsyncH5Saver", "rows/s"),
    "flush": ("flush() after a small change", "s"),
}
# (name, subject, baseline, at least): the HSDS targets (issue 16).
_TARGETS = (
    ("HSDS W1 AsyncH5Saver vs h5pyd per-row", "w1_saver", "per_row", 50.0),
    ("HSDS W1 AsyncH5Saver vs h5pyd hand-batched", "w1_saver", "w1_batched", 0.8),
    ("HSDS W2 AsyncH5Saver vs h5pyd hand-batched", "w2_saver", "w2_batched", 0.8),
)


@dataclass(frozen=True, slots=True)
class HsdsTarget:
    """One HSDS target, measured (the report's ``Target`` fields)."""

    name: str
    required: str
    measured: str
    met: bool


@dataclass
class HsdsFigures:
    """One run's HSDS measures: ``samples[key]`` holds one value per round (``MEASURES``)."""

    data_nodes: int
    rounds: int
    sizes: dict[str, int]
    versions: str
    samples: dict[str, list[float]] = field(default_factory=dict)

    def median(self, key: str) -> float:
        """The median over rounds of measure ``key`` (NaN if it never ran)."""
        values = self.samples.get(key, [])
        return statistics.median(values) if values else float("nan")

    def ratio(self, subject: str, baseline: str) -> float:
        """``subject``'s median rate over ``baseline``'s."""
        below = self.median(baseline)
        return self.median(subject) / below if below > 0 else float("nan")

    def rows_written(self, key: str) -> int:
        """The rows a rate measure writes."""
        s = self.sizes
        if key == "per_row":
            return s["per_row_rows"]
        if key.startswith("w1"):
            return s["w1_producers"] * s["w1_rows"]
        return s["w2_producers"] * s["w2_rows"]

    def mb_per_s(self, key: str) -> float:
        """Megabytes (10^6 bytes) a second of a rate measure."""
        points = self.sizes["w2_points"] if key.startswith("w2") else 1
        return self.median(key) * points * 8 / 1e6

    def targets(self) -> list[HsdsTarget]:
        """The HSDS targets, judged on the medians."""
        judged = []
        for name, subject, baseline, least in _TARGETS:
            value = self.ratio(subject, baseline)
            judged.append(HsdsTarget(name, f">= {least:g}x", f"{value:.2f}x", value >= least))
        return judged

    def _label(self, key: str) -> str:
        label = MEASURES[key][0]
        sizes = self.sizes
        if key == "w1_batched":
            return f"{label} ({sizes['w1_batch']:,} rows a request)"
        if key == "w2_batched":
            return f"{label} ({sizes['w2_batch']:,} rows a request)"
        if key == "w1_saver":
            return f"{label} ({sizes['w1_producers']} producers)"
        if key == "w2_saver":
            return f"{label} ({sizes['w2_producers']} producers)"
        return label

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """The table's header and rows (one per measure)."""
        header = [
            "measure",
            "median",
            "unit",
            "MB/s",
            "seconds",
            "per round",
            "x per-row",
            "x hand-batched",
        ]
        rows = []
        for key, (_, unit) in MEASURES.items():
            if key not in self.samples:
                continue
            rate = unit == "rows/s"
            value = f"{self.median(key):,.0f}" if rate else f"{self.median(key):.2f}"
            per_round = ", ".join(
                f"{sample:,.0f}" if rate else f"{sample:.2f}" for sample in self.samples[key]
            )
            versus_row = versus_batch = ""
            if key.endswith("_saver"):
                versus_batch = f"{self.ratio(key, key.replace('saver', 'batched')):,.2f}"
                if key == "w1_saver":
                    versus_row = f"{self.ratio(key, 'per_row'):,.0f}"
            mb = f"{self.mb_per_s(key):,.2f}" if rate else ""
            seconds = f"{self.rows_written(key) / self.median(key):.1f}" if rate else ""
            rows.append(
                [self._label(key), value, unit, mb, seconds, per_round, versus_row, versus_batch]
            )
        return header, rows

    def notes(self) -> list[str]:
        """How the HSDS rows were measured."""
        s = self.sizes
        return [
            f"HSDS on loopback, {self.data_nodes} data nodes, started by the bench in a "
            f"temporary folder; {self.rounds} rounds, measures interleaved (their order rotates "
            f"each round); every figure is the median over rounds; {self.versions}.",
            "Every rate counts its rows and one durable flush at the end (a server flush, "
            "about 2 s: rows then survive a kill of the whole service); `seconds` is the "
            "median run's time, that flush included.",
            f"W1: {s['w1_producers']} producers x {s['w1_rows']:,} scalar float64 rows "
            f"({s['w1_producers'] * s['w1_rows']:,} rows); per-row: {s['per_row_rows']:,} rows, "
            f"each a resize, a write and h5pyd's flush; W2: {s['w2_producers']} producers x "
            f"{s['w2_rows']:,} rows of {s['w2_points']:,} float64.",
        ]

    def markdown(self) -> list[str]:
        """The HSDS section of report.md."""
        header, rows = self.rows()
        out = ["## HSDS", "", *(f"- {note}" for note in self.notes()), ""]
        out += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
        return [*out, ""]

    def table(self) -> str:
        """The HSDS rows as aligned plain text."""
        header, rows = self.rows()
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
            for line in (header, *rows)
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(["HSDS (loopback):", *lines])

    def as_json(self) -> dict[str, Any]:
        """The figures for report.json (with their medians)."""
        return {
            "data_nodes": self.data_nodes,
            "rounds": self.rounds,
            "sizes": self.sizes,
            "versions": self.versions,
            "samples": self.samples,
            "medians": {key: self.median(key) for key in self.samples},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HsdsFigures:
        """The figures :meth:`as_json` wrote."""
        return cls(
            data_nodes=data["data_nodes"],
            rounds=data["rounds"],
            sizes=data["sizes"],
            versions=data["versions"],
            samples=data["samples"],
        )
