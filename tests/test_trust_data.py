"""Read-only inputs stay read-only for everyone; code snapshots hold only what the code folder holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

POISON = ("python3 -c \"import os, sys; p = sys.argv[1] + '/f.txt'; st = os.stat(p); os.chmod(p, 0o644); "
          "open(p, 'r+').write('POISONED'); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns)); os.chmod(p, 0o444)\" "
          "${{inputs.d}}")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root writes through a read-only view")
def test_a_root_step_that_rewrites_a_read_only_input_in_place_fails_and_later_runs_read_the_original(
        amlrun, write, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f.txt").write_text("original\n")
    inputs = "inputs:\n  d: {type: uri_folder, path: ./data}\n"
    poison = write("poison.yml", f"type: command\ncommand: {POISON}\n{inputs}")
    read = write("read.yml", f"type: command\ncommand: cat ${{{{inputs.d}}}}/f.txt\n{inputs}")
    assert amlrun("run", read).code == 0  # the input is in the shared cache before the attack
    attacked = amlrun("run", poison, "--name", "attack")
    assert attacked.code == 1 and "modified read-only input files: d/f.txt" in attacked.err, attacked.text
    for _ in range(2):
        later = amlrun("run", read)
        assert later.code == 0 and "original" in later.out and "POISONED" not in later.out, later.text
    assert (tmp_path / "data" / "f.txt").read_text() == "original\n"
