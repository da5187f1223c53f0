"""A stand-in for a Synapse serverless SQL endpoint on the loopback interface: enough of TDS 7.4
(MS-TDS) for a client to sign in with an access token over TLS and send SQL batches.

It answers PRELOGIN with encryption on and FEDAUTHREQUIRED, runs the TLS handshake inside
PRELOGIN packets as the protocol wraps it, then reads LOGIN7 (keeping the FEDAUTH token,
the database and the server name), acknowledges it (LOGINACK, FEATUREEXTACK, ENVCHANGE) and
answers each SQL batch with DONE, or with an ERROR token when the batch contains a text it
was told to refuse. Its certificate, signed by a CA of its own, is for
`*.sql.azuresynapse.net`, as Synapse's is: clients reach it under a workspace's real
host name through a socket connected to the loopback address.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERTIFICATE_NAME = "*.sql.azuresynapse.net"
_PRELOGIN, _LOGIN7, _SQL_BATCH, _REPLY = 0x12, 0x10, 0x01, 0x04
_TDS74 = 0x74000004
_FEDAUTH = 0x02


@dataclass
class Login:
    server_name: str
    database: str
    app_name: str
    token: str


@dataclass
class FakeServerless:
    """What the stand-in saw, and what it should refuse."""

    port: int
    cafile: Path
    refuse: dict[str, str] = field(default_factory=dict)
    """Batch text to refuse -> the error message to answer with."""
    logins: list[Login] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@contextmanager
def fake_serverless(folder: Path) -> Iterator[FakeServerless]:
    """The stand-in, listening on a free loopback port until the block ends."""
    context = _server_context(folder)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server = FakeServerless(listener.getsockname()[1], folder / "ca.pem")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(10)
                # The client went away, or gave up on the handshake (a certificate it refused).
                with suppress(OSError, ssl.SSLError, ConnectionError):
                    _Connection(connection, context, server).serve()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def _server_context(folder: Path) -> ssl.SSLContext:
    """A CA (written to folder/ca.pem) and a server certificate it signed, for
    CERTIFICATE_NAME, with a common name that is not a host name (as Azure's)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoplake test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "serverless stand-in")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CERTIFICATE_NAME)]),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(certificate.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    return context


class _Connection:
    def __init__(self, sock: socket.socket, context: ssl.SSLContext,
                 server: FakeServerless) -> None:
        self.sock = sock
        self.server = server
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.secure = False
        self.buffer = b""

    def serve(self) -> None:
        kind, _ = self.receive()
        assert kind == _PRELOGIN, kind
        self.send(_REPLY, _prelogin_reply())
        self.handshake()
        kind, login = self.receive()
        assert kind == _LOGIN7, kind
        self.server.logins.append(_parse_login(login))
        self.send(_REPLY, _login_reply(self.server.logins[-1].database))
        while True:
            kind, payload = self.receive()
            if kind != _SQL_BATCH:
                continue  # attention and the like: nothing to do here
            (headers,) = struct.unpack_from("<I", payload)
            batch = payload[headers:].decode("utf-16-le")
            self.server.batches.append(batch)
            refusal = next((message for text, message in self.server.refuse.items()
                            if text in batch), None)
            self.send(_REPLY, _error(refusal) + _done(0x02) if refusal else _done(0x00))

    def handshake(self) -> None:
        """TLS records ride in PRELOGIN packets until the handshake is done."""
        while True:
            kind, record = self.receive()
            assert kind == _PRELOGIN, kind
            self.incoming.write(record)
            try:
                self.tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            self.send(_PRELOGIN, self.outgoing.read())
            if done:
                self.secure = True
                return

    def receive(self) -> tuple[int, bytes]:
        """One TDS message (its packets up to end-of-message): type and payload."""
        payload, kind = b"", 0
        while True:
            header = self._read(8)
            kind, status, length = struct.unpack(">BBH", header[:4])
            payload += self._read(length - 8)
            if status & 0x01:
                return kind, payload

    def send(self, kind: int, payload: bytes) -> None:
        packet = struct.pack(">BBHHBB", kind, 0x01, len(payload) + 8, 0, 1, 0) + payload
        if self.secure:
            self.tls.write(packet)
            packet = self.outgoing.read()
        self.sock.sendall(packet)

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the client closed the connection")
            if self.secure:
                self.incoming.write(data)
                try:
                    data = self.tls.read(65536)
                except ssl.SSLWantReadError:
                    continue
            self.buffer += data
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk


def _prelogin_reply() -> bytes:
    options = [(0x00, struct.pack(">LH", 0x10000000, 0)),  # VERSION
               (0x01, b"\x01"),  # ENCRYPTION: on
               (0x04, b"\x00"),  # MARS: off
               (0x06, b"\x01")]  # FEDAUTHREQUIRED
    offset = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, offset + len(data), len(value))
        data += value
    return table + b"\xff" + data


def _parse_login(payload: bytes) -> Login:
    def text(at: int) -> str:
        offset, length = struct.unpack_from("<HH", payload, at)
        return payload[offset:offset + 2 * length].decode("utf-16-le")

    # LOGIN7's offset table (MS-TDS 2.2.6.4): app name at 48, server name 52, extension 56
    # (it points at the offset of the feature extensions), database 68.
    (extension,) = struct.unpack_from("<H", payload, 56)
    (features,) = struct.unpack_from("<I", payload, extension)
    token = ""
    while payload[features] != 0xFF:
        feature, length = struct.unpack_from("<BI", payload, features)
        data = payload[features + 5:features + 5 + length]
        if feature == _FEDAUTH:  # options byte, token length, UTF-16 token
            (size,) = struct.unpack_from("<I", data, 1)
            token = data[5:5 + size].decode("utf-16-le")
        features += 5 + length
    return Login(server_name=text(52), database=text(68), app_name=text(48), token=token)


def _token(marker: int, body: bytes) -> bytes:
    return struct.pack("<BH", marker, len(body)) + body


def _b_varchar(value: str) -> bytes:
    return struct.pack("<B", len(value)) + value.encode("utf-16-le")


def _login_reply(database: str) -> bytes:
    collation = bytes.fromhex("0904d00034")  # Latin1_General_CI_AS
    loginack = (struct.pack(">BI", 1, _TDS74) + _b_varchar("Microsoft SQL Server")
                + struct.pack(">BBBB", 12, 0, 0, 0))
    feature_ack = struct.pack("<BI", _FEDAUTH, 0) + b"\xff"
    return (_token(0xE3, struct.pack("<B", 1) + _b_varchar(database) + _b_varchar("master"))
            + _token(0xE3, struct.pack("<BB", 7, 5) + collation + b"\x00")
            + _token(0xAD, loginack)
            + struct.pack("<B", 0xAE) + feature_ack
            + _done(0x00))


def _error(message: str) -> bytes:
    body = (struct.pack("<iBB", 50000, 1, 16) + struct.pack("<H", len(message))
            + message.encode("utf-16-le") + _b_varchar("stand-in") + _b_varchar("")
            + struct.pack("<i", 1))
    return _token(0xAA, body)


def _done(status: int) -> bytes:
    return struct.pack("<BHHQ", 0xFD, status, 0, 0)
