"""The child-process sandbox of the reading tools: run one bounded child of :mod:`.child` and
read its JSON answer.

A crafted file can make HDF5 itself loop forever or allocate without bound, so the tools never
call HDF5 in their own process: a child does, with an address-space limit (``RLIMIT_AS``, set
by the child with :func:`limit_memory`) and a time limit (the parent kills it), and answers in
plain JSON. The child is started light: without the package's re-exports (the async saver,
anyio), and without the current directory on its path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from aioh5saver.errors import CorruptFileError

__all__ = ["DEFAULT_MAX_MEMORY", "child_command", "limit_memory", "parse_answer", "run_child"]

DEFAULT_MAX_MEMORY = 2 << 30
# The folder of the aioh5saver package.
_PACKAGE = Path(__file__).resolve().parents[1]


def child_command(arguments: list[str], max_memory: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a child process running :func:`.child.main`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE.parent), env.get("PYTHONPATH")]))
    # One thread per math library: the child does no math, and threads cost address space.
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    # The package is stood in for by a bare module holding only its path, so that the child
    # imports the modules it runs and not the package's re-exports (the async saver, anyio...):
    # that keeps its start-up short.
    code = (
        "import sys, types; package = types.ModuleType('aioh5saver'); "
        f"package.__path__ = [{str(_PACKAGE)!r}]; "
        "sys.modules['aioh5saver'] = package; "
        "from aioh5saver.tools.child import main; sys.exit(main())"
    )
    # -P: the current directory is not put on the path (a file there cannot shadow a module).
    command = [sys.executable, "-P", "-c", code, "--max-memory", str(max_memory), *arguments]
    return command, env


def run_child(
    arguments: list[str],
    *,
    where: str,
    timeout: float,
    max_memory: int,
    timeout_given: float | None = None,
) -> dict[str, Any]:
    """Run a one-shot child and return its JSON answer; kill it after ``timeout`` seconds (what
    is left of the caller's ``timeout_given``)."""
    command, env = child_command(arguments, max_memory)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise CorruptFileError(
                f"{where}: expected HDF5 to read the file within the timeout of "
                f"{timeout if timeout_given is None else timeout_given:g} s, "
                "got no answer; the reading process was killed (a damaged file can make HDF5 "
                "hang)"
            ) from None
        except BaseException:
            process.kill()
            process.communicate()
            raise
        errors.seek(0)
        stderr = errors.read()[-2000:].decode("utf-8", "replace")
    return parse_answer(output, process.returncode, stderr, where)


def parse_answer(output: bytes, returncode: int, stderr: str, where: str) -> dict[str, Any]:
    """A child's JSON answer, or a :class:`CorruptFileError` saying how the child failed."""
    try:
        answer = json.loads(output)
        if not isinstance(answer, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
        raise CorruptFileError(
            f"{where}: expected the reading process to describe the file, got {how} and no "
            f"answer (HDF5 failed on the file?): {stderr.strip()[-500:]}"
        ) from None
    return answer


def limit_memory(limit: int) -> None:
    """Limit this process's address space to ``limit`` bytes (or its hard limit, if lower): run
    by the child before it opens the file."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
