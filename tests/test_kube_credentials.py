"""The CLI's kubeconfig credentials (client key, certificate, CA) never outlive the command: written only while
the TLS context loads them, 0600 in a private 0700 folder, removed even when the command fails."""

from __future__ import annotations

import base64
import os
import ssl
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hedgeops import kube

from .conftest import ROOT, free_port


def _pem_pair() -> tuple[bytes, bytes]:
    """A self-signed certificate and its private key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hedgeops-test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _kubeconfig(path: Path, cert: bytes, key: bytes, ca: bytes, port: int) -> Path:
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{port}",
                                               "certificate-authority-data": b64(ca)}}],
        "users": [{"name": "u", "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    return path


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run([sys.executable, "-m", "hedgeops.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.parametrize("command", [["approve", "hedgebook/jlp", "3f2a9c1e"], ["close-all", "hedgebook/jlp", "--yes"]])
def test_no_credential_is_left_in_the_temp_folder(tmp_path: Path, command: list[str]) -> None:
    cert, key = _pem_pair()
    cfg = _kubeconfig(tmp_path / "config", cert, key, cert, free_port())  # nothing listens: the command fails
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = _cli(tmp, *command, "--kubeconfig", str(cfg))
    assert run.returncode == 2 and "cannot reach the Kubernetes API" in run.stderr, run.stderr
    assert list(tmp.rglob("*")) == []
    assert b"PRIVATE KEY" not in run.stderr.encode()


@pytest.mark.parametrize(("field", "data", "says"), [
    ("client-key-data", b"not a key", "client key or certificate"),
    ("certificate-authority-data", b"not a CA", "certificate-authority"),
    ("client-key-data", None, "not base64"),
])
def test_bad_kubeconfig_credentials_are_a_message_and_leave_nothing(tmp_path: Path, field: str, data: bytes | None,
                                                                    says: str) -> None:
    cert, key = _pem_pair()
    cfg = _kubeconfig(tmp_path / "config", cert, key, cert, free_port())
    doc: dict[str, Any] = yaml.safe_load(cfg.read_text())
    where = doc["users"][0]["user"] if field.startswith("client") else doc["clusters"][0]["cluster"]
    where[field] = base64.b64encode(data).decode() if data is not None else "%%% not base64 %%%"
    cfg.write_text(yaml.safe_dump(doc))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = _cli(tmp, "approve", "hedgebook/jlp", "3f2a9c1e", "--kubeconfig", str(cfg))
    assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert list(tmp.rglob("*")) == []


def test_credentials_are_private_while_they_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While ssl reads them the files are 0600 in a 0700 folder of their own; after the connection's block they
    are gone (the kubernetes client writes them wherever it is told: here, a private folder)."""
    cert, key = _pem_pair()
    cfg = _kubeconfig(tmp_path / "config", cert, key, cert, free_port())
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # tempfile caches the folder it chose first
    seen: list[tuple[int, int, Path]] = []
    real = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, keyfile: str | None = None, password: Any = None) -> None:
        for f in (certfile, keyfile):
            assert f is not None
            p = Path(f)
            seen.append((stat.S_IMODE(p.stat().st_mode), stat.S_IMODE(p.parent.stat().st_mode), p.parent))
        real(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    with kube.connect(str(cfg)) as cluster:
        assert cluster.host.startswith("https://") and len(seen) == 2
        assert {f.name for f in tmp.rglob("*") if f.is_file()} and all(  # they exist only inside the block
            stat.S_IMODE(f.stat().st_mode) == 0o600 for f in tmp.rglob("*") if f.is_file())
    for file_mode, dir_mode, folder in seen:
        assert file_mode == 0o600 and dir_mode == 0o700 and folder.parent == tmp
    assert list(tmp.rglob("*")) == []


def test_in_a_pod_the_service_account_and_its_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig, in a pod: the service account's token and CA, and the pod's namespace (kubectl's rule)."""
    from kubernetes.config import incluster_config

    cert, _key = _pem_pair()
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("sa-token")  # as the kubelet writes it: no newline
    (account / "ca.crt").write_bytes(cert)
    (account / "namespace").write_text("tenant-x\n")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(free_port()))
    monkeypatch.setattr(kube, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(kube, "SERVICE_ACCOUNT_NAMESPACE", account / "namespace")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    with kube.connect() as cluster:
        assert cluster.namespace == "tenant-x" and cluster.where == "the pod's service account"
        assert cluster.host.startswith("https://127.0.0.1:")
        assert cluster.api.api_client.configuration.api_key["BearerToken"] == "bearer sa-token"
    missing = str(tmp_path / "nothing")  # named explicitly: an error, never the service account instead
    with pytest.raises(kube.KubeError, match=r"^no kubeconfig at .*nothing$"), kube.connect(missing):
        pass
