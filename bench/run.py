"""The fhirplugin benchmark: one run, numbers on stdout. Not a test; nothing here asserts a speed.

    python bench/run.py                 # 20,000 claims
    python bench/run.py --n 100000 --invalid-every 50 --requests 2000

Throughput (resources/s) on one core, over the deterministic corpus of ``bench/corpus.py``:

- orjson parse only: the limit, no checking at all;
- fhir.resources R4B ``Claim.model_validate_json``: the floor, structure only, no coding rules;
- fhirkit-rs ``fhirkit.validate``: the peer (a Rust FHIR R4 validator), when installed;
- ``fhirplugin batch --jobs 1`` timed in-process (``run_batch``, after a first Engine has loaded the
  terminology: steady state) and as a CLI subprocess (wall time, interpreter and engine start-up
  included);

then ``fhirplugin batch`` on all cores (in-process and CLI). Ratios are against the floor and the peer.
Then where one claim's time goes: µs per claim for each stage of the engine (parse, version, structure,
extraction, rules, ordering, OperationOutcome) and for each rule, measured in the same run.

``--markdown`` also prints the steady-state table and the per-stage line as the README's Speed
section has them, from the same run: the README's figures are pasted from one run of
``python bench/run.py --n 20000 --no-service --markdown`` (the command the README names).

Latency of the service: p50/p99 at 1 and 50 concurrent clients over loopback, a charge-entry CDS
Hooks call to ``fhirplugin.service.app:create_app`` against a bare FastAPI endpoint that only parses
the same body. Both run under uvicorn in a subprocess on a free port; clients are httpx (asyncio).
Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from fastapi import Request, Response

HERE = Path(__file__).resolve().parent
CHARGE_ENTRY = "/cds-services/dev.fhirplugin.charge-entry"
BARE = "/parse"


def _load_corpus():
    return importlib.import_module("corpus")  # bench/corpus.py (this script's folder is on sys.path)


# ------------------------------------------------------------------------------------------ throughput
def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """The best of ``repeat`` runs (other work on the machine only ever adds time)."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def batch_run(path: Path, jobs: int):
    """``run_batch`` on ``path``, the outcomes written to /dev/null (the writes still happen)."""
    from fhirplugin.batch import run_batch

    with open(os.devnull, "wb") as sink:
        return run_batch([path], sink, jobs=jobs)


def parse_all(lines: list[bytes]) -> None:
    for x in lines:
        orjson.loads(x)


