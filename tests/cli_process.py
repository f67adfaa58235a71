"""The ``paygate`` command, run several times in one process of its own.

Each run of ``python -m app.cli`` pays for an interpreter and the app's imports (3 s, and
far more on a loaded 2-core machine) before it does its few milliseconds of work. A test
that runs the command several times starts this module once instead
(``python -m tests.cli_process``) and sends it one JSON line per run, ``{"argv": [...],
"env": {...}}``: it calls ``app.cli.main(argv)`` with the process's environment plus ``env``
(and nothing left over from the run before) and answers one JSON line, ``{"returncode",
"stdout", "stderr"}``, as the command's own process would have exited and printed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from app.cli import main as paygate

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str], env: dict[str, str], base: dict[str, str]) -> dict[str, object]:
    os.environ.clear()
    os.environ.update({**base, **env})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = paygate(argv)
        except SystemExit as exit_:  # argparse refusing the arguments
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:  # what the interpreter would print before exiting with 1
            traceback.print_exc()
            code = 1
    return {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def serve() -> None:
    base = dict(os.environ)
    for line in sys.stdin:
        request = json.loads(line)
        answer = _run(request["argv"], request.get("env", {}), base)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


@dataclass(frozen=True)
class Completed:
    """What a run of the command left: as ``subprocess.CompletedProcess`` has it."""

    returncode: int
    stdout: str
    stderr: str


class Cli:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def run(self, *argv: str, **env: str) -> Completed:
        """Run ``paygate *argv`` with ``env`` added to the environment."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"argv": list(argv), "env": env}).encode() + b"\n")
        await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), timeout=60)
        assert line, "the CLI process ended"
        return Completed(**json.loads(line))


@contextlib.asynccontextmanager
async def cli_process(**env: str) -> AsyncIterator[Cli]:
    """One process running ``paygate`` commands, with ``env`` added to this environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.cli_process",
        cwd=ROOT, env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield Cli(process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await asyncio.wait_for(process.wait(), timeout=30)


if __name__ == "__main__":
    serve()
