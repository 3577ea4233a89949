"""Deployment: the Dockerfile, the build context, compose.yaml, the systemd unit and the lock file
read as Docker, Compose and systemd would read them (no Docker engine runs here; CI installs the
lock file as the image does), the container's health check and stop signal against a real bot
process, and the platforms the commands that write refuse."""

from __future__ import annotations

import asyncio
import configparser
import fnmatch
import json
import os
import re
import shlex
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement  # pytest's own dependency
from packaging.utils import canonicalize_name

from bot.cli import COMMANDS
from bot.cli.platforms import WRITING_COMMANDS, platform_problem
from bot.ingest.feed import DEFAULT_TIMEOUT
from standins.feed_server import Fault, FeedServer
from standins.slack_api import SlackApi
from tests.conftest import bot_env, eventually
from tests.test_process import BotProcess, child_env, free_port, run_cli

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


# -- the Dockerfile -------------------------------------------------------------------------------


def dockerfile_stages(path: Path = REPO / "Dockerfile") -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, as (INSTRUCTION, arguments): comments dropped and
    continued lines joined, as Docker reads them."""
    stages: list[list[tuple[str, str]]] = []
    logical = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # a comment or blank line, also between continued lines
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        instruction, _, arguments = (logical + line).strip().partition(" ")
        logical = ""
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def arguments_of(name: str, stage: list[tuple[str, str]] | None = None) -> list[str]:
    return [arguments for instruction, arguments in stage or final_stage() if instruction == name]


def exec_form(arguments: str) -> list[str]:
    """A JSON array (exec form), or the test fails: the shell form would put /bin/sh between
    Docker and the bot, and SIGTERM would stop at the shell."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed), arguments
    return parsed


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(
        pair.split("=", 1)
        for arguments in arguments_of("ENV", stage)
        for pair in shlex.split(arguments)
    )


def test_the_image_is_an_official_slim_python_of_a_minor_version_the_project_supports() -> None:
    lowest = tuple(map(int, PYPROJECT["project"]["requires-python"].strip(">= ").split(".")))
    for stage in dockerfile_stages():
        [(_, image)] = stage[:1]
        match = re.fullmatch(r"python:3\.(\d+)-slim(?: AS \w+)?", image)
        assert match, f"not an official slim Python of a pinned minor version: {image}"
        assert (3, int(match[1])) >= lowest


def test_the_image_installs_the_lock_file_with_hashes_and_then_the_bot_alone() -> None:
    runs = arguments_of("RUN")
    [lock_install] = [run for run in runs if "requirements.lock" in run]
    assert re.search(r"pip install --require-hashes -r \S*requirements\.lock$", lock_install)
    assert "source=requirements.lock" in lock_install  # from the build context
    [bot_install] = [run for run in runs if "--no-deps" in run]
    assert re.search(r"pip install --no-deps \S+\.whl$", bot_install)
    assert runs.index(lock_install) < runs.index(bot_install)
    [build] = dockerfile_stages()[:-1]
    assert arguments_of("RUN", build) == [
        "python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ."
    ]


