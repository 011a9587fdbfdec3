"""One root error for everything amlrun reports to a user.

    AmlrunError                 what the CLI prints as one paragraph and maps to an exit code
    ├── SpecError               a job/component/config file is invalid (carries Problems)     exit 2
    ├── UsageError              flags or overrides that make no sense                         exit 2
    ├── DataError               a datastore, URI, input or output cannot be used              exit 1
    ├── EnvironmentError_       a job's environment cannot be turned into a process           exit 1
    ├── RunError                a run/step failed or a record is missing                      exit 1
    └── SubmitError             building or sending a job to AzureML failed                   exit 1

Every error carries a `hint` telling the user what to do next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "AmlrunError",
    "DataError",
    "NotHereError",
    "EnvironmentError_",
    "Problem",
    "RunError",
    "SpecError",
    "SubmitError",
    "UsageError",
    "render_problems",
    "scrub_secrets",
]

_SECRET_PARAM = re.compile(
    r"(?i)(\b(?:sig|signature|accountkey|sharedaccesssignature|sharedaccesskey|password|client_secret|secret)"
    r"|[?&](?:access_token|token|sas|sas_token|key))=([^&;\s'\"<>()]+)")


def scrub_secrets(text: str) -> str:
    """`text` with every value shaped like a credential (a SAS `sig=`, `AccountKey=`, a password) as `***`.

    Applied to everything amlrun prints as an error and everything it stores in a run record, so a
    URL carrying a SAS token never lands in a log, the index or record.json, wherever it came from.
    """
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text) if "=" in text else text

MAX_PROBLEMS_SHOWN = 50
"""A hostile or badly broken file can hold thousands of problems; the first ones are what to fix."""


def render_problems(problems: list[Problem]) -> str:
    """One line per problem, the first MAX_PROBLEMS_SHOWN of them, then how many more there are."""
    lines = [p.render() for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more (fix these first; they often cause the rest)")
    return "\n".join(lines)


class AmlrunError(Exception):
    """Base class: a message for the user, an optional hint, and an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return scrub_secrets(text)


@dataclass(frozen=True)
class Problem:
    """One finding in a spec: where it is, which field, what is wrong and how to fix it."""

    file: str
    line: int
    col: int
    field: str
    message: str
    hint: str = ""

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        field = f" {self.field}:" if self.field else ""
        fix = f" ({self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{fix}"


class SpecError(AmlrunError):
    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found")

    def render(self) -> str:
        return scrub_secrets(render_problems(self.problems))


class UsageError(AmlrunError):
    exit_code = 2


class DataError(AmlrunError):
    pass


class NotHereError(DataError):
    """Data AzureML resolves but this machine cannot yet (an undeclared storage container, an unmapped
    data asset): `run` refuses it, `check` only notes it, since the file itself is fine."""


class EnvironmentError_(AmlrunError):  # noqa: N801 - avoid shadowing the builtin
    pass


class RunError(AmlrunError):
    pass


class SubmitError(AmlrunError):
    pass
