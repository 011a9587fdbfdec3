"""`amlrun report`: one self-contained page, rendered by a real headless chromium without console errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tracking_fixtures import TrackedPipeline, run_cli

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]  # nothing may come from the network


class _Rendered(HTMLParser):
    """Step rows (name, state) and the parallel counts as the browser left them in the DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[str, str] = {}
        self.counts: dict[str, str] = {}
        self.svg_texts: list[str] = []
        self._cell: str | None = None
        self._in_svg_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-step"):
            self.steps[a["data-step"] or ""] = a.get("data-state") or ""
        if tag == "td" and (a.get("class") or "").startswith(("mb-", "items-")):
            self._cell = a["class"]
        self._in_svg_text = tag in ("text", "tspan")

    def handle_data(self, data: str) -> None:
        if self._cell:
            self.counts[self._cell] = data.strip()
            self._cell = None
        if self._in_svg_text and data.strip():
            self.svg_texts.append(data.strip())


def test_report_of_a_pipeline_with_a_failing_parallel_step_renders_in_chromium(
        tracked_pipeline: TrackedPipeline, tmp_path: Path) -> None:
    tracked = tracked_pipeline
    assert tracked.code == 1, tracked.output
    page = tmp_path / "report.html"
    made = run_cli(tracked.store, tracked.root, "report", tracked.run, "-o", page)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(page)
    text = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?(https?:)?//", text), \
        "the page must not load anything from the network"
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (dev.py apt-installs it when run as root)")
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], "the page logged to the console:\n" + "\n".join(console)
    rendered = _Rendered()
    rendered.feed(dom.stdout)
    assert rendered.steps == {"train": "Completed", "score": "Failed", "evaluate": "Completed"}
    score = json.loads(next(tracked.store.rglob("tracked_pipe_score/record.json")).read_text())["extra"]["parallel"]
    assert rendered.counts == {"mb-total": str(score["mini_batches"]), "mb-ok": str(score["succeeded"]),
                               "mb-failed": "1", "mb-retried": "1", "items-total": str(score["items"]),
                               "items-ok": str(score["items_succeeded"]), "items-failed": "2"}
    assert score["mini_batches"] == 3  # (how many ran before the step gave up depends on timing)
    for step in ("train", "score", "evaluate"):  # the graph was drawn by plotly, in the browser
        assert step in rendered.svg_texts, rendered.svg_texts
    assert "model" in rendered.svg_texts  # the edge train -> evaluate carries the model output
    assert "cannot score bad3.txt" in dom.stdout  # errors grouped by message
    assert "tracked_pipe_train" not in rendered.steps  # steps by their names, not run names
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--screenshot={shot}", "--window-size=1280,1600",
                    "--virtual-time-budget=10000", page.as_uri()], capture_output=True, timeout=180)
    assert shot.is_file() and shot.stat().st_size > 20_000, "chromium took no screenshot of the report"
