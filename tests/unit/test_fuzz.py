"""Random YAML never ends in a traceback: every input becomes valid models or clean problems."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifests.loader import check_files
from reconciler.manifests.source import ManifestFile
from unit.builders import baseline, dump

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "reconciler/v1",
            "reconciler/v9",
            "Server",
            "Platform",
            "Site",
            "web1",
            "p1",
            "www.example.com",
            "$(id)",
            "~/x",
            "/var/aegir",
            "..",
            "",
            "1h",
        ]
    ),
)
_keys = st.one_of(
    st.sampled_from(
        [
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "name",
            "host",
            "services",
            "http",
            "db",
            "platform",
            "server",
            "source",
            "git",
            "url",
            "ref",
            "existing",
            "aliases",
            "paths",
            "port",
            "state",
            "cloneFrom",
            "labels",
            "backups",
        ]
    ),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
)
_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=5)
    ),
    max_leaves=25,
)


def _never_raises(text: bytes) -> None:
    result = check_files("r", [ManifestFile("fuzz.yaml", text)])
    assert result.valid or result.errors
    for problem in result.errors:
        assert problem.line >= 1 and problem.column >= 1
        assert problem.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_values, min_size=1, max_size=4))
def test_random_documents(docs: list[Any]) -> None:
    _never_raises(dump(docs))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_documents(data: st.DataObject) -> None:
    docs = baseline()
    doc = data.draw(st.sampled_from(docs))
    section = data.draw(st.sampled_from(["metadata", "spec"]))
    doc[section][data.draw(_keys)] = data.draw(_values)
    _never_raises(dump(docs))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes(text: bytes) -> None:
    _never_raises(text)


def test_alias_bombs_are_refused_cleanly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 8):
        bomb += (
            f"{chr(97 + level)}: &{chr(97 + level)} "
            + "["
            + ", ".join([f"*{chr(96 + level)}"] * 10)
            + "]\n"
        )
    result = check_files("r", [ManifestFile("bomb.yaml", bomb.encode())])
    assert not result.valid
    assert "too large" in result.errors[0].message
