"""The local embedder: near-duplicates score at or above the default threshold, different
questions below it; vectors are unit length and the same in every process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bifrost_cache.embed_local import LocalEmbedder, words
from bifrost_cache.settings import DEFAULT_THRESHOLDS
from hypothesis import given, settings
from hypothesis import strategies as st

THRESHOLD = DEFAULT_THRESHOLDS["local"]
EMBEDDER = LocalEmbedder()
REPLAY = json.loads((Path(__file__).parents[1] / "data" / "cache_replay.json").read_text())


def similarity(a: str, b: str) -> float:
    return float(EMBEDDER.vector(a) @ EMBEDDER.vector(b))


def _pairs(label: str) -> list[tuple[str, str]]:
    return [(r["same_as"], r["prompt"]) for r in REPLAY["requests"] if r["expect"] == label]


@pytest.mark.parametrize(("original", "rewording"), _pairs("semantic"))
def test_rewordings_of_the_replay_set_match(original: str, rewording: str) -> None:
    assert similarity(original, rewording) >= THRESHOLD


DIFFERENT = [
    ("What is the capital of France?", "What is the capital of Germany?"),
    ("Is Python faster than Go?", "Is Go faster than Python?"),
    ("Convert 10 miles to km", "Convert 10 km to miles"),
    ("When did World War 2 end?", "Why did World War 2 end?"),
    ("What is your name?", "What is my name?"),
    ("Should I use tabs or spaces?", "Should I not use tabs or spaces?"),
    ("How do I undo the last git commit?", "How do I undo the last git push?"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_questions_stay_below_the_threshold(a: str, b: str) -> None:
    assert similarity(a, b) < THRESHOLD


def test_normalisation_keeps_negations_and_question_words() -> None:
    assert words("Can you tell me why it isn't working?") == ["why", "it", "not", "working"]
    assert words("How to exit vim") == words("How do I exit vim?") == ["how", "exit", "vim"]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_vectors_are_unit_length_or_zero(text: str) -> None:
    vector = EMBEDDER.vector(text)
    assert vector.shape == (256,) and vector.dtype == np.float32
    norm = float(np.linalg.norm(vector))
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0


def test_vectors_are_identical_in_another_process() -> None:
    """crc32, not Python's salted hash(): stored vectors stay comparable after a restart."""
    text = "How do I reverse a list in Python?"
    plugins = str(Path(__file__).parents[2] / "plugins")
    script = (
        f"import sys, json; sys.path.insert(0, {plugins!r})\n"
        "from bifrost_cache.embed_local import LocalEmbedder\n"
        f"print(json.dumps(LocalEmbedder().vector({text!r}).tolist()))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"}).stdout
    assert np.allclose(np.array(json.loads(out), np.float32), EMBEDDER.vector(text))
