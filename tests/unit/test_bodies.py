import json

import pytest

from irflow.bodies import MAX_DEPTH, BodyError, split


def test_single_object_array_and_ndjson() -> None:
    assert [i.value for i in split(b'{"a": 1}', max_bytes=100)] == [{"a": 1}]
    assert [i.value for i in split(b'[{"a": 1}, {"b": 2}]', max_bytes=100)] == [{"a": 1}, {"b": 2}]
    items = split(b'{"a": 1}\n{"b": 2}\n', max_bytes=100)
    assert [i.value for i in items] == [{"a": 1}, {"b": 2}]


def test_pretty_printed_object_is_not_ndjson() -> None:
    body = json.dumps({"a": {"b": 1}}, indent=2).encode()
    assert [i.value for i in split(body, max_bytes=1000)] == [{"a": {"b": 1}}]


def test_bad_ndjson_line_is_one_bad_item_not_a_bad_batch() -> None:
    items = split(b'{"a": 1}\n{"b": \n{"c": 3}', max_bytes=100)
    assert items[0].value == {"a": 1} and items[2].value == {"c": 3}
    assert items[1].error is not None and items[1].error.startswith("line 2: malformed JSON")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "empty"),
        (b"{nope", 400, "malformed JSON at line 1"),
        (b"\xff\xfe{}", 415, "not UTF-8"),
        (b"x" * 101, 413, "over the limit of 100"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 400, "nesting deeper than 64"),
    ],
)
def test_whole_body_errors_say_what_is_wrong(body: bytes, status: int, message: str) -> None:
    with pytest.raises(BodyError, match=message) as info:
        split(body, max_bytes=100 if status == 413 else 10_000)
    assert info.value.status == status


def test_very_deep_nesting_does_not_crash() -> None:
    with pytest.raises(BodyError, match="nesting deeper"):
        split(b"[" * 100_000 + b"]" * 100_000, max_bytes=1 << 20)