def pin_one_core() -> set[int] | None:
    """Run on one core (the lowest this process may use); the previous set, to restore."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return before


def cli_wall(path: Path, jobs: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fhirplugin", "batch", "--jobs", str(jobs), "--out", os.devnull, str(path)],
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - t0, proc.returncode


def throughput(n: int, invalid_every: int, workdir: Path, repeat: int, markdown: bool = False) -> None:
    corpus = _load_corpus()
    path = corpus.write_ndjson(workdir / f"claims-{n}.ndjson", n, invalid_every=invalid_every)
    lines = path.read_bytes().splitlines()
    size = path.stat().st_size
    print(
        f"corpus: {n:,} R4 Claims, {size / 1e6:.1f} MB NDJSON"
        + (f", every {invalid_every}th structurally invalid" if invalid_every else "")
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} at start; in-process figures are the best of {repeat} runs"
    )

    rows: list[tuple[str, float | None, str]] = []  # (what, seconds or None, note)
    restore = pin_one_core()
    try:
        rows.append(("orjson parse only (the limit)", timed(lambda: parse_all(lines), repeat), ""))

        from fhir.resources.R4B.claim import Claim
        from pydantic import ValidationError

        def floor() -> None:
            for x in lines:
                with contextlib.suppress(ValidationError):
                    Claim.model_validate_json(x)

        rows.append(("fhir.resources R4B Claim.model_validate_json (floor)", timed(floor, repeat), ""))

        try:
            import fhirkit
        except ImportError:
            rows.append(("fhirkit-rs validate (peer)", None, "not installed"))
        else:
            rows.append(
                (
                    f"fhirkit-rs {fhirkit.__version__} validate (peer)",
                    timed(lambda: [fhirkit.validate(x) for x in lines], repeat),
                    "",
                )
            )

        from fhirplugin.config import Settings
        from fhirplugin.engine import Engine

        startup = timed(lambda: Engine(Settings()))  # the first Engine in a process loads the terminology
        # engine data already loaded: steady state
        one = timed(lambda: batch_run(path, 1), repeat)
        rows.append(("fhirplugin batch --jobs 1 (in-process)", one, ""))
        wall, rc = cli_wall(path, 1)
        rows.append(("fhirplugin batch --jobs 1 (CLI wall)", wall, f"exit {rc}"))
        stages = stage_profile(lines[:5000], repeat)
    finally:
        if restore:
            os.sched_setaffinity(0, restore)

    from fhirplugin.batch import default_jobs

    jobs = default_jobs()
    summary = batch_run(path, jobs)
    best = min([summary.elapsed] + [batch_run(path, jobs).elapsed for _ in range(repeat - 1)])
    rows.append((f"fhirplugin batch --jobs {jobs} (in-process)", best, ""))
    wall, rc = cli_wall(path, jobs)
    rows.append((f"fhirplugin batch --jobs {jobs} (CLI wall)", wall, f"exit {rc}"))
    print(
        f"fhirplugin findings: {summary.with_issues:,} of {summary.resources:,} resources with issues, "
        f"{sum(summary.issues.values()):,} issues"
    )

    print(f"engine start-up (first Engine in a process: terminology, rules): {startup:.2f} s")
    print_stages(stages)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    rates = {what: (n / s if s else None) for what, s, _ in rows}
    floor_rate = next((r for w, r in rates.items() if "(floor)" in w), None)
    peer_rate = next((r for w, r in rates.items() if "(peer)" in w), None)
    print()
    print(f"{'one core, then all cores':<58} {'resources/s':>12} {'x floor':>8} {'x peer':>8}  note")
    for what, secs, note in rows:
        rate = rates[what]
        if rate is None:
            print(f"{what:<58} {'-':>12} {'-':>8} {'-':>8}  {note}")
            continue
        vs_floor = f"{rate / floor_rate:.2f}" if floor_rate else "-"
        vs_peer = f"{rate / peer_rate:.2f}" if peer_rate else "-"
        print(f"{what:<58} {rate:>12,.0f} {vs_floor:>8} {vs_peer:>8}  {secs:.2f} s {note}".rstrip())
    if markdown:
        print_markdown(rows, rates, stages, floor_rate, peer_rate)


def _md_label(what: str) -> str:
    """A row label as the README writes it (commands and calls in backticks)."""
    what = re.sub(r"fhirplugin batch --jobs \d+", lambda m: f"`{m.group(0)}`", what)
    what = what.replace("Claim.model_validate_json (floor)", "`Claim.model_validate_json` (the floor)")
    return re.sub(r"validate \(peer\)", "`validate` (the peer, structure only)", what)


def print_markdown(
    rows: list[tuple[str, float | None, str]],
    rates: dict[str, float | None],
    stages: tuple[dict[str, float], dict[str, float], int],
    floor_rate: float | None,
    peer_rate: float | None,
) -> None:
    """The README's steady-state table and per-stage line, from this run's figures."""
    print()
    print("| one core, then all cores | resources/s | × floor | × peer |")
    print("|---|---:|---:|---:|")
    for what, _secs, _note in rows:
        rate = rates[what]
        if rate is None:
            continue
        vs_floor = f"{rate / floor_rate:.2f}" if floor_rate else "–"
        vs_peer = f"{rate / peer_rate:.2f}" if peer_rate else "–"
        print(f"| {_md_label(what)} | {rate:,.0f} | {vs_floor} | {vs_peer} |")
    best, rules, n = stages
    total = sum(best.values())
    parts = ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in best.items())
    top = sorted(rules.items(), key=lambda kv: -kv[1])[:3]
    print()
    print(
        f"Where one claim's time goes (`--jobs 1`, clean claims, µs per claim, same run): {parts}; "
        f"{total / n * 1e6:.0f} µs in all; the costliest rules "
        + ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in top)
        + "."
    )


def stage_profile(lines: list[bytes], repeat: int) -> tuple[dict[str, float], dict[str, float], int]:
    """Where the time of ``fhirplugin batch --jobs 1`` goes: µs per claim for each stage of the engine
    on clean input (the path most claims take), and for each rule; the best of ``repeat`` passes.

    Mirrors ``Engine.check_object`` step by step (parse, version, fast structure + depth proof, case
    extraction, rules, ordering, OperationOutcome); each stage is timed around the call, so the
    figures add a little timer overhead (about 0.1 µs a stage, and a rule)."""
    from fhirplugin.batch import tagged_outcome
    from fhirplugin.config import Settings
    from fhirplugin.engine import Engine, Result, _dedupe
    from fhirplugin.fhir import fast, version
    from fhirplugin.fhir.extract import read_submission
    from fhirplugin.findings import Finding
    from fhirplugin.rules.base import RuleContext

    engine = Engine(Settings())
    clock = time.perf_counter
    best: dict[str, float] = {}
    best_rules: dict[str, float] = {}
    for _ in range(max(1, repeat)):
        acc = dict.fromkeys(("parse", "version", "structure", "extract", "rules", "order", "outcome"), 0.0)
        per_rule: dict[str, float] = {}
        for i, line in enumerate(lines):
            t0 = clock()
            value = orjson.loads(line)
            t1 = clock()
            ver = version.detect(value)
            t2 = clock()
            ok = fast.accepts(value, ver, engine.settings.max_depth)
            t3 = clock()
            sub = read_submission(value, value["resourceType"], ver)
            t4 = clock()
            ctx = RuleContext.of(sub, engine.tx)
            findings: list[Finding] = []
            for rule, triggers in engine._runners:
                if triggers is not None and triggers.isdisjoint(ctx.cpt_codes):
                    continue
                r0 = clock()
                findings.extend(rule.check(ctx))
                per_rule[rule.id] = per_rule.get(rule.id, 0.0) + clock() - r0
            t5 = clock()
            findings = _dedupe(findings)
            findings.sort(key=Finding.sort_key)
            t6 = clock()
            orjson.dumps(tagged_outcome(Result("bench", i, i + 1, "Claim", None, ver, findings)))
            t7 = clock()
            if not ok:
                continue  # structurally invalid: not the fast path; left out of the figures
            for name, dt in zip(
                acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True
            ):
                acc[name] += dt
        for k, v in acc.items():
            best[k] = min(best.get(k, v), v)
        for k, v in per_rule.items():
            best_rules[k] = min(best_rules.get(k, v), v)
    return best, best_rules, len(lines)


def print_stages(stages: tuple[dict[str, float], dict[str, float], int]) -> None:
    best, rules, n = stages
    total = sum(best.values())
    print()
    print(f"where one claim's time goes (one core, {n:,} claims, µs per claim, best pass):")
    for name, secs in best.items():
        print(f"  {name:<10} {secs / n * 1e6:8.1f} µs  {secs / total:6.1%}")
    print(
        f"  {'total':<10} {total / n * 1e6:8.1f} µs  (= {n / total:,.0f} claims/s without I/O and chunking)"
    )
    top = sorted(rules.items(), key=lambda kv: -kv[1])
    print("  rules, most costly first (µs per claim): " + ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in top))


# ------------------------------------------------------------------------------------------ service
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(kind: str, port: int, workdir: str) -> None:
    """In the server subprocess: the service or the bare parse-only endpoint under uvicorn."""
    import uvicorn

    if kind == "service":
        from fhirplugin.config import load_settings
        from fhirplugin.service.app import create_app

        os.environ["FHIRPLUGIN_SERVICE__FEEDBACK_DB"] = str(Path(workdir) / "feedback.sqlite3")
        app = create_app(load_settings())
    else:
        from fastapi import FastAPI

        app = FastAPI()

        @app.post(BARE)
        async def parse(request: Request) -> Response:
            orjson.loads(await request.body())
            return Response(b'{"cards":[]}', media_type="application/json")

        @app.get("/health")
        def health() -> dict:
            return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def charge_bodies(count: int) -> list[bytes]:
    corpus = _load_corpus()
    out = []
    for i, claim in enumerate(corpus.claims(count)):
        patient = claim["patient"]["reference"].split("/", 1)[1]
        out.append(
            orjson.dumps(
                {
                    "hook": "dev.fhirplugin.charge-entry",
                    "hookInstance": f"00000000-0000-4000-8000-{i:012d}",
                    "context": {
                        "userId": claim["provider"]["reference"],
                        "patientId": patient,
                        "draftClaims": {
                            "resourceType": "Bundle",
                            "type": "collection",
                            "entry": [{"fullUrl": f"urn:uuid:claim-{i}", "resource": claim}],
                        },
                    },
                }
            )
        )
    return out


@contextlib.contextmanager
def server(kind: str, workdir: Path):
    port = _free_port()
    log = open(workdir / f"{kind}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            kind,
            "--port",
            str(port),
            "--workdir",
            str(workdir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} server exited: {(workdir / f'{kind}.log').read_text()[-1500:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server not healthy after 90 s")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _load(url: str, bodies: list[bytes], clients: int, requests: int, pid: int):
    """Latencies (s), elapsed (s), statuses, server CPU (s), client CPU (s) for ``requests`` POSTs
    from ``clients`` concurrent clients, after a warm-up."""
    import httpx

    latencies: list[float] = []
    statuses: set[int] = set()
    headers = {"Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for b in bodies[:10]:  # warm-up
            await client.post(url, content=b, headers=headers)
        counter = iter(range(requests))

        async def worker() -> None:
            for i in counter:
                body = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses.add(r.status_code)

        srv0, own0, t0 = _cpu_seconds(pid), time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t0
        srv1, own1 = _cpu_seconds(pid), time.process_time()
    server_cpu = (srv1 - srv0) if srv0 is not None and srv1 is not None else None
    return latencies, elapsed, statuses, server_cpu, own1 - own0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def service_latency(requests: int, workdir: Path) -> None:
    print()
    try:
        import httpx  # noqa: F401

        from fhirplugin.service.app import create_app  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means the service cannot be measured
        print(f"service not available ({type(exc).__name__}: {exc})")
        return
    bodies = charge_bodies(50)
    avg = statistics.mean(len(b) for b in bodies)
    print(f"service: POST {CHARGE_ENTRY}, {len(bodies)} different bodies of {avg / 1024:.1f} KiB on average")
    print(
        f"{'endpoint':<26} {'clients':>7} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} "
        f"{'server CPU ms/req':>17} {'client CPU %':>12}  status"
    )
    for kind, path in (("bare", BARE), ("service", CHARGE_ENTRY)):
        try:
            with server(kind, workdir) as (base, pid):
                for clients in (1, 50):
                    n = requests if clients > 1 else max(100, requests // 3)
                    lat, elapsed, statuses, srv_cpu, own_cpu = asyncio.run(
                        _load(base + path, bodies, clients, n, pid)
                    )
                    srv = f"{srv_cpu * 1000 / n:.1f}" if srv_cpu is not None else "-"
                    label = "bare FastAPI, parse only" if kind == "bare" else "fhirplugin charge-entry"
                    print(
                        f"{label:<26} {clients:>7} {n:>8} {_pct(lat, 0.5) * 1000:>8.1f} "
                        f"{_pct(lat, 0.99) * 1000:>8.1f} {n / elapsed:>7.0f} {srv:>17} "
                        f"{own_cpu * 100 / elapsed:>12.0f}  {','.join(map(str, sorted(statuses)))}"
                    )
        except RuntimeError as exc:
            print(f"service not available ({exc})")
            return
    print("(client CPU is % of one core: near 100 the Python client, not the server, sets the pace)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="claims in the corpus (default 20,000)")
    ap.add_argument("--invalid-every", type=int, default=0, help="make every k-th claim invalid (0: none)")
    ap.add_argument(
        "--requests", type=int, default=1000, help="requests per service measurement at 50 clients"
    )
    ap.add_argument("--repeat", type=int, default=3, help="in-process runs per figure; the best counts")
    ap.add_argument("--no-service", action="store_true", help="skip the service latency")
    ap.add_argument("--markdown", action="store_true", help="also print the README's tables (markdown)")
    ap.add_argument("--serve", choices=("service", "bare"), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workdir)
        return
    with tempfile.TemporaryDirectory(prefix="fhirplugin-bench-") as tmp:
        throughput(args.n, args.invalid_every, Path(tmp), args.repeat, args.markdown)
        if not args.no_service:
            service_latency(args.requests, Path(tmp))


if __name__ == "__main__":
    main()
