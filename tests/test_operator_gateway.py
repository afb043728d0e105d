"""The gateway builds API paths only from valid Kubernetes names, quoted: a name from a URL cannot walk the
path into another namespace or resource (`..%2F` decoded by aiohttp to `../`)."""

from __future__ import annotations

import pytest

from hedgeops.operator.gateway import book_path, secret_path
from hedgeops.runtime.names import is_namespace, is_object_name


def test_paths_of_valid_names() -> None:
    assert book_path("tenant-a", "jlp.v2") == "/apis/hedgeops.io/v1alpha1/namespaces/tenant-a/hedgebooks/jlp.v2"
    assert book_path("a", "b", "status").endswith("/namespaces/a/hedgebooks/b/status")
    assert secret_path("tenant-a", "tv") == "/api/v1/namespaces/tenant-a/secrets/tv"


@pytest.mark.parametrize(("namespace", "name"), [
    ("attacker", "../../victim/hedgebooks/vbook"),
    ("attacker", ".."),
    ("attacker", "a/b"),
    ("attacker", "a%2Fb"),
    ("..", "book"),
    ("attacker/../victim", "book"),
    ("Default", "book"),  # upper case: another spelling of no object at all
    ("default", "Book"),
    ("default", "book?x=1"),
    ("default", ""),
    ("", "book"),
    ("a" * 64, "book"),  # a namespace is a label: 63 at most
    ("default", "b" * 254),
    ("default", "-book"),
    ("default", "book."),
    ("default", "bo\u00f6k"),
])
def test_a_bad_name_never_becomes_a_path(namespace: str, name: str) -> None:
    assert not (is_namespace(namespace) and is_object_name(name))
    with pytest.raises(ValueError):
        book_path(namespace, name)
    with pytest.raises(ValueError):
        secret_path(namespace, name)


def test_the_longest_valid_names() -> None:
    assert is_namespace("a" * 63) and is_object_name("b" * 253) and is_object_name("a.b-c.d")
    assert not is_namespace("a.b")  # namespaces have no dots
