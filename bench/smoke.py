"""Every benchmark at a small size, as CI runs them: does each still run, and report what it promises?

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/smoke.py [NAME ...]

Runs ``python bench/NAME.py`` for each benchmark, one after another, exactly as the README
runs it (the same script, the production settings it sets itself) with only the size made
small, in a subprocess with a time limit. Each must exit 0 and print as its last line a JSON
object holding every key its docstring promises (``EXPECTED_KEYS``) and no failure that
a small size cannot excuse (``MUST_BE_ZERO``: errors, an item decided twice). The goals
(ratios, seconds) mean nothing at this size and are not checked. A benchmark that fails is
named with its missing keys or the end of its output; the others still run. ``make
bench-smoke`` and ``.ci/run`` run it; the whole set takes a few minutes on 2 cores.

The child gets this environment minus the settings the benchmarks must set for themselves
(``SCRUBBED``): a developer's ``SECURE_SSL_REDIRECT=0`` or ``DEBUG=1`` must not make a
benchmark pass here that fails in a fresh shell.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where bench/queue.py would shadow
# the standard library's queue: drop the folder (this runner needs nothing from it).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

ROOT = BENCH.parent


@dataclass(frozen=True)
class Smoke:
    """One benchmark's small run: its arguments (the README's command with a small size) and time limit."""

    args: tuple[str, ...]
    timeout: int  # seconds; a few times what it takes on 2 cores


# The README's command for each, only the size made small: enough rows that every step runs
# (several chunks, ranges, pages and checkpoints), few enough for the set to end in minutes.
SMOKES: dict[str, Smoke] = {
    "seed": Smoke(("--listings", "2000"), timeout=180),
    "retire_category": Smoke(("--listings", "4000", "--chunk-size", "500"), timeout=180),
    "queue": Smoke(("--listings", "2000"), timeout=240),
    "escalation": Smoke(("--merchants", "12000"), timeout=240),
    "api": Smoke(
        ("--listings", "5000", "--decisions", "3000", "--tokens", "10")
        + ("--seconds", "2", "--warmup", "0.5", "--rounds", "1"),
        timeout=240,
    ),
    "detection": Smoke(("--listings", "2000", "--singles", "300"), timeout=240),
    "audit_seal": Smoke(("--events", "20000", "--chunk-size", "2000", "--checkpoint-events", "5000"), timeout=180),
    "integration": Smoke(
        ("--events", "2000", "--seconds", "2", "--warmup", "0.5", "--rounds", "1", "--webhook-listings", "2000"),
        timeout=300,
    ),
    "load": Smoke(
        ("--seconds", "4", "--warmup", "1", "--moderators", "5", "--merchants", "20")
        + ("--all-merchants", "200", "--review-items", "500"),
        timeout=240,
    ),
}

# The keys of each benchmark's last line, as its docstring promises them ("Last line: …");
# tests/test_bench_smoke.py holds the two together.
EXPECTED_KEYS: dict[str, tuple[str, ...]] = {
    "seed": ("benchmark", "rows", "seconds", "rows_per_second"),
    "retire_category": (
        "benchmark",
        "listings",
        "seconds",
        "baseline_seconds",
        "ratio",
        "chunk_size",
        "peak_rss_mb",
    ),
    "queue": (
        "benchmark",
        "queries_25",
        "queries_100",
        "scale_ratio",
        "admin_ratio",
        "claim_ratio",
        "scan_seconds",
        "scan_baseline_seconds",
        "scan_ratio",
        "open_items",
        "plain_ms",
        "search_ms",
        "search_ratio",
        "search_first_ms",
        "loop_ms",
        "loop_queries",
    ),
    "escalation": (
        "benchmark",
        "merchants",
        "seconds",
        "baseline_seconds",
        "ratio",
        "queries",
        "sanctions",
        "workers",
        "ranges",
        "queries_per_range",
        "inline_seconds",
        "inline_ratio",
        "inline_queries",
        "load_average",
        "peak_rss_mb",
    ),
    "api": (
        "benchmark",
        "rps",
        "baseline_rps",
        "ratio",
        "errors",
        "queries_per_request",
        "merchants",
        "listings",
        "decisions",
        "p50_ms",
        "p99_ms",
    ),
    "detection": (
        "benchmark",
        "listings",
        "scan_seconds",
        "scan_baseline_seconds",
        "scan_ratio",
        "single_p50_ms",
        "single_p99_ms",
        "single_max_ms",
        "single_highlights_p99_ms",
        "corpus_precision",
        "corpus_recall",
    ),
    "audit_seal": ("benchmark", "events", "seconds", "events_per_second", "verify_seconds"),
    "integration": (
        "benchmark",
        "check_rps",
        "check_baseline_rps",
        "check_ratio",
        "check_p99_ms",
        "check_errors",
        "sync_events_per_second",
        "sync_errors",
        "webhook_listings",
        "webhook_lost",
        "webhook_seconds",
        "removal_seconds",
    ),
    "load": ("benchmark", "requests", "errors", "rps", "p50_ms", "p99_ms", "double_decisions", "duplicate_appeals"),
}

# Not goals but failures at any size: a request that failed (a 5xx, a refused connection, a
# redirect to HTTPS), an answer the benchmark did not expect, an item decided twice.
MUST_BE_ZERO: dict[str, tuple[str, ...]] = {
    "api": ("errors",),
    "integration": ("check_errors", "sync_errors", "webhook_lost"),
    "load": ("errors", "unexpected", "double_decisions", "duplicate_appeals", "server_error_lines"),
}

# Settings a benchmark sets itself (bench/_common.py and its own top lines), as it must to run
# from a fresh shell: the runner's environment must not set them for it.
SCRUBBED = (
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "BEHIND_PROXY",
    "STATIC_ROOT",
    "VAR_DIR",
    "ALLOWED_HOSTS",
    "CELERY_TASK_ALWAYS_EAGER",
)
TAIL_LINES = 40
# After Ctrl-C, the time a benchmark gets to drop its throwaway database before it is killed.
INTERRUPT_GRACE_SECONDS = 30


@dataclass
class Outcome:
    name: str
    seconds: float
    result: dict | None = None
    problem: str = ""

    @property
    def passed(self) -> bool:
        return not self.problem


def check_result(name: str, stdout: str) -> tuple[dict | None, str]:
    """The last stdout line as JSON, and what is wrong with it ("" if nothing)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None, "printed nothing on stdout"
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None, f"last line is not JSON: {lines[-1][:300]!r}"
    if not isinstance(result, dict):
        return None, f"last line is not a JSON object: {lines[-1][:300]!r}"
    problems = []
    missing = [key for key in EXPECTED_KEYS[name] if key not in result]
    if missing:
        problems.append(f"missing keys {', '.join(missing)}")
    if result.get("benchmark") != name:
        problems.append(f"benchmark is {result.get('benchmark')!r}, not {name!r}")
    nonzero = [f"{key}={result[key]}" for key in MUST_BE_ZERO.get(name, ()) if result.get(key)]
    if nonzero:
        problems.append(f"must be 0: {', '.join(nonzero)}")
    return result, "; ".join(problems)


