"""The gateway's TLS certificate, re-read when its files change (a rotated Kubernetes TLS
Secret, cert-manager's renewal) without a restart.

The server's ``SSLContext`` is updated in place: connections already open keep the
certificate they were handshaken with, new ones get the new pair. Both files are read once
per change; that one copy is checked in a scratch context and, if it loads, loaded into the
live one (from memory, never from the files again: a file written between the two loads
cannot leave the live context with a certificate and a key that do not match). A pair that
does not load (a certificate whose key is not the one beside it, a half-written update) is
logged and the current certificate kept; it is tried again once the files change again.

An OpenSSL context holds one certificate per key type, so a rotation from an EC key to an
RSA one (or back) would add a certificate beside the old one, which clients could still be
given: such a change is refused with an error that says it needs a restart.

An encrypted key is opened with the passphrase ``password()`` gives when a change is seen
(read again each time, so a Secret can rotate key and passphrase together); without one it
fails at once, never prompting on the server's terminal.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)
Stamp = tuple[int, ...]
Pair = tuple[bytes, bytes]  # certificate chain, key (PEM)

#: The algorithm identifiers (DER-encoded OIDs) of the key types OpenSSL keeps apart.
_KEY_KINDS = (
    ("rsa", bytes.fromhex("2a864886f70d010101")),  # rsaEncryption
    ("rsa-pss", bytes.fromhex("2a864886f70d01010a")),  # RSASSA-PSS
    ("ec", bytes.fromhex("2a8648ce3d0201")),  # id-ecPublicKey
    ("ed25519", bytes.fromhex("2b6570")),
    ("ed448", bytes.fromhex("2b6571")),
)
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.+?)-----END \1-----", re.DOTALL)


def key_kind(pem: bytes) -> str | None:
    """``rsa``, ``rsa-pss``, ``ec``, ``ed25519`` or ``ed448`` for the first private key in a
    PEM file (other blocks, such as EC PARAMETERS or certificates, are skipped); None when
    there is none or it cannot be told (an encrypted PKCS#8 key)."""
    for found in _PEM.finditer(pem):
        label = found.group(1)
        if label == b"RSA PRIVATE KEY":
            return "rsa"
        if label == b"EC PRIVATE KEY":
            return "ec"
        if label != b"PRIVATE KEY":  # ENCRYPTED PRIVATE KEY hides its algorithm
            continue
        try:
            der = base64.b64decode(b"".join(found.group(2).split()))
        except ValueError:
            return None
        head = der[:40]  # PKCS#8: the algorithm identifier comes first
        return next((kind for kind, oid in _KEY_KINDS if oid in head), None)
    return None


def encrypted(keyfile: Path) -> bool:
    """Whether the PEM key file is encrypted (PKCS#8 or the legacy OpenSSL form)."""
    try:
        return b"ENCRYPTED" in keyfile.read_bytes()
    except OSError:
        return False  # uvicorn says what is wrong with it


class CertificateReloader:
    """Built before the server loads its certificate (so a rotation during start-up is
    seen), attached to the server's context once it exists."""

    def __init__(
        self,
        certfile: Path,
        keyfile: Path,
        password: Callable[[], str | None] = lambda: None,
        opened_with: str | None = None,
    ) -> None:
        """``password`` reads the passphrase at each change; ``opened_with`` is the one the
        server opened the current pair with (not read again)."""
        self.certfile = certfile
        self.keyfile = keyfile
        self._password = password
        self._secret = (opened_with or "").encode()
        self.context: ssl.SSLContext | None = None
        self._loaded = self._stamp()
        self._good = self._read()  # the pair last known to load, to fall back to
        self._kind = key_kind(self._good[1]) if self._good else None
        self._refused: Stamp | None = None
        self.reloads = 0

    def attach(self, context: ssl.SSLContext) -> None:
        self.context = context

    def _stamp(self) -> Stamp | None:
        """Identity, change times and size of both files (following links: a Secret volume
        swaps a symlink); None while either cannot be read."""
        try:
            stats = [os.stat(p) for p in (self.certfile, self.keyfile)]
        except OSError:
            return None
        return tuple(v for s in stats for v in (s.st_ino, s.st_mtime_ns, s.st_ctime_ns, s.st_size))

    def _read(self) -> Pair | None:
        try:
            return self.certfile.read_bytes(), self.keyfile.read_bytes()
        except OSError:
            return None

    def check(self) -> bool:
        """Load the pair into the live context if the files changed and the pair is
        valid; True when it was loaded."""
        stamp = self._stamp()
        if self.context is None or stamp is None or stamp in (self._loaded, self._refused):
            return False
        pair = self._read()
        if pair is None:
            return False
        problem: str | None
        try:
            secret = (self._password() or "").encode()
        except Exception as exc:  # an unreadable passphrase file: like an invalid pair
            secret, problem = b"", f"the key's passphrase: {exc}"
        else:
            problem = self._problem(pair, secret)
        if problem is not None:
            self._refused = stamp
            log.error(
                "TLS certificate %s changed but is not used (%s); still serving the previous one",
                self.certfile,
                problem,
            )
            return False
        try:
            _load(self.context, pair, secret)
        except (OSError, ssl.SSLError) as exc:  # it loaded in the scratch context
            log.critical("TLS certificate %s: reload failed (%s)", self.certfile, exc)
            self._restore()
            return False
        self._loaded, self._good, self._secret = stamp, pair, secret
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.certfile)
        return True

    def _restore(self) -> None:
        """Put the last good pair back after a failed live load (which may have installed
        the new certificate beside the old key). Never raises: it runs in the server's
        main loop."""
        if self._good is None or self.context is None:
            return
        try:
            _load(self.context, self._good, self._secret)
        except Exception:
            log.critical("TLS certificate %s: the previous pair could not be put back either; "
                         "new connections may fail until the files hold a valid pair",
                         self.certfile, exc_info=True)  # fmt: skip
            self._loaded = None  # whatever the files hold next is tried

    def _problem(self, pair: Pair, secret: bytes) -> str | None:
        kind = key_kind(pair[1])
        if self._kind is not None and kind is not None and kind != self._kind:
            return (
                f"its key is {kind}, the served one {self._kind}: a TLS context cannot drop "
                "a key type, so this rotation needs a restart"
            )
        if kind is None or self._kind is None:
            log.warning("TLS certificate %s: the key type could not be told; a change of key "
                        "type (EC, RSA) would need a restart", self.certfile)  # fmt: skip
        try:
            _load(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), pair, secret)
        except (OSError, ssl.SSLError) as exc:
            return str(exc)
        return None


def _load(context: ssl.SSLContext, pair: Pair, secret: bytes) -> None:
    with _in_memory(pair) as (certfile, keyfile):
        # Always a password callback: without a passphrase (b"") an encrypted key fails at
        # once instead of OpenSSL prompting on the terminal, which would block the loop.
        context.load_cert_chain(certfile, keyfile, password=lambda: secret)


@contextlib.contextmanager
def _in_memory(pair: Pair) -> Iterator[tuple[str, str]]:
    """``pair`` as two paths ``load_cert_chain`` can read: anonymous in-memory files on
    Linux (the key never touches a disk), else a private temporary directory."""
    if hasattr(os, "memfd_create"):
        fds: list[int] = []
        try:
            for _ in pair:
                fds.append(os.memfd_create("outrigger-tls", 0))
            for fd, data in zip(fds, pair, strict=True):
                with open(fd, "wb", closefd=False) as out:
                    out.write(data)
            yield f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}"
        finally:
            for fd in fds:
                os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="outrigger-tls-") as directory:
        paths = [Path(directory) / name for name in ("tls.crt", "tls.key")]
        for path, data in zip(paths, pair, strict=True):
            path.touch(mode=0o600)
            path.write_bytes(data)
        yield str(paths[0]), str(paths[1])
