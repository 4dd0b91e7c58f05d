"""The CLI's extras: --version, bash completion, progress on a terminal, and the Python verbs behind it."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from subprocess import CompletedProcess

import pytest

import schemac
from schemac.project.progress import Progress

Run = Callable[..., CompletedProcess[str]]
SCRIPT = Path(sys.executable).parent / "schemac"


def test_version(cli: Run) -> None:
    outcome = cli("--version")
    assert (outcome.returncode, outcome.stdout) == (0, f"schemac {version('schemac')}\n")
    if SCRIPT.exists():  # the console script answers without typer, with the same line
        by_script = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
        assert (by_script.returncode, by_script.stdout, by_script.stderr) == (0, outcome.stdout, "")


TYPER_HELP = "import sys; sys.argv[0] = 'schemac'; from schemac.cli import main; main()"
"""The help as typer prints it, under the console script's program name."""


def _run(command: list[str | Path], columns: int) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    outcome = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    return outcome.returncode, outcome.stdout, outcome.stderr


@pytest.mark.parametrize("columns", [60, 79, 80, 132, 250])
@pytest.mark.parametrize("arguments", [["--help"], []])
def test_top_level_help_is_byte_for_byte_what_typer_prints(arguments: list[str], columns: int) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    ours = _run([SCRIPT, *arguments], columns)
    typers = _run([sys.executable, "-c", TYPER_HELP, *arguments], columns)
    assert ours == typers, (
        "src/schemac/help.txt no longer matches typer's help; regenerate it with\n"
        f'  COLUMNS=80 python -c "{TYPER_HELP}" --help > src/schemac/help.txt'
    )
    assert ours[0] == (0 if arguments else 2)
    assert "Commands:" in (ours[1] if arguments else ours[2])


@pytest.mark.parametrize(
    ("columns", "argv", "imports_typer"),
    [
        (80, ["schemac", "--help"], False),
        (200, ["schemac"], False),
        (79, ["schemac", "--help"], True),
        (80, ["schemac", "--version"], False),
        (80, ["schemac", "--version", "--help"], True),
        (80, ["/usr/local/bin/schemac-old", "--help"], True),
    ],
)
def test_only_the_wide_top_level_help_skips_importing_typer(columns: int, argv: list[str], imports_typer: bool) -> None:
    probe = (
        f"import sys; sys.argv = {argv!r}\n"
        "from schemac.launch import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('typer' in sys.modules, file=sys.stderr)"
    )
    code, _, stderr = _run([sys.executable, "-c", probe], columns)
    assert (code, stderr.splitlines()[-1]) == (0, str(imports_typer))


