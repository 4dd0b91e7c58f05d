"""Console entry point: ``schemac``, ``schemac --help`` and ``--version`` answer without importing typer.

Importing typer costs several times Python's own start-up, and the top-level help is the same
text on every terminal at least 80 columns wide (typer wraps at 78 there). That text is stored in
``help.txt``, which a test keeps equal, byte for byte, to what typer prints; ``--version`` prints
the line the CLI's own option prints. Everything else (narrower terminals, shell completion, other
program names such as ``python -m schemac``, every command) goes to :func:`schemac.cli.main`.
"""

from __future__ import annotations

import os
import sys

HELP_FILE = os.path.join(os.path.dirname(__file__), "help.txt")
STORED_HELP_MIN_COLUMNS = 80
"""From this terminal width up, typer's top-level help no longer depends on the width."""


def terminal_columns() -> int:
    """The width typer wraps help to: ``COLUMNS`` when set, else the terminal's, else 80."""
    setting = os.environ.get("COLUMNS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def stored_help() -> str | None:
    """The top-level help as typer prints it on a wide terminal, or ``None`` when it cannot be read."""
    try:
        with open(HELP_FILE, encoding="utf-8") as handle:
            return handle.read() or None
    except OSError:
        return None


def main() -> None:
    """``schemac`` prints the help on stderr and exits 2, ``schemac --help`` on stdout and exits 0;
    ``schemac --version`` prints what the CLI's own option does."""
    arguments = sys.argv[1:]
    plain = os.path.basename(sys.argv[0]) == "schemac" and "_SCHEMAC_COMPLETE" not in os.environ
    if plain and arguments in ([], ["--help"]):
        text = stored_help() if terminal_columns() >= STORED_HELP_MIN_COLUMNS else None
        if text is not None:
            (sys.stdout if arguments else sys.stderr).write(text)
            sys.exit(0 if arguments else 2)
    if plain and arguments == ["--version"]:
        from importlib.metadata import version

        print(f"schemac {version('schemac')}")
        sys.exit(0)
    from schemac.cli import main as run_command

    run_command()
