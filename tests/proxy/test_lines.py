"""Routing keys for every StatsD dialect the proxy accepts."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from statsd_proxy.lines import (
    cache_key,
    is_special,
    key_function,
    name_key,
    series_key,
    split_lines,
)

SERIES_KEYS = [
    (b"users.logins:1|c", b"users.logins"),
    (b"db.query:12.5|ms|@0.25", b"db.query"),
    (b"load:+3|g", b"load"),
    (b"uniq:abc|s", b"uniq"),
    (b"users.logins,country=US,host=web-a:1|c", b"users.logins\x1fcountry=US,host=web-a"),
    (b"users.logins;country=US;host=web-a:1|c", b"users.logins\x1fcountry=US,host=web-a"),
    (b"api.latency:12|h|@0.5|#env:prod,region:eu", b"api.latency\x1fenv:prod,region:eu"),
    (b"api.latency:12:15:9|d|#env:prod", b"api.latency\x1fenv:prod"),
    (
        b"api.latency:12|d|#region:eu,env:prod|c:abc123|T1656581400",
        b"api.latency\x1fenv:prod,region:eu",
    ),
    (b"m:1|c|T1656581400|#b:2,a:1", b"m\x1fa:1,b:2"),
    (b"m,host=a:1|c|#env:prod", b"m\x1fenv:prod,host=a"),
    (b"_e{5,4}:title|text|#t:v", b"_e|title"),
    (b"_e{7,4}:a:b|c d|text", b"_e|a:b|c d"),
    (b"_sc|name|0|#t:v", b"_sc|name"),
    (b"_sc|db.up|1", b"_sc|db.up"),
    (b"_private.metric:1|c", b"_private.metric"),
]

INVALID = [
    b"no-colon-or-pipe",
    b"name-only:",
    b"no.pipe:1",
    b":1|c",
    b",a=1:1|c",
    b";a=1:1|c",
    b"_e{5,4}:tit",
    b"_e{x,4}:title|text",
    b"_e{0,4}:|text",
    b"_sc||0",
    b"_sc|",
]


@pytest.mark.parametrize(("line", "expected"), SERIES_KEYS)
def test_series_key_dialects(line: bytes, expected: bytes) -> None:
    assert series_key(line) == expected


@pytest.mark.parametrize("line", INVALID)
def test_series_key_invalid(line: bytes) -> None:
    assert series_key(line) is None


@pytest.mark.parametrize("line", INVALID)
def test_name_key_invalid(line: bytes) -> None:
    assert name_key(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"users.logins,country=US,host=web-a:1|c", b"users.logins"),
        (b"users.logins;country=US:1|c", b"users.logins"),
        (b"api.latency:12|h|#env:prod", b"api.latency"),
        (b"_sc|name|0|#t:v", b"_sc|name"),
    ],
)
def test_name_key_ignores_tags(line: bytes, expected: bytes) -> None:
    assert name_key(line) == expected


def test_series_key_tag_order() -> None:
    first = series_key(b"m,a=1,b=2:1|c")

    second = series_key(b"m,b=2,a=1:1|c")

    assert first == second


def test_series_key_values_ignored() -> None:
    assert series_key(b"m,a=1:1|c|@0.5") == series_key(b"m,a=1:250|c")


def test_key_function_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown hash key mode 'shard'"):
        key_function("shard")


@pytest.mark.parametrize(
    ("datagram", "expected"),
    [
        (b"a:1|c", [b"a:1|c"]),
        (b"a:1|c\n", [b"a:1|c"]),
        (b"a:1|c\r\nb:2|c\r\n", [b"a:1|c", b"b:2|c"]),
        (b"a:1|c\n\nb:2|c", [b"a:1|c", b"", b"b:2|c"]),
        (b"\n", [b""]),
        (b"", []),
    ],
)
def test_split_lines_cases(datagram: bytes, expected: list[bytes]) -> None:
    assert split_lines(datagram) == expected


name_text = st.text(st.characters(codec="ascii", exclude_characters=":,;|#\n\r"), min_size=1)
tag_text = st.text(st.characters(codec="ascii", exclude_characters=":,;|#=\n\r"), min_size=1)


@st.composite
def tagged_lines(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Draw one Influx-tagged and DogStatsD-tagged line, and the same with tags shuffled."""
    name = draw(name_text).encode()
    inline = draw(st.lists(st.tuples(tag_text, tag_text), max_size=4, unique_by=lambda t: t[0]))
    dog = draw(st.lists(st.tuples(tag_text, tag_text), max_size=4, unique_by=lambda t: t[0]))
    inline_tags = [f"{key}={value}".encode() for key, value in inline]
    dog_tags = [f"{key}:{value}".encode() for key, value in dog]
    shuffled_inline = draw(st.permutations(inline_tags))
    shuffled_dog = draw(st.permutations(dog_tags))

    def build(inline_part: list[bytes], dog_part: list[bytes]) -> bytes:
        head = b",".join([name, *inline_part])
        tail = b"|#" + b",".join(dog_part) if dog_part else b""
        return head + b":1|c" + tail

    return build(inline_tags, dog_tags), build(list(shuffled_inline), list(shuffled_dog))


@given(st.binary(max_size=300))
def test_keys_never_raise(data: bytes) -> None:
    for line in split_lines(data):
        series_key(line)
        name_key(line)
        cache_key(line, True)
        cache_key(line, False)


@given(tagged_lines())
def test_tag_order_same_series(pair: tuple[bytes, bytes]) -> None:
    original, shuffled = pair

    assert series_key(original) == series_key(shuffled)


no_colon = st.binary(max_size=30).map(lambda b: b.replace(b":", b"").replace(b"\n", b""))
no_pipe = st.binary(max_size=30).map(lambda b: b.replace(b"|", b"").replace(b"\n", b""))


@given(no_colon, st.none() | no_pipe, no_pipe, no_pipe, st.booleans())
def test_cache_key_implies_route(
    head: bytes, tags: bytes | None, first_value: bytes, second_value: bytes, with_tags: bool
) -> None:
    suffix = b"|#" + tags if tags is not None else b""
    first = head + b":" + first_value + b"|c" + suffix
    second = head + b":" + second_value + b"|ms|@0.1" + suffix
    route = series_key if with_tags else name_key
    # Events and service checks bypass the route cache.
    assume(not is_special(first))

    assert cache_key(first, with_tags) == cache_key(second, with_tags)
    assert route(first) == route(second)


def test_cache_key_tags_in_head() -> None:
    in_head = b"a|#x:1|c"
    in_section = b"a:1|c|#x"

    assert cache_key(in_head, True) != cache_key(in_section, True)


@given(name_text, st.lists(tag_text, max_size=3), st.text(max_size=10), st.text(max_size=10))
def test_same_head_same_cache_key(name: str, tags: list[str], value: str, rate: str) -> None:
    head = ",".join([name, *tags])
    first = f"{head}:{value}|c|@{rate}".encode()
    second = f"{head}:1|ms".encode()

    assert cache_key(first, False) == cache_key(second, False)
