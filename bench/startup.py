"""Start-up cost of the ``fhirplugin`` command, in CPU time (user + system), measured in one run.

    python bench/startup.py                       # this checkout
    python bench/startup.py --before /tmp/base    # and another checkout beside it (PYTHONPATH), same run
    python bench/startup.py --callgrind           # also instruction counts (valgrind), slower

Each command runs ``--repeat`` times as a fresh process; the figure is the least CPU time taken
(``resource.getrusage(RUSAGE_CHILDREN)`` around each run: other work on the machine only ever adds
to it). Ratios are against the bare interpreter (``python -c pass``) and, with ``--before``, against
the other checkout. The fhirkit-rs peer (``fhirkit.validate`` of the same file in a fresh
interpreter) is measured too when installed. Each tree gets a cache folder of its own (warm: start-up
after the first run, as users meet it; seeded with the usual folder's ICD-10-CM index). Byte code is cached (in a temporary
``PYTHONPYCACHEPREFIX``, written by a first run) as it is for an installed wheel, which pip compiles;
``--no-bytecode`` measures with ``PYTHONDONTWRITEBYTECODE=1`` instead (every module compiled from
source on every start, as in an editable checkout on a machine that sets it).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLAIM = ROOT / "examples" / "drainage" / "bundle.json"
NEUTRAL = tempfile.gettempdir()  # `python -m` puts the working folder first on sys.path: not a checkout


def cpu_of(cmd: list[str], env: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            cmd, env=env, cwd=NEUTRAL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def instructions(cmd: list[str], env: dict) -> int | None:
    """Instructions executed (valgrind callgrind), None when valgrind is not installed."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
            env=env,
            cwd=NEUTRAL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return None


def _cache_for(tree: str, under: str) -> str:
    """A cache folder of its own for each tree: the compiled tables are keyed by the fast check's
    source, so two trees sharing one folder would rebuild them on every alternation. Seeded with the
    usual folder's ICD-10-CM index (the same for both), so only the tables are built, in the warm-up."""
    from fhirplugin.tx.icd import cache_dir

    folder = Path(under) / f"cache-{tree}"
    folder.mkdir(parents=True, exist_ok=True)
    usual = cache_dir()
    if usual is not None and usual.is_dir():
        for f in usual.glob("icd10cm-index*"):
            shutil.copy2(f, folder / f.name)
    return str(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--before", type=Path, help="another fhirplugin checkout to measure beside this one")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions with valgrind")
    ap.add_argument("--no-bytecode", action="store_true", help="compile every module from source each run")
    ap.add_argument(
        "--file", type=Path, default=CLAIM, help="input of `validate` (default: drainage example)"
    )
    args = ap.parse_args()
    args.file = args.file.resolve()
    py = sys.executable
    base = dict(os.environ)
    pyc = tempfile.mkdtemp(prefix="fhirplugin-pyc-")
    if args.no_bytecode:
        base["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        base["PYTHONPYCACHEPREFIX"] = pyc
    here = dict(base, PYTHONPATH=str(ROOT), FHIRPLUGIN_CACHE_DIR=_cache_for("this", pyc))
    trees = [("this checkout", here)]
    if args.before:
        before = dict(base, PYTHONPATH=str(args.before.resolve()), FHIRPLUGIN_CACHE_DIR=_cache_for("before", pyc))
        trees.insert(0, ("before", before))
    cases = [
        ("fhirplugin --help", [py, "-m", "fhirplugin", "--help"]),
        ("fhirplugin validate (one claim bundle)", [py, "-m", "fhirplugin", "validate", str(args.file)]),
        (
            "fhirplugin validate --format outcome",
            [py, "-m", "fhirplugin", "validate", "-f", "outcome", str(args.file)],
        ),
        ("fhirplugin rules", [py, "-m", "fhirplugin", "rules"]),
    ]
    for _, env in trees:  # warm the caches (ICD-10-CM index, compiled tables, byte code) first
        for _, cmd in cases:
            subprocess.run(cmd, env=env, cwd=NEUTRAL, capture_output=True, check=False)
    bare = cpu_of([py, "-c", "pass"], here, args.repeat)
    print(
        f"input: {args.file.relative_to(ROOT) if args.file.is_relative_to(ROOT) else args.file}; "
        f"least CPU of {args.repeat} runs; python -c pass: {bare * 1000:.0f} ms"
    )
    try:
        import fhirkit

        peer_cmd = [py, "-c", f"import fhirkit,sys; fhirkit.validate(open({str(args.file)!r},'rb').read())"]
        peer = cpu_of(peer_cmd, here, args.repeat)
        print(
            f"peer: fhirkit-rs {fhirkit.__version__} validate of the same file in a fresh interpreter: "
            f"{peer * 1000:.0f} ms"
        )
    except ImportError:
        peer = None
    head = f"{'command':<40}" + "".join(f"{name:>16}" for name, _ in trees)
    head += "   × bare" + ("   × before" if args.before else "") + ("   × peer" if peer else "")
    print(head)
    for label, cmd in cases:
        figures = [cpu_of(cmd, env, args.repeat) for _, env in trees]
        row = f"{label:<40}" + "".join(f"{f * 1000:>13.0f} ms" for f in figures)
        row += f"{figures[-1] / bare:>9.1f}" if bare else ""
        if args.before:
            row += f"{figures[-1] / figures[0]:>11.2f}"
        if peer:
            row += f"{figures[-1] / peer:>9.1f}"
        print(row)
        if args.callgrind:
            counts = [instructions(cmd, env) for _, env in trees]
            print(f"{'  instructions':<40}" + "".join(f"{(c or 0) / 1e9:>14.2f} G" for c in counts))
    shutil.rmtree(pyc, ignore_errors=True)


if __name__ == "__main__":
    main()
