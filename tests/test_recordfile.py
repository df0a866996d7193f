"""Record serialization: the private C-encoder speed-up and its fallback to the public json API
must write the very same bytes, and a broken private API must not break the writer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pkgharvest.records import Record
from pkgharvest.store import recordfile
from pkgharvest.store.recordfile import (
    fast_value_encoder,
    public_value_encoder,
    record_text,
    serialize_record,
)
from tests.mirrorbuilder import seed_content, synthetic_package


def sample_records() -> list[Record]:
    content = seed_content()
    odd = synthetic_package(
        7,
        "odd",
        title='quotes " and \\ and\nnewlines, tabs\t, NUL \x00, emoji \U0001f600, \u2028',
        stars=-(2**70),
        description=None,
        repo_url="",
    )
    odd["nested"] = {"a": [1.5, -0.0, 1e300, {"b": [True, False, None]}], "é": {}}
    return [*content.packages, *content.grids, *content.categories, odd]


def test_the_fast_path_is_live_on_cpython() -> None:
    # The speed-up is the point of the private API: it must not be silently off here.
    assert fast_value_encoder() is not None


@pytest.mark.parametrize("record", sample_records(), ids=lambda r: str(r["id"]))
def test_fast_and_public_encoders_write_the_same_bytes(record: Record) -> None:
    fast = fast_value_encoder()
    assert fast is not None
    public = public_value_encoder()
    assert record_text(record, fast) == record_text(record, public)
    assert json.loads(serialize_record(record)) == record


def test_a_private_encoder_with_another_signature_falls_back() -> None:
    def changed_signature(*args: Any) -> Any:
        raise TypeError(f"c_make_encoder() takes 10 arguments ({len(args)} given)")

    assert fast_value_encoder(make_encoder=changed_signature) is None


def test_a_private_encoder_that_encodes_differently_falls_back() -> None:
    real = json.encoder.c_make_encoder  # type: ignore[attr-defined]

    def ascii_only(*args: Any) -> Any:
        # Same signature, other behaviour: escapes non-ASCII (as if an argument moved).
        args = list(args)
        args[2] = json.encoder.encode_basestring_ascii
        return real(*args)

    assert fast_value_encoder(make_encoder=ascii_only) is None
    assert fast_value_encoder(make_encoder=None) is None
    assert fast_value_encoder(encode_text=None) is None


def test_the_writer_uses_the_public_api_when_the_fast_path_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = sample_records()
    expected = [serialize_record(record) for record in records]
    monkeypatch.setattr(recordfile, "_encode_value", public_value_encoder())
    assert [serialize_record(record) for record in records] == expected


def test_a_lone_surrogate_is_escaped_not_an_error() -> None:
    record = synthetic_package(8, "surrogate", title="bad \ud800 text")
    data = serialize_record(record)
    assert b"\\ud800" in data
    assert json.loads(data)["title"] == "bad \ud800 text"