def tail(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines()[-TAIL_LINES:])


def child_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in SCRUBBED}


def stop(process: subprocess.Popen) -> tuple[str, str]:
    """Interrupt the benchmark and everything it started (its session): it drops its database on
    the way out; killed if it has not ended after the grace period."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        return process.communicate(timeout=INTERRUPT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()
    except ProcessLookupError:
        return process.communicate()


def run(name: str, *, verbose: bool) -> Outcome:
    smoke = SMOKES[name]
    command = [sys.executable, str(BENCH / f"{name}.py"), *smoke.args]
    print(f"== {name}: python bench/{name}.py {' '.join(smoke.args)}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=child_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None if verbose else subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: gunicorn and pool workers are stopped with it
    )
    try:
        stdout, stderr = process.communicate(timeout=smoke.timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = stop(process)
        seconds = time.monotonic() - started
        output = tail((stderr or "") + (stdout or ""))
        return Outcome(name, seconds, problem=f"still running after {smoke.timeout} s; its output:\n{output}")
    seconds = time.monotonic() - started
    if process.returncode != 0:
        output = tail((stderr or "") + (stdout or ""))
        return Outcome(name, seconds, problem=f"exited {process.returncode}; its output:\n{output}")
    result, problem = check_result(name, stdout)
    if problem and stderr:
        problem += f"\n  its stderr:\n{tail(stderr)}"
    return Outcome(name, seconds, result=result, problem=problem)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all: {', '.join(SMOKES)})"
    )
    parser.add_argument("--verbose", action="store_true", help="pass the benchmarks' progress (stderr) through")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(SMOKES))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; there are {', '.join(SMOKES)}")
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://")):
        parser.error("set DATABASE_URL to a PostgreSQL server (a role that may create databases)")

    started = time.monotonic()
    outcomes = []
    for name in args.names or SMOKES:
        outcome = run(name, verbose=args.verbose)
        outcomes.append(outcome)
        if outcome.passed:
            print(f"   ok in {outcome.seconds:.0f} s: {json.dumps(outcome.result)}", flush=True)
        else:
            print(f"   FAILED in {outcome.seconds:.0f} s: {outcome.problem}", flush=True)

    failed = [outcome.name for outcome in outcomes if not outcome.passed]
    print(f"\n== benchmarks at a small size took {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"   failed: {', '.join(failed)}", flush=True)
    print(f"benchmarks: {len(outcomes) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