def test_the_bot_runs_as_a_user_without_privileges_with_its_database_on_the_volume() -> None:
    stage = final_stage()
    [user] = arguments_of("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid == uid, user  # numeric: checkable as non-root
    instructions = [instruction for instruction, _ in stage]
    # The user comes after every install, and nothing runs as root once it is set.
    assert instructions.index("USER") > max(
        i for i, name in enumerate(instructions) if name == "RUN"
    )
    [creates] = [run for run in arguments_of("RUN") if "useradd" in run]
    assert f"--uid {uid} --user-group" in creates
    name = creates.split("&&")[0].split()[-1]
    assert f"chown {name}:{name} /data" in creates  # a new volume takes this owner
    assert arguments_of("VOLUME") == ["/data"]
    assert instructions.index("VOLUME") > stage.index(("RUN", creates))
    assert env_of(stage)["DATABASE_PATH"] == "/data/isscr-news.db"
    assert arguments_of("WORKDIR") == ["/data"]  # a relative DATABASE_PATH lands there too


def test_the_container_checks_its_health_and_hands_sigterm_to_the_bot() -> None:
    stage = final_stage()
    # /healthz is served in Socket Mode only when PORT is set, and the health check reads it.
    assert env_of(stage)["PORT"] == "3000"
    assert arguments_of("EXPOSE") == ["3000"]
    [healthcheck] = arguments_of("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    settings = dict(option.removeprefix("--").split("=") for option in options.split())
    # Until the first poll has succeeded /healthz answers 503; the first poll may take the
    # feed's whole timeout.
    assert _seconds(settings["start-period"]) >= DEFAULT_TIMEOUT.total
    assert _seconds(settings["timeout"]) > 5  # the health check's own timeout
    assert exec_form(command) == ["isscr-news-bot", "healthcheck"]
    assert arguments_of("STOPSIGNAL") == ["SIGTERM"]
    [entrypoint], [command] = arguments_of("ENTRYPOINT"), arguments_of("CMD")
    assert exec_form(entrypoint) + exec_form(command) == ["isscr-news-bot", "run"]
    assert {"run", "healthcheck", "backup"} <= set(COMMANDS)
    assert PYPROJECT["project"]["scripts"]["isscr-news-bot"] == "bot.cli:main"


def _seconds(duration: str) -> float:
    value, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()  # type: ignore[union-attr]
    return int(value) * (60 if unit == "m" else 1)


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repository) out of the build context:
    the last pattern that matches it or one of its folders decides, `!` bringing it back."""
    excluded = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = Path(path).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if pattern.startswith("**/"):
            candidates += [part for part in parts]
            pattern = pattern[3:]
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not negated
    return excluded


def test_the_build_context_holds_what_the_dockerfile_copies_and_never_a_secret() -> None:
    sources = []
    for stage in dockerfile_stages():
        for instruction, arguments in stage:
            if instruction == "COPY" and "--from=" not in arguments:
                sources += shlex.split(arguments)[:-1]
            if (
                instruction == "RUN"
                and "--mount=type=bind" in arguments
                and "from=" not in arguments
            ):
                sources += re.findall(r"source=([^,\s]+)", arguments)
    assert sorted(sources) == ["README.md", "bot", "pyproject.toml", "requirements.lock"]
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(source), source
    assert not dockerignore_excludes("bot/cli.py")
    assert not dockerignore_excludes("bot/slack/listeners/__init__.py")
    for kept_out in (".env", "isscr-news.db", "bot.db-wal", ".git", ".venv", "tests/conftest.py",
                     "standins/slack_api.py",
                     "bot/__pycache__/cli.cpython-311.pyc"):  # fmt: skip
        assert dockerignore_excludes(kept_out), kept_out


# -- compose.yaml -------------------------------------------------------------------------------


def read_yaml(text: str) -> Any:
    """The block-style YAML that compose.yaml uses: nested mappings, lists of plain or quoted
    scalars, comments. Enough to read it as Compose does, without a YAML library."""
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line:
            lines.append((len(line) - len(line.lstrip()), line.strip()))

    def scalar(text: str) -> Any:
        if text in ("true", "false"):
            return text == "true"
        return text[1:-1] if text[:1] in "'\"" and text[-1:] == text[:1] else text

    def block(start: int, indent: int) -> tuple[Any, int]:
        if lines[start][1].startswith("- "):
            items, n = [], start
            while n < len(lines) and lines[n][0] == indent and lines[n][1].startswith("- "):
                items.append(scalar(lines[n][1][2:].strip()))
                n += 1
            return items, n
        mapping: dict[str, Any] = {}
        n = start
        while n < len(lines) and lines[n][0] == indent:
            key, _, value = lines[n][1].partition(":")
            n += 1
            if value.strip():
                mapping[key] = scalar(value.strip())
            elif n < len(lines) and lines[n][0] > indent:
                mapping[key], n = block(n, lines[n][0])
            elif n < len(lines) and lines[n][0] == indent and lines[n][1].startswith("- "):
                mapping[key], n = block(n, indent)
            else:
                mapping[key] = None
        return mapping, n

    parsed, end = block(0, 0)
    assert end == len(lines), f"compose.yaml: cannot read line {lines[end]}"
    return parsed


def test_compose_starts_the_bot_with_env_settings_a_named_volume_and_a_restart_policy() -> None:
    compose = read_yaml((REPO / "compose.yaml").read_text())

    [bot] = compose["services"].values()
    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert bot["restart"] == "unless-stopped"
    assert bot["init"] is True  # SIGTERM reaches the bot even while it starts
    assert bot["volumes"] == ["data:/data"]
    assert compose["volumes"] == {"data": None}  # named: kept across `docker compose down`
    [published] = bot["ports"]
    assert published.endswith(":3000")
    assert _seconds(bot["stop_grace_period"]) > 10  # the bot's own stop takes up to 10 s


# -- the systemd unit -----------------------------------------------------------------------------


def test_the_systemd_unit_runs_the_bot_as_its_own_user_in_a_hardened_service() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string((REPO / "deploy" / "isscr-news-bot.service").read_text())
    service = unit["Service"]

    assert service["User"] not in ("", "root")
    program, command = service["ExecStart"].split()
    assert (Path(program).is_absolute(), Path(program).name, command) == (
        True,
        "isscr-news-bot",
        "run",
    )
    assert service["EnvironmentFile"].startswith("/")
    variable, _, database = service["Environment"].partition("=")
    assert variable == "DATABASE_PATH"
    data_dir = str(Path(database).parent)
    assert service["WorkingDirectory"] == data_dir
    assert service["StateDirectory"] == Path(data_dir).name  # created for the user
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a bad setting: restarting cannot help
    assert service["KillSignal"] == "SIGTERM"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"  # everything read-only…
    assert data_dir in service["ReadWritePaths"].split()  # …but the database's folder
    assert service["ProtectHome"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


# -- the lock file --------------------------------------------------------------------------------


def read_lock(path: Path = REPO / "requirements.lock") -> dict[str, tuple[str, list[str], str]]:
    """requirements.lock as {name: (version, hashes, environment marker)}."""
    text = path.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str], str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        requirement = Requirement(re.sub(r"\s*--hash=\S+", "", line))
        [specifier] = requirement.specifier
        assert specifier.operator == "==", line
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} is pinned twice"
        pins[name] = (specifier.version, hashes, str(requirement.marker or ""))
    return pins


def test_the_lock_file_pins_every_runtime_dependency_inside_pyprojects_range_with_hashes() -> None:
    pins = read_lock()

    for declared in map(Requirement, PYPROJECT["project"]["dependencies"]):
        name = canonicalize_name(declared.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        version, _, marker = pins[name]
        assert declared.specifier.contains(version), f"{name}=={version} is not {declared}"
        assert marker == "", f"{name} is needed everywhere, not only where {marker}"
    for name, (version, hashes, _) in pins.items():
        assert hashes, f"{name}=={version} has no hash"
    # The test tools stay out of the image.
    for tool in PYPROJECT["project"]["optional-dependencies"]["test"]:
        assert canonicalize_name(Requirement(tool).name) not in pins
    assert "#    python3 scripts/lock.py\n" in (REPO / "requirements.lock").read_text()


# -- platforms -------------------------------------------------------------------------------------


def test_the_commands_that_write_refuse_native_windows_and_point_to_docker_or_wsl() -> None:
    assert sorted(WRITING_COMMANDS) == ["backfill", "backup", "poll", "retry-failed", "run"]
    assert set(COMMANDS) >= WRITING_COMMANDS
    for command in WRITING_COMMANDS:
        assert platform_problem(command, "win32") == (
            f"`{command}` does not run on Windows itself: run the bot with Docker "
            "(docker compose up) or inside WSL, see docs/deploy.md"
        )
        for supported in ("linux", "darwin"):
            assert platform_problem(command, supported) is None
    for reading in set(COMMANDS) - WRITING_COMMANDS:
        assert platform_problem(reading, "win32") is None  # status, search, healthcheck
    assert platform_problem(None, "win32") is None  # --help, --version


async def test_on_native_windows_the_command_line_refuses_before_anything_else(
    tmp_path: Path,
) -> None:
    """The check is wired into the command line itself: Python on Windows says "win32"."""
    script = (
        "import sys; from bot.cli import main; sys.platform = 'win32'; "
        "main(['run'], prog_name='isscr-news-bot')"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script,
        cwd=tmp_path, env=child_env({"SLACK_BOT_TOKEN": "not-a-token"}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert (process.returncode, out) == (2, b"")
    assert err.decode() == (
        "isscr-news-bot: `run` does not run on Windows itself: run the bot with Docker "
        "(docker compose up) or inside WSL, see docs/deploy.md\n"
    )  # and not the bad token: nothing else was looked at


# -- the container's health check and stop, against a real bot -----------------------------------


async def test_healthcheck_exits_0_when_the_bot_is_healthy_and_1_saying_why_otherwise(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    nobody = {**bot_env(tmp_path, feed, slack), "PORT": str(free_port())}
    code, out, err = await run_cli("healthcheck", env=nobody, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert err == (
        f"isscr-news-bot: not healthy: nothing answers at http://127.0.0.1:{nobody['PORT']}"
        f"/healthz: is the bot running, with PORT={nobody['PORT']}? (in Socket Mode, /healthz "
        "is served only when PORT is set)\n"
    )

    feed.fail_always(Fault.status(503))
    bot = await BotProcess(bot_env(tmp_path, feed, slack), tmp_path).start(wait=False)
    processes.append(bot)

    async def says_why() -> bool:
        code, out, err = await run_cli("healthcheck", env=bot.env, cwd=tmp_path)
        return (code, out) == (1, "") and err.startswith(
            "isscr-news-bot: not healthy: The feed has not been polled successfully yet: "
        )

    await eventually(says_why, timeout=30)

    feed.fail_always(None)
    await eventually(bot.healthy, timeout=30)
    code, out, err = await run_cli("healthcheck", env=bot.env, cwd=tmp_path)
    assert (code, out, err) == (
        0,
        f"isscr-news-bot: healthy (http://127.0.0.1:{bot.env['PORT']}/healthz answered 200)\n",
        "",
    )


def _read(path: str) -> str:
    with open(path) as opened:
        return opened.read()


def _children(pid: int) -> list[int]:
    return [int(child) for child in _read(f"/proc/{pid}/task/{pid}/children").split()]


async def test_the_bot_as_pid_1_of_its_container_stops_on_sigterm_at_once(
    tmp_path: Path, feed: FeedServer, slack: SlackApi, processes: list[BotProcess]
) -> None:
    # As `docker run` without --init starts it: the bot is PID 1 of a PID namespace of its
    # own, where the kernel drops every signal the process has not set a handler for.
    inside = (
        "unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
        "sh", "-c", "exec {bot}",
    )  # fmt: skip
    bot = BotProcess(bot_env(tmp_path, feed, slack, LOG_LEVEL="INFO"), tmp_path, inside=inside)
    await bot.start()
    processes.append(bot)
    assert bot.process is not None
    [container] = _children(bot.process.pid)
    status = _read(f"/proc/{container}/status")
    assert re.search(r"^NSpid:\s+\d+\s+1$", status, re.MULTILINE), status  # PID 1 inside

    started = time.monotonic()
    os.kill(container, signal.SIGTERM)  # as `docker stop` sends it: from outside, to PID 1
    code = await asyncio.wait_for(bot.process.wait(), 15)

    assert code == 0, bot.output()
    assert time.monotonic() - started < 10, bot.output()
    assert "shutting down" in bot.output() and "stopped" in bot.output()
    assert "Traceback" not in bot.output()
