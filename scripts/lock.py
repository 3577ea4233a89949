"""Write requirements.lock: the exact version, with its hashes, of every package the bot needs
at run time (pyproject.toml's `dependencies` and theirs; not the test tools), on every platform
and every Python that pyproject.toml allows. The Docker image installs from it with
`pip install --require-hashes`, and CI installs it the same way.

    python3 scripts/lock.py            # after changing the dependencies: pins that still fit stay
    python3 scripts/lock.py --upgrade  # every pin to the newest release allowed

Needs Python 3.11 or newer and PyPI: it installs uv (pinned below) into a temporary virtual
environment and runs its resolver, which reads every package's files from PyPI.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

UV = "uv==0.13.9"
INDEX = "https://pypi.org/simple"
REPO = Path(__file__).resolve().parents[1]
COMMAND = "python3 scripts/lock.py"


def oldest_python(pyproject: Path) -> str:
    """The lowest Python version that pyproject.toml's requires-python admits, like "3.11"."""
    requires = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
    match = re.fullmatch(r"\s*>=\s*(\d+\.\d+)\s*", requires)
    if match is None:
        raise SystemExit(f"{pyproject}: requires-python {requires!r} is not of the form >=X.Y")
    return match[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument(
        "--upgrade", action="store_true", help="move every pin to the newest allowed release"
    )
    upgrade = parser.parse_args().upgrade
    pyproject = REPO / "pyproject.toml"
    with tempfile.TemporaryDirectory(prefix="isscr-lock-") as scratch:
        tools = Path(scratch) / "venv"
        venv.create(tools, with_pip=True)
        bin_dir = tools / ("Scripts" if sys.platform == "win32" else "bin")
        subprocess.run(
            [bin_dir / "python", "-m", "pip", "install", "--quiet", UV],
            check=True,
        )
        subprocess.run(
            [
                bin_dir / "uv", "pip", "compile", "pyproject.toml",
                "--output-file", "requirements.lock",
                "--generate-hashes",
                # One file for Linux, macOS, the image's Python and any newer one: a package
                # needed only somewhere is pinned with its environment marker.
                "--universal",
                "--python-version", oldest_python(pyproject),
                "--index-url", INDEX,
                "--no-config",  # no uv.toml of this machine changes what is locked
                "--custom-compile-command", COMMAND,
                "--quiet",
                *(["--upgrade"] if upgrade else []),
            ],
            cwd=REPO,
            check=True,
        )  # fmt: skip
    print(f"wrote {REPO / 'requirements.lock'}")


if __name__ == "__main__":
    main()
