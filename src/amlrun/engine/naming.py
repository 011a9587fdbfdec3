"""Run names shaped like AzureML's (`adjective_noun_<10 random chars>`)."""

from __future__ import annotations

import re
import string
from random import SystemRandom

from amlrun.errors import UsageError

__all__ = ["check_run_name", "new_run_name"]

_ADJECTIVES = ["amiable", "brave", "calm", "clever", "dreamy", "eager", "frank", "gentle", "happy", "honest", "jolly", "keen", "lively", "lucid", "mellow", "nimble", "patient", "polite", "quiet", "quirky", "sincere", "sleepy", "sunny", "swift", "tender", "tidy", "upbeat", "vivid", "witty", "zealous", "bold", "cool", "loyal", "neat", "plucky", "serene"]
_NOUNS = ["ant", "apple", "bird", "boat", "brush", "cat", "cloud", "coat", "dog", "door", "eagle", "engine", "fig", "frog", "garden", "hat", "jelly", "kettle", "lamp", "leaf", "lemon", "lime", "map", "mango", "nest", "oyster", "pear", "pen", "plum", "pot", "rail", "river", "sail", "seed", "shelf", "snake", "spoon", "star", "tail", "tomato", "tree", "vase", "whale", "yam"]
_ALPHABET = string.ascii_lowercase + string.digits


_RANDOM = SystemRandom()  # what `secrets.choice` uses, without importing secrets (hmac, hashlib, base64)


def new_run_name() -> str:
    suffix = "".join(_RANDOM.choice(_ALPHABET) for _ in range(10))
    return f"{_RANDOM.choice(_ADJECTIVES)}_{_RANDOM.choice(_NOUNS)}_{suffix}"


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")


def check_run_name(name: str) -> str:
    """A `--name` as AzureML accepts it (it also names a folder, so no `/` or `..`)."""
    if not _NAME_RE.fullmatch(name):
        raise UsageError(f"--name {name!r} is not a valid run name",
                         hint="use letters, digits, '-' and '_', starting with a letter or digit (at most 255)")
    return name
