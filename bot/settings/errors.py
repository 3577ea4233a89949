"""The error every settings problem is reported as, and the collection of all of them found."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")


class SettingsError(Exception):
    """Missing or malformed settings; each line of `str()` names one variable and its fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variables: tuple[str, ...] = (variable,)
        self.lines: tuple[str, ...] = (f"{variable} {problem}: {fix}",)
        super().__init__(self.lines[0])

    @property
    def variable(self) -> str:
        return self.variables[0]

    @classmethod
    def combined(cls, errors: Sequence[SettingsError]) -> SettingsError:
        """All of `errors` as one, a line each, in the order they were found."""
        error = cls.__new__(cls)
        error.variables = tuple(name for each in errors for name in each.variables)
        error.lines = tuple(line for each in errors for line in each.lines)
        Exception.__init__(error, "\n".join(error.lines))
        return error


class Problems:
    """Collects every settings problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[SettingsError] = []

    def check(self, read: Callable[[], _T], fallback: _T) -> _T:
        """`read()`, or `fallback` once its problem is noted: the other checks still run."""
        try:
            return read()
        except SettingsError as error:
            self.found.append(error)
            return fallback

    def reported(self, variable: str) -> bool:
        return any(variable in error.variables for error in self.found)

    def raise_any(self) -> None:
        if self.found:
            raise SettingsError.combined(self.found)
