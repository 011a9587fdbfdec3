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


def test_code_symlinks_inside_are_followed_as_azureml_uploads_them_and_others_are_refused_by_path(
        amlrun, write, tmp_path: Path) -> None:
    code = tmp_path / "src"
    write("src/inside.txt", "inside\n")
    write("src/lib/mod.txt", "module\n")
    (code / "alias.txt").symlink_to("inside.txt")
    (code / "lib_link").symlink_to("lib")
    job = write("job.yml", "type: command\ncode: ./src\ncommand: cat alias.txt lib_link/mod.txt\n")
    ran = amlrun("run", job, "--name", "links")
    assert ran.code == 0 and "inside\nmodule\n" in ran.out, ran.text
    snapshot = tmp_path / "store" / "runs" / "links" / "code"
    assert not (snapshot / "alias.txt").is_symlink() and (snapshot / "lib_link" / "mod.txt").read_text() == "module\n"

    (code / "secret").symlink_to("/etc/passwd")
    leaving = amlrun("run", job, "--name", "leaving")
    assert leaving.code == 1 and "secret in the code folder" in leaving.err and "outside the code folder" in leaving.err
    assert not (tmp_path / "store" / "runs" / "leaving" / "code" / "secret").exists()
    (code / "secret").unlink()

    (code / "gone.txt").symlink_to("missing.txt")
    dangling = amlrun("run", job)
    assert dangling.code == 1 and "gone.txt in the code folder" in dangling.err and "does not exist" in dangling.err
    assert "datastore" not in dangling.err
    (code / "gone.txt").unlink()

    (code / "lib" / "loop").symlink_to("..")
    looping = amlrun("run", job)
    assert looping.code == 1 and "lib/loop in the code folder" in looping.err and "contains the link" in looping.err
    (code / "lib" / "loop").unlink()

    write("etc.yml", "type: command\ncode: /etc\ncommand: ls\n")
    system = amlrun("check", "--no-sdk", "etc.yml")
    assert system.code == 2 and "system folder" in system.out, system.text


def test_large_unchanged_code_files_are_linked_from_the_previous_snapshot_and_edits_still_show(
        amlrun, write, tmp_path: Path) -> None:
    write("src/run.py", "print('ok')\n")
    big = tmp_path / "src" / "model.bin"
    big.write_bytes(b"a" * (2 * 1024 * 1024))
    job = write("job.yml", "type: command\ncode: ./src\ncommand: python run.py\n")
    runs = tmp_path / "store" / "runs"
    for name in ("one", "two"):
        assert amlrun("run", job, "--name", name).code == 0
    first, second = (runs / "one" / "code" / "model.bin").stat(), (runs / "two" / "code" / "model.bin").stat()
    assert first.st_ino == second.st_ino, "an unchanged 2 MB file was copied again"
    assert (runs / "one" / "code" / "run.py").stat().st_ino != (runs / "two" / "code" / "run.py").stat().st_ino
    big.write_bytes(b"b" * (2 * 1024 * 1024))  # same size: only the content and mtime say it changed
    assert amlrun("run", job, "--name", "three").code == 0
    assert (runs / "three" / "code" / "model.bin").read_bytes()[:1] == b"b"
    assert (runs / "one" / "code" / "model.bin").read_bytes()[:1] == b"a", "an earlier snapshot changed"
