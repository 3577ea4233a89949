"""Print pip constraints that pin every dependency to the lowest version pyproject.toml allows.

`bash .ci/run` installs the project with these constraints into a second virtual environment
and runs the test suite there too, which proves the declared lower bounds rather than trusting
them. Covers `[project] dependencies` and the `test` extra; a requirement without a `>=` bound
is an error, since nothing could prove it.

    python .ci/lowest.py [pyproject.toml] > constraints.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# name[extras] (specifiers) [; marker]: the subset of PEP 508 our pyproject uses.
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")


def lowest_pins(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: cannot read the requirement {requirement!r}")
        name, specifiers = match[1], match[2]
        lower = [spec.strip()[2:].strip() for spec in specifiers.split(",") if ">=" in spec]
        if len(lower) != 1:
            raise SystemExit(f"{pyproject}: {requirement!r} needs exactly one >= lower bound")
        key = re.sub(r"[-_.]+", "-", name).lower()  # one pin per project, however spelt
        pins[key] = f"{key}=={lower[0]}"
    return sorted(pins.values())


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "pyproject.toml"
    print("\n".join(lowest_pins(path)))
