"""`pkgharvest --install-completion [SHELL]` and `--show-completion [SHELL]`.

typer's own options are flags that always use the shell it detects: `--install-completion zsh`
installed *bash* completion (the "zsh" was taken for a command name). Here the optional SHELL is
honoured; without it the current shell is detected as before. The scripts and the install
locations are typer's (`typer.completion`), so completion itself works as it always did.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from pkgharvest.errors import StoreWriteError, UsageError

PROG = "pkgharvest"
COMPLETE_VAR = "_PKGHARVEST_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")
OPTIONS = ("--install-completion", "--show-completion")
HELP = {
    "install_completion": "Install completion for SHELL (bash, zsh, fish, powershell; "
    "default: the current shell).",
    "show_completion": "Show the completion script for SHELL (default: the current shell), "
    "to copy it or customize the installation.",
}


def completion_request(args: list[str]) -> tuple[str, str | None] | None:
    """(option, shell or None) when `args` ask to install or show completion, else None."""
    if not args:
        return None
    option, _, inline = args[0].partition("=")
    if option not in OPTIONS:
        return None
    rest = ([inline] if inline else []) + args[1:]
    if len(rest) > 1:
        raise UsageError(f"{option} takes one shell name at most, got: {' '.join(rest)}")
    shell = rest[0] if rest else None
    if shell is not None and shell not in SHELLS:
        raise UsageError(f"{option}: {shell!r} is not one of {', '.join(SHELLS)}")
    return option, shell


def run_completion(option: str, shell: str | None) -> int:
    """Install or print the completion script; raises PkgHarvestError on failure."""
    import typer
    import typer.completion

    scripts: Any = typer.completion  # re-exports typer's install() and get_completion_script()
    shell = shell or _detected_shell()
    if option == "--show-completion":
        script = scripts.get_completion_script(
            prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell
        )
        sys.stdout.write(script + "\n")
        return 0
    try:
        installed, path = scripts.install(shell=shell, prog_name=PROG, complete_var=COMPLETE_VAR)
    except FileNotFoundError as err:  # powershell / pwsh: the shell is asked for its profile
        raise UsageError(
            f"--install-completion: {shell} is not installed here (no {shell!r} command)"
        ) from err
    except subprocess.CalledProcessError as err:
        raise UsageError(f"--install-completion: {shell} could not name its profile") from err
    except typer.Exit as err:
        raise UsageError(f"--install-completion: {shell} is not supported") from err
    except OSError as err:
        where = err.filename or "the shell's start-up file"
        raise StoreWriteError(f"cannot write {where}: {err.strerror or err}") from err
    sys.stdout.write(f"{installed} completion installed in {path}\n")
    sys.stdout.write("Completion will take effect once you restart the terminal\n")
    return 0


def _detected_shell() -> str:
    import typer.completion

    detect: Any = getattr(typer.completion, "_get_shell_name", None)
    shell = detect() if callable(detect) else None
    if shell not in SHELLS:
        raise UsageError(
            "cannot tell which shell this is; name it: "
            f"pkgharvest --install-completion {{{'|'.join(SHELLS[:4])}}}"
        )
    return str(shell)


def document_shell_argument(command: Any) -> None:
    """Say in `pkgharvest --help` that the completion options take a SHELL."""
    for param in getattr(command, "params", ()):
        if param.name in HELP:
            param.help = HELP[param.name]
