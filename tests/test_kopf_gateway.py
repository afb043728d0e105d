"""kopf-private API in one gateway: hedgeops/operator/gateway.py is the only module that imports kopf's private
modules, and every private name it uses still exists in the installed kopf and accepts the arguments it is
called with. A kopf upgrade that moves one fails here, naming it, instead of in production at the first call."""

from __future__ import annotations

import ast
import contextvars
import importlib
import inspect
import typing
from pathlib import Path

import aiohttp
import pytest

PKG = Path(__file__).resolve().parent.parent / "hedgeops"
GATEWAY = PKG / "operator" / "gateway.py"


def moved(what: str, detail: str = "") -> str:
    return f"kopf moved {what}: update hedgeops/operator/gateway.py" + (f" ({detail})" if detail else "")


def is_private_kopf(module: str) -> bool:
    """kopf itself is public; any path segment below it starting with "_" is kopf's internals."""
    parts = module.split(".")
    return parts[0] == "kopf" and any(p.startswith("_") for p in parts[1:])


def private_kopf_uses(tree: ast.AST) -> list[str]:
    """Every way a module can reach kopf's internals: `import kopf._x`, `from kopf._x import y`,
    `from kopf import _x`, `kopf._x` as an attribute, and "kopf._x" handed to importlib."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if is_private_kopf(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [f"{node.module}.{a.name}" for a in node.names
                    if is_private_kopf(node.module) or (node.module == "kopf" and a.name.startswith("_"))]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "kopf" \
                and node.attr.startswith("_"):
            out.append(f"kopf.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and is_private_kopf(node.value) \
                and " " not in node.value:
            out.append(node.value)
    return out


def gateway_private_aliases() -> dict[str, str]:
    """gateway.py's `from kopf._x.y import z as alias` imports: alias -> the module it names."""
    tree = ast.parse(GATEWAY.read_text())
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and is_private_kopf(node.module):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def gateway_uses() -> dict[tuple[str, str], list[ast.Call | None]]:
    """(alias, attribute) -> the calls gateway.py makes to it (None for a use that is not a call)."""
    aliases = gateway_private_aliases()
    tree = ast.parse(GATEWAY.read_text())
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    uses: dict[tuple[str, str], list[ast.Call | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            uses.setdefault((node.value.id, node.attr), []).append(calls.get(id(node)))
    return uses


# ---- the installed kopf still has what gateway.py uses --------------------------------------------------------

def test_gateway_uses_the_private_names_this_test_knows() -> None:
    """The checks below cover exactly what gateway.py uses: a new private name must come with its check."""
    assert gateway_private_aliases() == {"kopf_api": "kopf._cogs.clients.api", "kopf_auth": "kopf._cogs.clients.auth",
                                         "kopf_errors": "kopf._cogs.clients.errors"}
    assert sorted(gateway_uses()) == [
        ("kopf_api", "get"), ("kopf_api", "patch"), ("kopf_api", "request"), ("kopf_auth", "vault_var"),
        ("kopf_errors", "APIConflictError"), ("kopf_errors", "APIError"), ("kopf_errors", "APIForbiddenError"),
        ("kopf_errors", "APINotFoundError"), ("kopf_errors", "APIUnprocessableEntityError")]


@pytest.mark.parametrize("alias", sorted(gateway_private_aliases()))
def test_every_private_module_imports(alias: str) -> None:
    dotted = gateway_private_aliases()[alias]
    module, _, name = dotted.rpartition(".")
    try:
        parent = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(moved(module, str(exc)))
    assert hasattr(parent, name) and inspect.ismodule(getattr(parent, name)), moved(dotted)


@pytest.mark.parametrize(("alias", "attr"), sorted(gateway_uses()))
def test_every_private_name_exists_and_takes_the_arguments_it_is_called_with(alias: str, attr: str) -> None:
    dotted = gateway_private_aliases()[alias]
    module = importlib.import_module(dotted)
    assert hasattr(module, attr), moved(f"{dotted}.{attr}", "no longer there")
    target = getattr(module, attr)
    for call in gateway_uses()[(alias, attr)]:
        if call is None:
            continue
        assert inspect.iscoroutinefunction(target), moved(f"{dotted}.{attr}", "it is awaited: no longer async")
        params = inspect.signature(target).parameters
        positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert len(call.args) <= len(positional), moved(f"{dotted}.{attr}", f"takes {len(positional)} positional "
                                                        f"arguments, gateway.py passes {len(call.args)}")
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for kw in call.keywords:
            assert kw.arg is not None and (accepts_any or kw.arg in params), \
                moved(f"{dotted}.{attr}", f"no keyword argument {kw.arg!r}")
        required = [n for n, p in params.items() if p.default is p.empty
                    and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        given = {n for n, _ in zip([p.name for p in positional], call.args, strict=False)} | \
            {kw.arg for kw in call.keywords}
        # `context` is injected by kopf's @authenticated decorator (from the vault), never passed by callers.
        missing = [n for n in required if n not in given and n != "context"]
        assert not missing, moved(f"{dotted}.{attr}", f"now requires {missing}")


def test_request_returns_a_response_gateway_can_read_as_json() -> None:
    from kopf._cogs.clients import api

    hints = typing.get_type_hints(api.request)
    assert hints.get("return") is aiohttp.ClientResponse, moved("kopf._cogs.clients.api.request",
                                                                f"returns {hints.get('return')}, not a ClientResponse")
    assert "backoffs" in inspect.signature(api.request).parameters, moved("request(backoffs=)")
    assert hints.get("timeout") == aiohttp.ClientTimeout | None, moved("request(timeout=)", str(hints.get("timeout")))


def test_the_vault_is_a_context_variable() -> None:
    from kopf._cogs.clients import auth

    assert isinstance(getattr(auth, "vault_var", None), contextvars.ContextVar), \
        moved("kopf._cogs.clients.auth.vault_var", "book_gateway carries kopf's credentials by it")


class FakeResponse:
    """Just what kopf's response check reads of an aiohttp response."""

    def __init__(self, status: int) -> None:
        self.status, self.headers = status, {"Content-Type": "application/json"}

    async def json(self) -> dict[str, object]:
        return {"kind": "Status", "code": self.status}

    def raise_for_status(self) -> None:
        raise aiohttp.ClientResponseError(None, (), status=self.status)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "status"), [("APINotFoundError", 404), ("APIForbiddenError", 403),
                                              ("APIConflictError", 409),
                                              ("APIUnprocessableEntityError", 422), ("APIServerError", 503)])
async def test_kopf_raises_the_errors_caught_for_their_http_status(name: str, status: int) -> None:
    """The readers' not-found (404) and ha.py's lease conflicts (409 on create, 422 on a failed test) rely on
    kopf raising these classes for these statuses; everything else is an APIError."""
    from kopf._cogs.clients import errors

    cls = getattr(errors, name, None)
    assert isinstance(cls, type) and issubclass(cls, errors.APIError), moved(f"kopf._cogs.clients.errors.{name}")
    check = getattr(errors, "check_response", None)
    assert check is not None, moved("kopf._cogs.clients.errors.check_response", "cannot check the status mapping")
    with pytest.raises(errors.APIError) as raised:
        await check(FakeResponse(status))
    assert type(raised.value) is cls, moved(f"kopf._cogs.clients.errors.{name}",
                                            f"HTTP {status} now raises {type(raised.value).__name__}")


def test_the_gateway_names_are_kopfs_own_classes() -> None:
    from kopf._cogs.clients import errors

    from hedgeops.operator import gateway

    assert (gateway.ApiError, gateway.ApiNotFound, gateway.ApiConflict, gateway.ApiUnprocessable) == (
        errors.APIError, errors.APINotFoundError, errors.APIConflictError, errors.APIUnprocessableEntityError)


# ---- nobody else imports kopf's internals ---------------------------------------------------------------------

def test_no_module_but_the_gateway_imports_kopf_private_modules() -> None:
    offenders = {}
    for path in sorted(PKG.rglob("*.py")):
        if path == GATEWAY:
            continue
        uses = private_kopf_uses(ast.parse(path.read_text(), filename=str(path)))
        if uses:
            offenders[str(path.relative_to(PKG.parent))] = uses
    assert not offenders, f"kopf-private API outside hedgeops/operator/gateway.py (route it through there): {offenders}"
    assert private_kopf_uses(ast.parse(GATEWAY.read_text())), "the scan no longer sees gateway.py's own imports"


@pytest.mark.parametrize("source", [
    "import kopf._cogs.clients.api\n",
    "from kopf._cogs.clients import errors as e\n",
    "from kopf import _cogs\n",
    "import kopf\nx = kopf._cogs\n",
    "import importlib\nimportlib.import_module('kopf._core.engines')\n",
])
def test_the_scan_sees_every_way_in(source: str) -> None:
    assert private_kopf_uses(ast.parse(source))


def test_the_scan_leaves_public_kopf_alone() -> None:
    assert not private_kopf_uses(ast.parse("import kopf\nfrom kopf import OperatorSettings\nkopf.on.create\n"))
