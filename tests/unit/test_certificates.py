"""The TLS certificate reloader: what a server context serves after each kind of change
(seen through an in-memory handshake), and the refusals that keep the current certificate."""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from outrigger.gateway.certificates import CertificateReloader, key_kind
from tests.helpers import der, install_pair, self_signed


def served(context: ssl.SSLContext) -> bytes:
    """The DER certificate a new client is given by ``context`` (handshake in memory)."""
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    tls_client = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    tls_server = context.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):  # a TLS 1.3 handshake needs two round trips
        for end in (tls_client, tls_server):
            with contextlib.suppress(ssl.SSLWantReadError):
                end.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    der = tls_client.getpeercert(binary_form=True)
    assert der is not None
    return der


def server_context(live: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*live)
    return context


@pytest.fixture
def live(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path / "live", name="first")


@pytest.fixture
def attached(live: tuple[Path, Path]) -> tuple[CertificateReloader, ssl.SSLContext]:
    """A reloader of ``live`` attached to a server context that loaded ``live``."""
    reloader = CertificateReloader(*live)
    context = server_context(live)
    reloader.attach(context)
    return reloader, context


def test_a_changed_pair_is_served_and_an_unchanged_one_is_not_reloaded(
    live: tuple[Path, Path], attached: tuple[CertificateReloader, ssl.SSLContext], tmp_path: Path
) -> None:
    reloader, context = attached
    assert not reloader.check() and served(context) == der(live[0])
    install_pair(live, self_signed(tmp_path / "next", name="second"))
    assert reloader.check() and served(context) == der(live[0])
    assert not reloader.check() and reloader.reloads == 1


def half_written(live: tuple[Path, Path], tmp_path: Path) -> None:
    os.replace(self_signed(tmp_path / "half", name="half")[0], live[0])  # the key comes later


def another_key_type(live: tuple[Path, Path], tmp_path: Path) -> None:
    install_pair(live, self_signed(tmp_path / "rsa", rsa=True, name="rsa"))


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        (half_written, "still serving the previous one"),
        (another_key_type, "its key is rsa, the served one ec: a TLS context cannot drop"),
    ],
)
def test_a_pair_that_cannot_be_served_is_refused_and_the_context_left_whole(
    live: tuple[Path, Path],
    attached: tuple[CertificateReloader, ssl.SSLContext],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[tuple[Path, Path], Path], None],
    logged: str,
) -> None:
    first = der(live[0])
    reloader, context = attached
    change(live, tmp_path)
    assert not reloader.check()
    assert logged in caplog.text
    assert served(context) == first  # not a new certificate beside the old key
    assert not reloader.check()  # the same files are not tried again
    install_pair(live, self_signed(tmp_path / "whole", name="whole"))  # a whole EC pair
    assert reloader.check() and served(context) == der(live[0])


def test_a_rotation_between_start_up_and_the_first_check_is_loaded(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    reloader = CertificateReloader(*live)  # before the server reads the files
    install_pair(live, self_signed(tmp_path / "during", name="during"))
    stale = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    stale.load_cert_chain(*self_signed(tmp_path / "old", name="old"))  # what it had loaded
    reloader.attach(stale)
    assert reloader.check() and served(stale) == der(live[0])


def test_missing_files_are_waited_for(live: tuple[Path, Path]) -> None:
    reloader = CertificateReloader(*live)
    reloader.attach(server_context(live))
    live[1].unlink()
    assert not reloader.check()


def test_key_kinds_in_every_pem_form(tmp_path: Path) -> None:
    ec_key = self_signed(tmp_path / "ec")[1].read_bytes()
    rsa_key = self_signed(tmp_path / "rsa", rsa=True)[1].read_bytes()
    assert (key_kind(ec_key), key_kind(rsa_key)) == ("ec", "rsa")  # PKCS#8
    assert key_kind(b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----") == "ec"
    assert key_kind(b"-----BEGIN RSA PRIVATE KEY-----\nAA\n-----END RSA PRIVATE KEY-----") == "rsa"
    assert key_kind(b"not a key") is None


def test_the_key_is_found_among_other_pem_blocks(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "ec")
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    assert key_kind(params + key.read_bytes()) == "ec"  # openssl ecparam -genkey
    rsa_cert, rsa_key = self_signed(tmp_path / "rsa", rsa=True)
    assert key_kind(rsa_cert.read_bytes() + rsa_key.read_bytes()) == "rsa"  # one combined file
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
    assert key_kind(encrypted) is None and key_kind(cert.read_bytes()) is None


async def test_a_failing_check_never_ends_the_server(
    live: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn's main loop ends on an exception from ``on_tick``: the check's is logged."""
    import uvicorn

    from outrigger.config.llm import GatewaySettings
    from outrigger.gateway.server import HttpServer

    gateway = GatewaySettings(tls_cert_file=live[0], tls_key_file=live[1], tls_reload_s=0.1)
    server = HttpServer(uvicorn.Config(app=None), gateway)  # type: ignore[arg-type]
    assert server.certificates is not None

    def broken() -> bool:
        raise OSError(24, "Too many open files")

    server.certificates.check = broken  # type: ignore[method-assign]
    assert await server.on_tick(0) is False
    assert "TLS certificate check failed" in caplog.text


def test_an_encrypted_key_is_opened_with_the_passphrase_read_at_each_change(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("first-secret\n")
    live = self_signed(tmp_path / "live", name="first", password="first-secret")
    reloader = CertificateReloader(
        *live, password=lambda: secret.read_text().strip(), opened_with="first-secret"
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*live, password="first-secret")
    reloader.attach(context)
    # The Secret rotates key and passphrase together.
    secret.write_text("second-secret\n")
    install_pair(live, self_signed(tmp_path / "next", name="second", password="second-secret"))
    assert reloader.check() and served(context) == der(live[0])


def test_an_encrypted_key_without_its_passphrase_is_refused_not_prompted_for(
    live: tuple[Path, Path],
    attached: tuple[CertificateReloader, ssl.SSLContext],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reloader, context = attached
    first = der(live[0])
    install_pair(live, self_signed(tmp_path / "locked", name="locked", password="unknown"))
    assert not reloader.check()
    assert "still serving the previous one" in caplog.text
    assert served(context) == first


def test_an_encrypted_key_without_a_passphrase_stops_the_start(tmp_path: Path) -> None:
    from outrigger.config.llm import GatewaySettings
    from outrigger.errors import ConfigError
    from outrigger.gateway.server import server_config

    cert, key = self_signed(tmp_path, password="s3cret")
    with pytest.raises(ConfigError, match="tls_key_file is encrypted"):
        server_config(lambda *_: None, GatewaySettings(tls_cert_file=cert, tls_key_file=key))  # type: ignore[arg-type]
    missing = GatewaySettings(
        tls_cert_file=cert, tls_key_file=key, tls_key_password_file=tmp_path / "absent"
    )
    with pytest.raises(ConfigError, match="tls_key_password_file: cannot read"):
        server_config(lambda *_: None, missing)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tls_key_password needs tls_key_file"):
        GatewaySettings(tls_key_password="x")