def test_bash_completion_script_completes_commands_and_choices(tmp_path: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    shown = subprocess.run([SCRIPT, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _schemac_completion schemac" in shown.stdout
    (tmp_path / "completion.bash").write_text(shown.stdout, encoding="utf-8")
    probe = f"""
source {tmp_path / "completion.bash"}
complete_words() {{
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    _schemac_completion schemac; printf '%s,' "${{COMPREPLY[@]}}"; echo
}}
complete_words schemac li
complete_words schemac lint --format ''
"""
    env = {**os.environ, "PATH": f"{SCRIPT.parent}{os.pathsep}{os.environ['PATH']}"}
    outcome = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.splitlines() == ["lint,", "text,json,github,"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_one_line_per_percent_and_clears_it() -> None:
    stream = _Terminal()
    with Progress(stream) as progress:
        for done in range(1, 301):
            progress(done, 300, "reading specs")
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 102  # 101 distinct percents (0..100) and the final clear
    assert "\r\x1b[Kreading specs 3/300 (1%)" in text
    assert text.endswith("\r\x1b[Kreading specs 300/300 (100%)\r\x1b[K")


def test_progress_is_silent_off_a_terminal_or_when_quiet() -> None:
    for stream, quiet in ((io.StringIO(), False), (_Terminal(), True)):
        with Progress(stream, quiet=quiet) as progress:
            progress(1, 2, "reading specs")
        assert stream.getvalue() == ""


def test_build_reports_each_spec_and_version(example_copy: Path) -> None:
    calls: list[tuple[int, int, str]] = []
    schemac.build(example_copy, progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert calls == [(n, 4, "reading specs") for n in (1, 2, 3, 4)] + [(n, 4, "rendering sqlite") for n in (1, 2, 3, 4)]


def _build_on_a_terminal(project: Path, *flags: str) -> tuple[int, bytes, str]:
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "schemac", "build", "--project", str(project), *flags],
            stdout=subprocess.PIPE,
            stderr=terminal,
            stdin=subprocess.DEVNULL,
        )
        os.close(terminal)
        stdout, _ = process.communicate(timeout=300)
        seen = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(controller)
    return process.returncode, seen, stdout.decode()


def test_build_shows_progress_on_a_terminal_and_not_with_quiet(example_copy: Path) -> None:
    (example_copy / "migrations" / "0003_streaming_progress_and_fallback.sql").unlink()
    (example_copy / "migrations" / "manifest.json").unlink()
    code, seen, stdout = _build_on_a_terminal(example_copy)
    assert code == 0
    assert b"\r\x1b[Kreading specs 4/4 (100%)" in seen
    assert b"\r\x1b[Krendering sqlite 4/4 (100%)" in seen
    assert seen.endswith(b"\r\x1b[K")
    assert "2 written, 3 unchanged" in stdout  # stdout is a pipe: the summary only
    code, seen, stdout = _build_on_a_terminal(example_copy, "--quiet")
    assert (code, seen, stdout) == (0, b"", "")


def test_every_verb_is_a_documented_function() -> None:
    for name in ("init", "new", "validate", "build", "check", "lint", "docs", "schema"):
        verb = getattr(schemac, name)
        assert callable(verb) and verb.__doc__, name
        assert name in schemac.__all__


def test_no_verb_shares_its_name_with_a_module() -> None:
    """Every module is imported, and still each verb of ``schemac`` is the function, not a module."""
    import importlib
    import pkgutil

    modules = [m.name for m in pkgutil.walk_packages(schemac.__path__, "schemac.") if m.name != "schemac.__main__"]
    for name in modules:
        importlib.import_module(name)
    names = {name.split(".")[1] for name in modules}
    assert not names & set(schemac.__all__)
    assert all(callable(getattr(schemac, verb)) for verb in ("lint", "docs", "validate", "apply", "verify", "build"))
    assert schemac.lint.__module__ == "schemac.rules"


def test_pre_commit_hooks_run_the_project_commands(example_copy: Path, make_project: Callable[..., Path]) -> None:
    import shlex

    import yaml

    hooks = yaml.safe_load((Path(__file__).parents[1] / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks] == ["schemac-check", "schemac-lint", "schemac-docs"]
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    no_key = make_project({"0001_t.yaml": "description: x\ntables:\n  t:\n    columns:\n      a: {type: text}\n"})
    for hook in hooks:
        assert (hook["language"], hook["pass_filenames"]) == ("python", False)
        assert hook["name"] and hook["description"]
        command = [str(SCRIPT.parent / word) if word == "schemac" else word for word in shlex.split(hook["entry"])]
        clean = subprocess.run(command, cwd=example_copy, capture_output=True, text=True, timeout=300)
        assert clean.returncode == 0, clean.stderr
        failing = subprocess.run(command, cwd=no_key, capture_output=True, text=True, timeout=300)
        assert failing.returncode == 1, failing.stderr  # check: not built yet; lint: SC904 no primary key


def test_jsonschema_is_imported_only_for_specs_with_schema_errors(example_copy: Path) -> None:
    """Valid specs are accepted by jsonschema-rs alone; a spec it refuses gets jsonschema's located findings."""
    probe = (
        "import sys, schemac\n"
        "try:\n"
        "    schemac.build(sys.argv[1], cache=sys.argv[2] == 'cache')\n"
        "except schemac.SchemacError as exc:\n"
        "    print(*exc.diagnostics, sep='\\n')\n"
        "print('jsonschema' in sys.modules)\n"
    )
    for cache in ("no-cache", "cache", "cache"):  # the second cached build also works out the cache key
        run = [sys.executable, "-c", probe, example_copy, cache]
        assert subprocess.run(run, capture_output=True, text=True, check=True).stdout == "False\n"
    spec = example_copy / "specs" / "0001_documents.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("description:", "descripton:", 1), encoding="utf-8")
    invalid = subprocess.run(
        [sys.executable, "-c", probe, example_copy, "no-cache"], capture_output=True, text=True, check=True
    )
    assert invalid.stdout.splitlines() == [
        "specs/0001_documents.yaml:2:1: SC201 unknown key 'descripton' (hint: did you mean 'description'?)",
        "specs/0001_documents.yaml:2:1: SC203 spec is missing the required key 'description'",
        "True",
    ]


def test_every_pinned_release_in_the_docs_is_this_version() -> None:
    """The pre-commit ``rev:`` and the pip ``@v…`` pins in README and docs name the version being released
    (``pyproject.toml``), so a snippet never points at a tag that does not exist."""
    import re
    import tomllib

    root = Path(__file__).parents[1]
    version = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    pins = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        pins += [(page.name, m) for m in re.findall(r"rev: (v[0-9][^\s]*)|schemac@(v[0-9][^\s\"]*)", text)]
    assert pins, "no pinned release found in README.md or docs/"
    assert {(page, a or b) for page, (a, b) in pins} == {(page, f"v{version}") for page, _ in pins}
