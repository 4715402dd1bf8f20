"""The command line never answers with a traceback (issue 18, item 8): not when its reader closes
the pipe (``alpr roles | head -1``), not when a password or code must be typed and there is no
terminal to type it (a script, cron, CI). Each test runs the real ``alpr`` in a subprocess, on a
broker address where nothing listens: a command that reached for Kafka would fail otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import EXIT_CLOSED_PIPE
from streams.kafka.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(state: Path, **extra: str) -> dict[str, str]:
    """No ALPR_ variable of the caller's (no password, no session), a state directory of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    env.update(ALPR_STATE_DIR=str(state), ALPR_BROKER_URL=f"kafka://127.0.0.1:{free_port()}", **extra)
    return env


def _alpr(
    env: dict[str, str], *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        cwd=ROOT,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- a closed pipe ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["roles"], ["--help"], ["user", "add", "--help"]])
def test_a_reader_that_has_closed_the_pipe_gets_no_traceback(tmp_path: Path, command: list[str]) -> None:
    """The pipe's read end is closed before ``alpr`` writes (what ``| head -1`` does as soon as it
    has its line): every write fails with EPIPE. ``alpr`` ends quietly: nothing on stderr, and for
    its own output the shell's code for a closed pipe, 141 (argparse's help already ignores it)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streams.cli", *command],
            env=_env(tmp_path / "state"),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.stderr == ""
    assert done.returncode == (0 if "--help" in command else EXIT_CLOSED_PIPE)


def test_piped_into_head_prints_the_first_line_and_no_traceback(tmp_path: Path) -> None:
    """The README's usage, through a real shell pipeline."""
    env = _env(tmp_path / "state")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"'{sys.executable}' -m streams.cli roles | head -1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, EXIT_CLOSED_PIPE), done.stderr
    assert len(done.stdout.splitlines()) == 1 and done.stdout.strip()
    assert "Traceback" not in done.stderr


# -- no terminal --------------------------------------------------------------------------------


PASSWORD = "terminal-test-pass-1"  # noqa: S105 - a test account that is never created
USER_ADD = [
    "user",
    "add",
    "pat",
    "--role",
    "officer",
    "--agency",
    "SJPD",
    "--display",
    "Pat Q",
    "--badge",
    "1",
]
BOOTSTRAP = [
    "bootstrap", "--agency-id", "SJPD", "--agency-name", "Example PD", "--admin", "ada",
    "--display", "Ada Admin", "--badge", "1", "--course", "ALPR basics",
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        (USER_ADD, "set ALPR_NEW_PASSWORD"),
        (BOOTSTRAP, "set ALPR_PASSWORD"),
        (["login"], "set ALPR_USER, ALPR_PASSWORD and ALPR_TOTP_CODE"),
        (["login", "--user", "ada"], "set ALPR_PASSWORD and ALPR_TOTP_CODE"),
    ],
)
@pytest.mark.parametrize("stdin", ["devnull", "closed"])
def test_without_a_terminal_it_says_what_to_set_and_changes_nothing(
    tmp_path: Path, command: list[str], variables: str, stdin: str
) -> None:
    """P18 secrets are typed at a terminal or given in the environment: with neither, the command
    says which variables to set, exits 2 and has written nothing (no state, no session), before it
    signs in or reads the directory (the broker address here has nothing listening)."""
    state = tmp_path / "state"
    if stdin == "devnull":
        done = _alpr(_env(state), *command)
    else:  # stdin closed outright (<&-): Python sees no sys.stdin at all
        done = subprocess.run(
            ["bash", "-c", 'exec "$@" <&-', "alpr", sys.executable, "-m", "streams.cli", *command],
            env=_env(state),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "EOFError" not in done.stderr
    assert "alpr: error: no terminal to ask for the" in done.stderr
    assert f"{variables} (or run the command in a terminal); nothing was changed" in done.stderr
    assert not state.exists() or not any(state.rglob("*"))


def test_with_the_variables_set_it_goes_on_past_the_question(tmp_path: Path) -> None:
    """The refusal above is about the missing answer only: with ALPR_NEW_PASSWORD set, ``user add``
    goes on to the sign-in check (P18) and is refused there, for not being signed in."""
    done = _alpr(_env(tmp_path / "state", ALPR_NEW_PASSWORD=PASSWORD), *USER_ADD)
    assert done.returncode == 2
    assert "no terminal" not in done.stderr and "sign in first" in done.stderr


def test_input_ended_at_the_password_prompt_is_said_plainly(tmp_path: Path) -> None:
    """At a terminal whose input ends (Ctrl-D) at the password prompt, ``alpr login`` says so and
    what to set, exit 2, no EOFError traceback. The terminal is a pseudo-terminal of the test's own,
    in a new session (so the prompt cannot reach the terminal the tests were started from)."""
    import pty
    import selectors
    import time

    controller, terminal = pty.openpty()
    env = _env(tmp_path / "state", ALPR_TOTP_CODE="123456")
    child = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "login", "--user", "ada"],
        env=env,
        cwd=ROOT,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(terminal)
    try:
        assert child.stderr is not None
        seen, deadline = b"", time.monotonic() + 30
        with selectors.DefaultSelector() as selector:
            selector.register(child.stderr, selectors.EVENT_READ)
            while b"password for ada: " not in seen:  # asked: the echo is off, the input may end now
                assert time.monotonic() < deadline and child.poll() is None, seen.decode()
                if selector.select(timeout=0.5):
                    seen += os.read(child.stderr.fileno(), 4096)
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        _out, rest = child.communicate(timeout=30)
    finally:
        os.close(controller)
        if child.poll() is None:
            child.kill()
    stderr = (seen + rest).decode()
    assert child.returncode == 2, stderr
    assert "Traceback" not in stderr and "EOFError" not in stderr
    assert "alpr: error: no password given (the input ended): type it, or set ALPR_PASSWORD" in stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*"))


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Only a closed standard output ends quietly: EPIPE from anything else (a peer's socket) is an
    error, raised as it was, while stdout still has its reader."""
    import streams.cli as cli

    def peer_went_away(_argv: list[str] | None) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_run", peer_went_away)
    with pytest.raises(BrokenPipeError):
        cli.main(["roles"])
