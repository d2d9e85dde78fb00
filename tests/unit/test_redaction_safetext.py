"""irflow.redaction: SafeText comes only from the redactor, trusted() and compose(), and mixing loses the type."""

from __future__ import annotations

import copy
import pickle

import pydantic
import pytest

from irflow.redaction import SafeText, compose, redact, trusted


# --- SafeText, trusted, compose ----------------------------------------------------------------


def test_safetext_cannot_be_constructed_or_subclassed() -> None:
    with pytest.raises(TypeError):
        SafeText("<!channel>")
    with pytest.raises(TypeError):
        SafeText()
    with pytest.raises(TypeError):
        type("Evil", (SafeText,), {})


def test_mixing_loses_the_type() -> None:
    safe = redact("hello")
    assert type(safe) is SafeText
    for derived in (safe + "x", "x" + safe, safe.upper(), safe[:2], f"{safe}", "{}".format(safe),
                    safe * 2, safe.strip(), "%s" % safe, str(safe)):
        assert type(derived) is str


def test_safetext_survives_pickle_and_copy() -> None:
    safe = redact("x <!here>")
    for clone in (pickle.loads(pickle.dumps(safe)), copy.copy(safe), copy.deepcopy(safe)):
        assert type(clone) is SafeText and clone == safe


def test_pydantic_fields_accept_only_safetext() -> None:
    class Msg(pydantic.BaseModel):
        text: SafeText

    assert Msg(text=redact("<!here>")).model_dump_json() == '{"text":"‹ǃhere›"}'
    with pytest.raises(pydantic.ValidationError):
        Msg(text="<!here>")  # type: ignore[arg-type]


def test_trusted_wraps_literals_as_is() -> None:
    assert trusted("<!here> irflow") == "<!here> irflow"
    assert type(trusted("x")) is SafeText
    with pytest.raises(TypeError):
        trusted(b"x")  # type: ignore[arg-type]


def test_compose_accepts_only_safe_parts() -> None:
    out = compose("*{title}* score {score:.1f} n={n}", title=redact("<!channel>"), score=0.75, n=3)
    assert out == "*‹ǃchannel›* score 0.8 n=3" and type(out) is SafeText
    with pytest.raises(TypeError):
        compose("{a}", a="<!channel>")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compose("{a}", a=b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("template", ["{}", "{0}", "{a.upper}", "{a[0]}", "{a!r}", "{a}{b}", "{a:{b}}"])
def test_compose_rejects_computing_or_adjacent_fields(template: str) -> None:
    with pytest.raises((ValueError, KeyError, IndexError)):
        compose(template, a=redact("@"), b=redact("channel"))
