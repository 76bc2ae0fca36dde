"""Every command in the README runs as written, against the files the repository ships.

The README's fenced ``console`` blocks are extracted and run: each ``$ `` line is a command (a line
ending in a backslash goes on on the next), the lines after it up to the next command are output
that must appear, in order (``…`` in a line matches anything), and a trailing ``# exit N`` says the
exit code the command must give (0 otherwise). The commands of one block share one bash shell
(``set -o pipefail``), started in a scratch copy of ``examples/``, ``deploy/`` and ``bench/``.

A marker on the line before a block says how to run it:

    <!-- readme-test: service -->          against a real `fhirplugin serve` on a free loopback
                                           port (localhost:8080 in the commands is replaced)
    <!-- readme-test: skip REASON -->      not run here; the reason is required and shown

Every ``console``, ``sh``, ``bash`` or ``shell`` block must be run or skipped with a reason: a new
example nobody runs fails this test. Write commands as ``console`` blocks with ``$`` prompts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from servers import serving

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELL_LANGS = {"console", "sh", "bash", "shell"}
MARKER = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")
EXIT = re.compile(r"#\s*exit\s+(\d+)\b")

pytestmark = pytest.mark.slow


@dataclass
class Command:
    text: str
    expect: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    mode: str  # run | service | skip
    reason: str
    body: list[str]

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"

    def commands(self) -> list[Command]:
        out: list[Command] = []
        lines = iter(self.body)
        for raw in lines:
            if raw.startswith("$ "):
                text = raw[2:]
                while text.endswith("\\"):
                    text = text + "\n" + next(lines, "")
                if text.lstrip().startswith("#"):
                    continue  # `$ # …`: a remark between commands
                m = EXIT.search(text.rsplit("\n", 1)[-1])
                out.append(Command(text, exit_code=int(m.group(1)) if m else 0))
            elif out and raw.strip():
                out[-1].expect.append(raw)
        return out


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mk = MARKER.search(prev)
        mode, reason = (mk.group(1), mk.group(2)) if mk else ("run", "")
        blocks.append(Block(start + 1, lang, mode, reason, lines[start + 1 : j]))
        i = j + 1
    return blocks


BLOCKS = [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.lang in SHELL_LANGS]


def test_every_shell_block_is_run_or_skipped_with_a_reason():
    for b in BLOCKS:
        assert b.mode in ("run", "service", "skip"), f"{b.name}: unknown marker {b.mode!r}"
        if b.mode == "skip":
            assert b.reason, f"{b.name}: a skipped block must say why"
            continue
        assert b.lang == "console", f"{b.name}: write runnable commands as a console block with $ prompts"
        assert b.commands(), f"{b.name}: a console block with no $ command"


def _matches(expected: list[str], output: str) -> bool:
    """Each expected line (whitespace collapsed, … a wildcard) matches an output line, in order."""
    actual = [" ".join(line.split()) for line in output.splitlines()]
    pos = 0
    for exp in expected:
        parts = [re.escape(" ".join(p.split())) for p in re.split(r"…|\.\.\.", exp)]
        pattern = re.compile(".*".join(parts))
        while pos < len(actual) and not pattern.search(actual[pos]):
            pos += 1
        if pos == len(actual):
            return False
        pos += 1
    return True


def _scratch(tmp: Path) -> Path:
    work = tmp / "clone"
    for name in ("examples", "deploy", "bench"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "out"))
    return work


def _run_block(block: Block, work: Path, base: str | None) -> None:
    cmds = block.commands()
    script = ["set -o pipefail"]
    for k, c in enumerate(cmds):
        text = c.text
        if base:
            text = re.sub(r"(?:localhost|127\.0\.0\.1):8080", base.removeprefix("http://"), text)
        script.append(f"{{ {text}\n}} > .out{k} 2>&1 < /dev/null; echo $? > .rc{k}")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FHIRPLUGIN_") or k == "FHIRPLUGIN_CACHE_DIR"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FHIRPLUGIN_SERVICE__FEEDBACK_DB"] = str(work / "feedback.sqlite3")
    shell = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=work, env=env, timeout=900, capture_output=True, text=True
    )
    for k, c in enumerate(cmds):
        if not (work / f".rc{k}").exists():
            pytest.fail(f"{block.name}: $ {c.text} did not run: {shell.stderr[-2000:]}")
        out = (work / f".out{k}").read_text(errors="replace")
        rc = int((work / f".rc{k}").read_text().strip() or "-1")
        where = f"{block.name}: $ {c.text}\n--- output ---\n{out[-3000:]}"
        assert rc == c.exit_code, f"exit {rc}, README says {c.exit_code}\n{where}"
        assert "Traceback" not in out, where
        assert _matches(c.expect, out), f"output differs from the README's\n{where}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode != "skip"], ids=lambda b: b.name)
def test_readme_block_runs_as_written(block: Block, tmp_path: Path):
    work = _scratch(tmp_path)
    if block.mode == "service":
        with serving(tmp_path) as base:
            _run_block(block, work, base)
    else:
        _run_block(block, work, None)


def test_matching_rules():
    out = "a  b c\nx\n1 Bundle (8 entries) checked: 3 error\n"
    assert _matches(["a b", "1 Bundle (…) checked"], out)
    assert not _matches(["x", "a b"], out)  # order matters
    assert not _matches(["nothing like it"], out)
    blocks = readme_blocks("<!-- readme-test: skip needs a daemon -->\n```console\n$ docker ps\n```\n")
    assert blocks[0].mode == "skip" and blocks[0].reason == "needs a daemon"
    [cmd] = Block(1, "console", "run", "", ["$ false \\", "  && true   # exit 1", "out"]).commands()
    assert cmd.exit_code == 1 and cmd.expect == ["out"] and "&& true" in cmd.text
