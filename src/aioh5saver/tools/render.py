"""The text ``aioh5saver inspect`` prints: a :class:`FileReport` as a tree, safe on a terminal."""

from __future__ import annotations

from aioh5saver.tools.report import FileReport

__all__ = ["printable", "render_report"]


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal (control characters and lone surrogates escaped),
    cut to ``limit`` characters."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def _shown_value(value: object, limit: int = 100) -> str:
    # Strings bare (they are most attributes), except the empty one, which would show nothing.
    text = value if isinstance(value, str) and value else repr(value)
    return printable(text, limit)


def _size(size: int) -> str:
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def _state(report: FileReport) -> str:
    if report.swmr:
        return "being written under SWMR"
    if report.writing:
        return "open for writing"
    return "closed"


def render_report(
    report: FileReport, *, attrs: bool = True, depth: int | None = None, flat: bool = False
) -> str:
    """The report as a readable tree: each node with its kind, shape and dtype, its attributes
    below it (long values shortened; with ``attrs`` False, only how many it has), then the
    last log lines and any notes. ``depth``: only nodes at most that many levels below the
    root (the others counted); ``flat``: one line per node with its full path, as
    ``h5ls -r`` prints, instead of the indented tree."""
    lines = [
        f"{printable(report.path)}  ({_size(report.size_bytes)}, HDF5 superblock "
        f"v{report.superblock_version}, {_state(report)})"
    ]
    if report.domain:
        state = "being written: an appender holds arrays" if report.writing else "no appender"
        lines = [f"{printable(report.path)}  (HSDS domain, {state})"]
    deeper = 0
    for node in report.nodes:
        if depth is not None and node.depth > depth:
            deeper += 1
            continue
        indent = "" if flat else "  " * node.depth
        name = printable(node.path, 300) if flat else printable(node.name, 120)
        head = f"{indent}{name}  [{node.kind}]"
        if node.shape is not None:
            head += f"  shape {node.shape}"
        if node.dtype is not None:
            head += f"  {printable(node.dtype, 60)}"
        if node.target is not None:
            head += f"  -> {printable(node.target, 120)}"
        count = len(node.attrs) + node.attrs_omitted
        if not attrs and count:
            head += f"  ({count} attribute{'' if count == 1 else 's'})"
        lines.append(head)
        below = "    " if flat else f"{indent}    "
        if node.outside is not None:
            outside = printable(node.outside, 300)
            lines.append(f"{below}! data in other files, never read: {outside}")
        if attrs:
            for attr, value in node.attrs.items():
                lines.append(f"{below}@{printable(attr, 60)} = {_shown_value(value)}")
            if node.attrs_omitted:
                lines.append(f"{below}… and {node.attrs_omitted} more attributes")
        if node.error:
            lines.append(f"{below}! {printable(node.error, 300)}")
    if deeper:
        levels = f"{depth} level{'' if depth == 1 else 's'}"
        lines.append(f"… and {deeper} nodes deeper than {levels} not shown (see --depth)")
    if report.nodes_omitted:
        lines.append(f"… and {report.nodes_omitted} more nodes not listed")
    if report.log_path is not None:
        staged = f", {report.log_staged} staged by SWMR" if report.log_staged else ""
        lines.append("")
        lines.append(f"Log {printable(report.log_path)} ({report.log_total} lines{staged})")
        if report.log_lines:
            lines.append(f"last {len(report.log_lines)}:")
            lines += [f"  {printable(line, 200)}" for line in report.log_lines]
    if report.notes:
        lines.append("")
        lines += [f"note: {printable(note)}" for note in report.notes]
    return "\n".join(lines)
