"""bench/smoke.py, the runner CI uses to run every benchmark at a small size.

What it checks is read from the benchmarks themselves: each one's docstring promises the
keys of its last line, and the README's table gives the command it runs. A benchmark added,
or a key promised, without the runner knowing fails here. The runner's own verdicts are
tried on stand-in scripts (the benchmarks themselves run in CI, not in the suite).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys

import pytest

from bench import smoke
from tests.conftest import ROOT

BENCH = ROOT / "bench"


def docstring(name: str) -> str:
    """A benchmark's docstring, read without importing it (importing one configures Django)."""
    return ast.get_docstring(ast.parse((BENCH / f"{name}.py").read_text(encoding="utf-8"))) or ""


def promised_keys(name: str) -> list[str]:
    """The keys of the JSON object the benchmark's docstring gives as its last line."""
    last_line = re.search(r"last line:?\s+``(\{.*?\})``", docstring(name), flags=re.S | re.I)
    return re.findall(r'"(\w+)":', last_line.group(1)) if last_line else []


def readme_commands() -> dict[str, list[str]]:
    """The README's benchmark table: name → the arguments of its command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    commands = {}
    for name, command in re.findall(r"^\| (\w+) \| `(python bench/\w+\.py[^`]*)` \|", section, flags=re.M):
        words = shlex.split(command)
        assert words[1] == f"bench/{name}.py", command
        commands[name] = words[2:]
    return commands


def benchmark_scripts() -> set[str]:
    return {path.stem for path in BENCH.glob("*.py") if docstring(path.stem).startswith("Benchmark:")}


def test_the_runner_runs_every_benchmark_the_readme_lists():
    assert set(smoke.SMOKES) == benchmark_scripts() == set(readme_commands())
    assert set(smoke.EXPECTED_KEYS) == set(smoke.SMOKES)


@pytest.mark.parametrize("name", sorted(smoke.SMOKES))
def test_the_runner_expects_the_keys_the_docstring_promises(name):
    assert promised_keys(name), f"bench/{name}.py's docstring gives no last line with its keys"
    assert list(smoke.EXPECTED_KEYS[name]) == promised_keys(name)


@pytest.mark.parametrize("name", sorted(smoke.SMOKES))
def test_the_runner_changes_only_the_size_of_the_readme_command(name):
    """Every option the README's command sets, the small run sets too (to a small value)."""
    readme_options = {word for word in readme_commands()[name] if word.startswith("--")}
    smoke_options = {word for word in smoke.SMOKES[name].args if word.startswith("--")}
    assert readme_options <= smoke_options


def test_a_result_with_every_key_passes():
    line = json.dumps(dict.fromkeys(smoke.EXPECTED_KEYS["seed"], 1) | {"benchmark": "seed"})
    result, problem = smoke.check_result("seed", "  generating…\n" + line + "\n")
    assert problem == ""
    assert result["rows"] == 1


def test_the_missing_keys_are_named():
    _result, problem = smoke.check_result("audit_seal", '{"benchmark": "audit_seal", "events": 10, "seconds": 1}')
    assert "missing keys events_per_second, verify_seconds" in problem


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("", "printed nothing"),
        ('{"benchmark": "seed"}\nTraceback (most recent call last):', "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"benchmark": "queue", "rows": 1, "seconds": 1, "rows_per_second": 1}', "not 'seed'"),
    ],
)
def test_a_last_line_that_is_not_the_result_fails(stdout, expected):
    _result, problem = smoke.check_result("seed", stdout)
    assert expected in problem


def test_errors_fail_even_at_a_small_size():
    result = dict.fromkeys(smoke.EXPECTED_KEYS["load"], 0) | {"benchmark": "load", "errors": 3, "unexpected": 0}
    _result, problem = smoke.check_result("load", json.dumps(result))
    assert "must be 0: errors=3" in problem


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """Run stand-in scripts (tmp_path/NAME.py) as benchmarks named NAME."""
    monkeypatch.setattr(smoke, "BENCH", tmp_path)

    def install(name: str, source: str, *, timeout: int = 60, keys: tuple[str, ...] = ("benchmark", "n")) -> None:
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
        monkeypatch.setitem(smoke.SMOKES, name, smoke.Smoke(("--n", "1"), timeout=timeout))
        monkeypatch.setitem(smoke.EXPECTED_KEYS, name, keys)

    return install


def test_a_benchmark_that_reports_passes(stand_in, monkeypatch):
    stand_in(
        "fine",
        "import json, os, sys\n"
        "print('generating…', file=sys.stderr)\n"
        "redirect = os.environ.get('SECURE_SSL_REDIRECT')\n"
        "print(json.dumps({'benchmark': 'fine', 'n': sys.argv[1:], 'redirect': redirect}))\n",
    )
    monkeypatch.setenv("SECURE_SSL_REDIRECT", "0")
    outcome = smoke.run("fine", verbose=False)
    assert outcome.passed, outcome.problem
    assert outcome.result["n"] == ["--n", "1"]
    # A setting the benchmark must make itself is not handed down from the runner's shell.
    assert outcome.result["redirect"] is None


def test_a_benchmark_that_crashes_fails_with_its_output(stand_in):
    stand_in("broken", "import sys\nprint('Missing staticfiles manifest entry', file=sys.stderr)\nsys.exit(3)\n")
    outcome = smoke.run("broken", verbose=False)
    assert not outcome.passed
    assert "exited 3" in outcome.problem
    assert "Missing staticfiles manifest entry" in outcome.problem


def test_a_benchmark_that_overruns_is_stopped(stand_in):
    stand_in(
        "stuck", "import sys, time\nprint('generating…', file=sys.stderr, flush=True)\ntime.sleep(600)\n", timeout=1
    )
    outcome = smoke.run("stuck", verbose=False)
    assert not outcome.passed
    assert "still running after 1 s" in outcome.problem
    assert "generating…" in outcome.problem


def test_main_counts_passes_and_failures(stand_in, monkeypatch, capsys):
    stand_in("fine", "import json\nprint(json.dumps({'benchmark': 'fine', 'n': 1}))\n")
    stand_in("short", "import json\nprint(json.dumps({'benchmark': 'short'}))\n")
    monkeypatch.setenv("DATABASE_URL", "postgres://bench@127.0.0.1:5432/postgres")
    monkeypatch.setattr(sys, "argv", ["smoke.py", "fine", "short"])
    assert smoke.main() == 1
    out = capsys.readouterr().out
    assert "missing keys n" in out
    assert out.rstrip().endswith("benchmarks: 1 passed, 1 failed")
