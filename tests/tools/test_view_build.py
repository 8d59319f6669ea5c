"""The viewer's front end shipped in the package is the build of the sources and lock file in
``viewer/``: the stamp ``viewer/build.mjs`` writes holds a sha256 over them, recomputed here,
and one over the built files; where npm's packages are installed, a rebuild gives the same
files byte for byte. The wheel declares the built files as package data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIEWER = ROOT / "viewer"
STATIC = ROOT / "src" / "aioh5saver" / "tools" / "view" / "static"
STAMP = STATIC / "BUILD-STAMP.json"
# What viewer/build.mjs hashes: these files, and every file under these folders.
SOURCE_FILES = (
    "build.mjs",
    "index.html",
    "package-lock.json",
    "package.json",
    "tsconfig.json",
    "vite.config.ts",
)
SOURCE_DIRS = ("src",)


def digest_of(root: Path, paths: list[Path]) -> str:
    """build.mjs's digest: sha256 over one ``"<relative path> <sha256>\\n"`` line per file,
    sorted by path."""
    lines = sorted(
        f"{path.relative_to(root).as_posix()} {hashlib.sha256(path.read_bytes()).hexdigest()}\n"
        for path in paths
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def sources() -> list[Path]:
    found = [VIEWER / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        found += [path for path in (VIEWER / folder).rglob("*") if path.is_file()]
    return found


def built(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name != STAMP.name]


def test_the_shipped_build_is_of_the_sources_and_lock_file() -> None:
    """The stamp's source digest is that of viewer/'s sources and package-lock.json now: a
    change to either without a rebuild (``npm --prefix viewer run build``) fails here."""
    stamp = json.loads(STAMP.read_text())
    assert stamp["sources"] == len(sources())
    assert stamp["sources_sha256"] == digest_of(VIEWER, sources())


def test_the_shipped_files_are_those_the_build_wrote() -> None:
    """The built files are the ones the stamp's digest covers: none edited, added or lost."""
    stamp = json.loads(STAMP.read_text())
    assert stamp["built"] == len(built(STATIC))
    assert stamp["built_sha256"] == digest_of(STATIC, built(STATIC))


def test_the_built_files_are_package_data() -> None:
    """Every built file matches a package-data pattern, so that a wheel (and ``pip install
    '.[view]'``) holds the front end without Node."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["aioh5saver"]
    package = ROOT / "src" / "aioh5saver"
    for path in [*built(STATIC), STAMP]:
        name = path.relative_to(package)
        assert any(name.match(pattern) for pattern in patterns), name


def test_node_modules_and_builds_are_ignored_by_git() -> None:
    """npm's packages are never committed."""
    assert "node_modules/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.skipif(
    shutil.which("node") is None or not (VIEWER / "node_modules" / "vite").is_dir(),
    reason="needs node and the viewer's npm packages (npm --prefix viewer ci)",
)
@pytest.mark.timeout(300)
def test_a_rebuild_gives_the_shipped_files(tmp_path: Path) -> None:
    """Building the sources again (into a scratch folder) gives the shipped files byte for
    byte, stamp included."""
    out = tmp_path / "static"
    subprocess.run(
        ["node", "build.mjs"],
        cwd=VIEWER,
        env={**os.environ, "VIEWER_OUT_DIR": str(out)},
        check=True,
        capture_output=True,
        timeout=280,
    )
    rebuilt = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    shipped = {
        p.relative_to(STATIC).as_posix(): p.read_bytes() for p in STATIC.rglob("*") if p.is_file()
    }
    assert rebuilt.keys() == shipped.keys()
    assert [name for name in rebuilt if rebuilt[name] != shipped[name]] == []
