"""Sealing provider secrets (bifrost_py/secrets.py, providerstore.py): every value round-trips,
and nothing opens under another key, at another provider, or after a change of one byte."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.providerstore import opened, sealed
from bifrost_py.secrets import (
    SecretBox,
    SecretError,
    is_sealed,
    key_from_text,
    master_box,
    read_or_create_key_file,
)

BOX = SecretBox(bytes(range(32)))
OTHER = SecretBox(bytes(range(1, 33)))
secret_text = st.text(min_size=1, max_size=300)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(secret_text, names)
def test_a_sealed_value_opens_to_itself_and_never_shows_it(value: str, name: str) -> None:
    where = f"provider:{name}"
    box = BOX.seal(value, where)
    assert is_sealed(box) and BOX.open(box, where) == value
    if len(value) >= 4:
        assert value not in box


@given(secret_text, names, names)
def test_a_sealed_value_opens_nowhere_else(value: str, name: str, other: str) -> None:
    box = BOX.seal(value, f"provider:{name}")
    with pytest.raises(SecretError, match="another master key"):
        OTHER.open(box, f"provider:{name}")
    if other != name:
        with pytest.raises(SecretError, match="damaged or was moved"):
            BOX.open(box, f"provider:{other}")


@given(secret_text, st.data())
def test_one_changed_byte_is_refused(value: str, data: st.DataObject) -> None:
    box = BOX.seal(value, "provider:a")
    prefix, key_id, body = box.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SecretError):
        BOX.open(f"{prefix}:{key_id}:{base64.urlsafe_b64encode(bytes(raw)).decode()}", "provider:a")


@given(st.lists(st.fixed_dictionaries({"name": names, "value": secret_text, "weight": st.floats(0, 10)}), max_size=4),
       st.none() | secret_text, st.dictionaries(names, secret_text, max_size=3))
def test_stored_settings_seal_every_secret_and_open_to_the_same(keys: list[dict[str, object]], aws: str | None,
                                                                 headers: dict[str, str]) -> None:
    data: dict[str, object] = {"type": "bedrock", "region": "us-east-1", "keys": keys, "headers": headers}
    if aws:
        data["secret_access_key"] = aws
    stored = sealed(data, lambda: BOX, "p")
    assert all(is_sealed(k["value"]) for k in stored["keys"])  # type: ignore[index, union-attr]
    assert all(is_sealed(v) for v in stored["headers"].values())  # type: ignore[union-attr]
    assert not aws or is_sealed(stored["secret_access_key"])
    assert stored["region"] == "us-east-1"
    assert opened(stored, lambda: BOX, "p") == data
    assert sealed(stored, lambda: OTHER, "p") == stored  # already sealed values are left as they are


def test_the_key_file_is_made_once_private_and_the_environment_wins(tmp_path: Path) -> None:
    text = read_or_create_key_file(tmp_path / "data" / "secret.key")
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert read_or_create_key_file(tmp_path / "data" / "secret.key") == text
    assert len(key_from_text(text)) == 32 and key_from_text(text) == base64.b64decode(text.strip())
    assert master_box(tmp_path / "data", {}).key == key_from_text(text)
    assert master_box(tmp_path / "elsewhere", {"BIFROST_SECRET_KEY": "a passphrase"}).key == key_from_text("a passphrase")
    assert not (tmp_path / "elsewhere").exists()
    assert os.listdir(tmp_path / "data") == ["secret.key"]  # no temporary file left behind
