"""`amlrun check` on hand-made broken specs: every problem, at the right line, with a fix.

The cases live in tests/specs/broken/ (see its README): each marks its expected problems with
`# expect:` comments on the offending lines, so a case and its expectations cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

BROKEN = Path(__file__).parent / "specs" / "broken"
_MARKER = re.compile(
    r"#\s*expect(?:\[(?P<case>\w+)\])?(?:-line (?P<line>\d+))?(?:@(?P<col>\d+))?: (?P<rest>.*)$"
)
_PROBLEM = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<body>.*)$")


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    col: int | None
    field: str
    fragment: str

    def matches(self, problem: re.Match[str]) -> bool:
        if problem["file"] != self.file or int(problem["line"]) != self.line:
            return False
        if self.col is not None and int(problem["col"]) != self.col:
            return False
        body = problem["body"]
        if self.field and not body.startswith(f"{self.field}: "):
            return False
        return self.fragment in body


def _markers(file: Path, case: str) -> list[Expected]:
    found = []
    for number, text in enumerate(file.read_text().splitlines(), start=1):
        match = _MARKER.search(text)
        if not match or (match["case"] or case) != case:
            continue
        field, _, fragment = match["rest"].partition(": ")
        found.append(Expected(file.relative_to(BROKEN).as_posix(), int(match["line"] or number),
                              int(match["col"]) if match["col"] else None, field, fragment))
    return found


def expectations(case: Path) -> list[Expected]:
    found = _markers(case, case.stem)
    for component in sorted((BROKEN / "components").glob("*.yml")):
        found += _markers(component, case.stem)
    return found


CASES = sorted(BROKEN.glob("*.yml"))


def test_there_are_at_least_twelve_cases() -> None:
    assert len(CASES) >= 12
    assert all(expectations(case) for case in CASES), "every case marks at least one expected problem"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_spec_reports_each_problem_at_its_line(amlrun, case: Path) -> None:
    result = amlrun("check", "--no-sdk", case.name, cwd=BROKEN)
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    lines = [line for line in result.out.splitlines() if line.strip()]
    problems = [_PROBLEM.match(line) for line in lines]
    assert all(problems), f"every line is file:line:col: ...\n{result.out}"
    expected = expectations(case)
    for item in expected:
        assert any(item.matches(p) for p in problems), f"missing {item}\ngot:\n{result.out}"
    assert len(problems) == len(expected), f"unexpected extra problems:\n{result.out}"
    for problem in problems:
        assert problem["body"].endswith(")") and " (" in problem["body"], f"no hint: {problem.group(0)}"
    assert f"{len(expected)} problem" in result.err
