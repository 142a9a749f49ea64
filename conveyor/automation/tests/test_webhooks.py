"""Outgoing webhooks against a real HTTP server on loopback (allowed by the tests' allow-list)."""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from conftest import Cast
from conveyor.automation import attempts, webhooks
from conveyor.automation.attempts import retry_delay
from conveyor.automation.models import JobStatus, WebhookDelivery, WebhookEndpoint
from conveyor.automation.tasks import webhook_deliver_job
from conveyor.automation.webhooks import (
    UnresolvableHost,
    UnsafeTarget,
    signature_header,
    signature_verify,
    url_check,
    webhook_deliver,
    webhook_endpoint_create,
    webhooks_emit,
)
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.core.jobs import enqueue_on_commit
from conveyor.testing.jobs import drain

SECRET = "s3cret-for-the-tests-0123456789"
PUBLIC_IP = "93.184.215.14"  # an ordinary public address, used only where nothing connects

# --- A recording HTTP server ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HookServer:
    """Answers each path from a script (the last reply repeats) and records every request."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.replies: dict[str, list[Reply]] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(
                    Received("POST", self.path, dict(self.headers.items()), body)
                )
                script = server.replies.get(self.path.split("?")[0], [Reply()])
                reply = script.pop(0) if len(script) > 1 else script[0]
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def allow_loopback(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def no_allow_list(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture
def server(allow_loopback: None) -> Iterator[HookServer]:
    hook_server = HookServer()
    yield hook_server
    hook_server.close()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names mapped to successive answers (the last one repeats); other names resolve for real."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kwargs)
        script = answers[name]
        addresses = script.pop(0) if len(script) > 1 else script[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
            if ":" in address
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host a TCP connection was opened to; the cloud metadata address is never reached
    (refused here, so a test without the guard fails instead of hanging)."""
    opened: list[str] = []
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address[0])
        if address[0] == "169.254.169.254":
            raise ConnectionRefusedError("the test refuses to reach the metadata address")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return opened


def _endpoint(url: str, **kwargs: Any) -> WebhookEndpoint:
    data: dict[str, Any] = {"name": "Receiver", "url": url, "secret": SECRET}
    data.update(kwargs)
    return WebhookEndpoint.objects.create(**data)


def _delivery(url: str, *, event_id: str = "evt-1", **kwargs: Any) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=_endpoint(url, **kwargs),
        event="deal_won",
        event_id=event_id,
        payload={"deal": 7},
    )


def _make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Signatures --------------------------------------------------------------------------------


def _signed(body: bytes = b'{"event":"deal_won"}', age: int = 0) -> dict[str, Any]:
    timestamp = int(time.time()) - age
    return {
        "timestamp": str(timestamp),
        "body": body,
        "signature": signature_header(secret=SECRET, timestamp=timestamp, body=body),
    }


def test_signature_verifies_with_the_secret() -> None:
    assert signature_verify(secret=SECRET, **_signed())


def test_signature_fails_with_another_secret() -> None:
    assert not signature_verify(secret=SECRET + "x", **_signed())


def test_signature_fails_for_a_tampered_body() -> None:
    signed = _signed()
    signed["body"] = b'{"event":"deal_lost"}'
    assert not signature_verify(secret=SECRET, **signed)


def test_signature_fails_for_a_tampered_timestamp() -> None:
    signed = _signed()
    signed["timestamp"] = str(int(signed["timestamp"]) + 1)
    assert not signature_verify(secret=SECRET, **signed)


def test_signature_fails_for_a_stale_timestamp() -> None:
    assert signature_verify(secret=SECRET, **_signed(age=290))
    assert not signature_verify(secret=SECRET, **_signed(age=301))
    assert not signature_verify(secret=SECRET, **_signed(age=-301))  # from the future


def test_signature_fails_for_garbage_headers() -> None:
    signed = _signed()
    assert not signature_verify(secret=SECRET, **{**signed, "timestamp": "yesterday"})
    bare = signed["signature"].removeprefix("sha256=")
    assert not signature_verify(secret=SECRET, **{**signed, "signature": bare})


# --- Delivery through the real worker ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_emitted_webhook_is_delivered_once_by_the_worker_with_signed_headers(
    job_backend: str, server: HookServer
) -> None:
    endpoint = _endpoint(server.url(), events=["deal_won"])
    with transaction.atomic():
        deliveries = webhooks_emit(
            event="deal_won", payload={"deal": 7, "amount": Decimal("10.50")}, event_id="evt-1"
        )
        assert server.requests == []  # nothing leaves before the event's transaction commits
    assert drain() == 1

    delivery = WebhookDelivery.objects.get(pk=deliveries[0].pk)
    assert (delivery.status, delivery.response_status, delivery.attempts) == (
        JobStatus.DONE,
        200,
        1,
    )
    assert delivery.result.startswith("HTTP 200 OK")
    assert len(server.requests) == 1
    request = server.requests[0]
    headers = request.headers
    assert request.path == "/hook"
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Conveyor-Webhooks/1"
    assert headers["X-Conveyor-Event"] == "deal_won"
    assert headers["X-Conveyor-Event-Id"] == "evt-1"
    assert abs(int(headers["X-Conveyor-Timestamp"]) - time.time()) < 10
    assert signature_verify(
        secret=endpoint.secret,
        timestamp=headers["X-Conveyor-Timestamp"],
        body=request.body,
        signature=headers["X-Conveyor-Signature"],
    )
    document = json.loads(request.body)
    assert document["event"] == "deal_won"
    assert document["event_id"] == "evt-1"
    assert document["data"] == {"deal": 7, "amount": "10.50"}
    occurred_at = dt.datetime.fromisoformat(document["occurred_at"])  # milliseconds
    assert abs(occurred_at - delivery.created_at) < dt.timedelta(milliseconds=1)
    assert b" " not in request.body  # compact JSON


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_job_for_the_same_delivery_does_nothing(
    job_backend: str, server: HookServer
) -> None:
    delivery = _delivery(server.url())
    enqueue_on_commit(webhook_deliver_job, delivery.pk)
    enqueue_on_commit(webhook_deliver_job, delivery.pk)
    assert drain() == 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (JobStatus.DONE, 1)
    assert len(server.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_no_database_transaction_is_open_during_the_http_request(
    server: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_transaction: list[bool] = []
    real_request = http.client.HTTPConnection.request

    def request(self: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        in_transaction.append(connection.in_atomic_block)
        real_request(self, *args, **kwargs)

    monkeypatch.setattr(http.client.HTTPConnection, "request", request)
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert delivery.status == JobStatus.DONE
    assert in_transaction == [False]


# --- Outcomes of one attempt ---------------------------------------------------------------------


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, tuple[Any, ...], Any]]:
    """Jobs the delivery code asks for (task, args, run_after), instead of enqueueing them."""
    calls: list[tuple[Any, tuple[Any, ...], Any]] = []

    def record(task: Any, *args: Any, run_after: Any = None) -> None:
        calls.append((task, args, run_after))

    monkeypatch.setattr(webhooks, "enqueue_on_commit", record)
    monkeypatch.setattr(attempts, "enqueue_on_commit", record)  # retries
    return calls


@pytest.mark.django_db
def test_server_error_retries_with_backoff_then_a_later_attempt_succeeds(
    server: HookServer, enqueued: list[tuple[Any, tuple[Any, ...], Any]]
) -> None:
    server.script("/hook", Reply(500, b"boom"), Reply(200, b"thanks"))
    delivery = _delivery(server.url())

    before = timezone.now()
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.RETRYING, 500)
    assert delivery.result == "HTTP 500 Internal Server Error\nboom"
    expected = before + retry_delay(1)
    assert abs((delivery.next_attempt_at - expected).total_seconds()) < 5
    assert enqueued == [(webhook_deliver_job, (delivery.pk,), delivery.next_attempt_at)]

    # Not due yet: a job arriving early does nothing.
    assert webhook_deliver(delivery_id=delivery.pk).attempts == 1
    assert len(server.requests) == 1

    _make_due(delivery)
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert (delivery.status, delivery.response_status, delivery.attempts) == (
        JobStatus.DONE,
        200,
        2,
    )
    assert delivery.finished_at is not None
    assert len(server.requests) == 2
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_retries_stop_as_failed_after_the_maximum_attempts(
    server: HookServer, settings: Settings, enqueued: list[Any]
) -> None:
    settings.CONVEYOR_RETRY_MAX_ATTEMPTS = 3
    server.script("/hook", Reply(503, b"down"))
    delivery = _delivery(server.url())
    for _attempt in range(3):
        _make_due(delivery)
        delivery = webhook_deliver(delivery_id=delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.response_status) == (
        JobStatus.FAILED,
        3,
        503,
    )
    assert len(enqueued) == 2  # after attempts 1 and 2, none after the last
    _make_due(delivery)
    assert webhook_deliver(delivery_id=delivery.pk).attempts == 3  # failed is final
    assert len(server.requests) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_client_errors_fail_without_retry(
    server: HookServer, enqueued: list[Any], status: int
) -> None:
    server.script("/hook", Reply(status, b"no such hook"))
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.FAILED, status)
    assert delivery.result.startswith(f"HTTP {status} ")
    assert enqueued == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_timeout_rate_limit_and_server_errors_are_retried(
    server: HookServer, enqueued: list[Any], status: int
) -> None:
    server.script("/hook", Reply(status, b""))
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.RETRYING, status)
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_a_refused_connection_is_retried(allow_loopback: None, enqueued: list[Any]) -> None:
    delivery = _delivery(f"http://127.0.0.1:{_closed_port()}/hook")
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.RETRYING, None)
    assert "refused" in delivery.result.lower()
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_a_slow_receiver_times_out_and_is_retried(
    server: HookServer, settings: Settings, enqueued: list[Any]
) -> None:
    settings.CONVEYOR_WEBHOOK_TIMEOUT = 1
    server.script("/hook", Reply(200, delay=2.5))
    started = time.monotonic()
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert time.monotonic() - started < 2.4
    assert delivery.status == JobStatus.RETRYING
    assert "timed out" in delivery.result
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_result_keeps_the_status_line_and_the_first_500_characters(server: HookServer) -> None:
    server.script("/hook", Reply(200, "é".encode() * 3000))
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert delivery.result == "HTTP 200 OK\n" + "é" * 500


@pytest.mark.django_db
def test_a_switched_off_endpoint_is_skipped(server: HookServer) -> None:
    delivery = _delivery(server.url(), is_active=False)
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == JobStatus.SKIPPED
    assert server.requests == []


@pytest.mark.django_db
def test_a_delivery_already_done_is_returned_unchanged(server: HookServer) -> None:
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    _make_due(delivery)
    again = webhook_deliver(delivery_id=delivery.pk)
    assert (again.status, again.attempts) == (JobStatus.DONE, 1)
    assert len(server.requests) == 1


# --- Redirects --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed_with_the_same_signed_post(server: HookServer, status: int) -> None:
    server.script("/hook", Reply(status, headers={"Location": "/moved?x=1"}))
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.DONE, 200)
    first, second = server.requests
    assert (second.method, second.path) == ("POST", "/moved?x=1")
    assert second.body == first.body
    assert second.headers["X-Conveyor-Signature"] == first.headers["X-Conveyor-Signature"]


@pytest.mark.django_db
def test_more_than_three_redirects_fail_without_retry(
    server: HookServer, enqueued: list[Any]
) -> None:
    for hop in range(4):
        server.script(f"/r{hop}", Reply(302, headers={"Location": f"/r{hop + 1}"}))
    delivery = webhook_deliver(delivery_id=_delivery(server.url("/r0")).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.FAILED, 302)
    assert [request.path for request in server.requests] == ["/r0", "/r1", "/r2", "/r3"]
    assert enqueued == []


@pytest.mark.django_db
def test_a_redirect_to_the_metadata_address_is_refused_and_never_contacted(
    server: HookServer, connections: list[str], enqueued: list[Any]
) -> None:
    server.script("/hook", Reply(302, headers={"Location": "http://169.254.169.254/latest/"}))
    delivery = webhook_deliver(delivery_id=_delivery(server.url()).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.FAILED, 302)
    assert "169.254.169.254" in delivery.result
    assert connections == ["127.0.0.1"]
    assert enqueued == []


@pytest.mark.django_db
def test_a_delivery_to_a_refused_address_fails_without_retry(
    no_allow_list: None, connections: list[str], enqueued: list[Any]
) -> None:
    delivery = webhook_deliver(delivery_id=_delivery("http://127.0.0.1:9/hook").pk)
    assert (delivery.status, delivery.attempts) == (JobStatus.FAILED, 1)
    assert connections == []
    assert enqueued == []


# --- DNS: one lookup, and the request goes to the address checked --------------------------------


@pytest.mark.django_db
def test_the_request_goes_to_the_checked_address_not_a_second_lookup(
    server: HookServer, fake_dns: dict[str, list[list[str]]], connections: list[str]
) -> None:
    # A rebinding name: first answer passes the check, any later one points at the metadata.
    fake_dns["rebind.example"] = [["127.0.0.1"], ["169.254.169.254"]]
    url = server.url(host="rebind.example")
    delivery = webhook_deliver(delivery_id=_delivery(url).pk)
    assert delivery.status == JobStatus.DONE
    assert connections == ["127.0.0.1"]
    assert server.requests[0].headers["Host"] == f"rebind.example:{server.port}"


@pytest.mark.django_db
def test_an_unresolvable_host_is_retried(
    allow_loopback: None, monkeypatch: pytest.MonkeyPatch, enqueued: list[Any]
) -> None:
    def no_answer(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_answer)
    delivery = webhook_deliver(delivery_id=_delivery("http://gone.example/hook").pk)
    assert delivery.status == JobStatus.RETRYING
    assert "gone.example" in delivery.result
    with pytest.raises(UnresolvableHost):
        url_check("http://gone.example/")


# --- HTTPS: connect to the IP, check the certificate for the name ---------------------------------


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the HTTPS tests need the openssl command to make a certificate")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [  # noqa: S607
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", f"/CN={name}",
            "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(
    allow_loopback: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], HookServer]]:
    """An HTTPS server with a certificate for `name`, trusted by the client (SSL_CERT_FILE)."""
    servers: list[HookServer] = []

    def start(name: str) -> HookServer:
        cert, key = _certificate(tmp_path, name)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        hook_server = HookServer(tls=context)
        servers.append(hook_server)
        return hook_server

    yield start
    for hook_server in servers:
        hook_server.close()


@pytest.mark.django_db
def test_https_connects_to_the_checked_address_and_checks_the_certificate_for_the_host(
    tls_server: Callable[[str], HookServer],
    fake_dns: dict[str, list[list[str]]],
    connections: list[str],
) -> None:
    hook_server = tls_server("hooks.test")
    fake_dns["hooks.test"] = [["127.0.0.1"]]
    delivery = webhook_deliver(delivery_id=_delivery(hook_server.url(host="hooks.test")).pk)
    assert (delivery.status, delivery.response_status) == (JobStatus.DONE, 200), delivery.result
    assert connections == ["127.0.0.1"]
    assert hook_server.requests[0].headers["Host"] == f"hooks.test:{hook_server.port}"


@pytest.mark.django_db
def test_https_with_a_certificate_for_another_name_is_not_sent(
    tls_server: Callable[[str], HookServer],
    fake_dns: dict[str, list[list[str]]],
    enqueued: list[Any],
) -> None:
    hook_server = tls_server("other.test")
    fake_dns["hooks.test"] = [["127.0.0.1"]]
    delivery = webhook_deliver(delivery_id=_delivery(hook_server.url(host="hooks.test")).pk)
    assert delivery.status == JobStatus.RETRYING
    assert "certificate" in delivery.result.lower()
    assert hook_server.requests == []


# --- The SSRF guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://[::1]/",
        "http://localhost/",
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://172.31.255.254/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[::a00:1]/",  # IPv4-compatible 10.0.0.1
        "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
        "http://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[ff02::1]/",
        # Not caught by Python 3.11's own is_global; the module's list of blocks must.
        "http://192.88.99.1/",  # 6to4 relay anycast
        "http://[fec0::1]/",  # site-local
        "http://[3fff::1]/",  # documentation
        "https://10.0.0.1:8443/hook",
    ],
)
def test_non_public_addresses_are_refused_without_the_allow_list(
    no_allow_list: None, url: str
) -> None:
    with pytest.raises(UnsafeTarget) as error:
        url_check(url)
    assert error.value.field == "url"
    assert "CONVEYOR_WEBHOOK_ALLOWED_NETWORKS" in str(error.value)


def test_a_hostname_resolving_to_loopback_is_refused(
    no_allow_list: None, fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["hooks.example.com"] = [["127.0.0.1"]]
    with pytest.raises(UnsafeTarget, match=r"127\.0\.0\.1"):
        url_check("https://hooks.example.com/x")


def test_a_hostname_with_any_private_address_is_refused(
    no_allow_list: None, fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["mixed.example.com"] = [[PUBLIC_IP, "10.0.0.1"]]
    with pytest.raises(UnsafeTarget, match=r"10\.0\.0\.1"):
        url_check("https://mixed.example.com/")


def test_public_addresses_pass_and_are_returned(
    no_allow_list: None, fake_dns: dict[str, list[list[str]]]
) -> None:
    assert url_check(f"http://{PUBLIC_IP}/") == [ipaddress.ip_address(PUBLIC_IP)]
    assert url_check("https://[2606:4700:4700::1111]/") == [
        ipaddress.ip_address("2606:4700:4700::1111")
    ]
    fake_dns["hooks.example.com"] = [[PUBLIC_IP, "2606:4700:4700::1111"]]
    assert url_check("https://hooks.example.com:8443/in?a=1") == [
        ipaddress.ip_address(PUBLIC_IP),
        ipaddress.ip_address("2606:4700:4700::1111"),
    ]


def test_the_allow_list_admits_only_its_networks(settings: Settings) -> None:
    settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]
    assert url_check("http://10.1.2.3/") == [ipaddress.ip_address("10.1.2.3")]
    assert url_check("http://[::ffff:10.1.2.3]/")  # the same IPv4 address, IPv6-mapped
    assert url_check("http://[fd00::5]/")
    with pytest.raises(UnsafeTarget):
        url_check("http://192.168.0.1/")
    with pytest.raises(UnsafeTarget):
        url_check("http://169.254.169.254/")


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://{PUBLIC_IP}/",
        f"gopher://{PUBLIC_IP}:70/",
        f"file://{PUBLIC_IP}/etc/passwd",
        "file:///etc/passwd",
        "javascript:alert(1)",
        f"//{PUBLIC_IP}/",
        PUBLIC_IP,
    ],
)
def test_non_http_schemes_are_refused(no_allow_list: None, url: str) -> None:
    with pytest.raises(UnsafeTarget, match="http"):
        url_check(url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:pass@{PUBLIC_IP}/",
        f"http://user@{PUBLIC_IP}/",
        f"https://{PUBLIC_IP}@{PUBLIC_IP}/",
        f"https://:secret@{PUBLIC_IP}/",
    ],
)
def test_urls_with_a_user_or_password_are_refused(no_allow_list: None, url: str) -> None:
    with pytest.raises(UnsafeTarget, match="user name or password"):
        url_check(url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://{PUBLIC_IP}/a b",
        f"http://{PUBLIC_IP}/\x00",
        f"http://{PUBLIC_IP}:99999/",
        f"http://{PUBLIC_IP}:port/",
        "http:///path",
    ],
)
def test_malformed_urls_are_refused(no_allow_list: None, url: str) -> None:
    with pytest.raises(UnsafeTarget):
        url_check(url)


# --- Emitting -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_emit_queues_one_delivery_per_active_subscribed_endpoint(
    django_capture_on_commit_callbacks: Any,
) -> None:
    wants_won = _endpoint("https://a.example/", name="A", events=["deal_won"])
    wants_all = _endpoint("https://b.example/", name="B", events=[])
    _endpoint("https://c.example/", name="C", events=["deal_lost"])
    _endpoint("https://d.example/", name="D", events=["deal_won"], is_active=False)
    with django_capture_on_commit_callbacks() as callbacks:
        deliveries = webhooks_emit(event="deal_won", payload={"deal": 1}, event_id="won-1")
    assert {delivery.endpoint_id for delivery in deliveries} == {wants_won.pk, wants_all.pk}
    assert all(delivery.status == JobStatus.PENDING for delivery in deliveries)
    assert len(callbacks) == 2  # one job each, after commit


@pytest.mark.django_db
def test_emit_twice_with_the_same_event_id_creates_one_delivery() -> None:
    _endpoint("https://a.example/")
    first = webhooks_emit(event="deal_won", payload={"deal": 1}, event_id="won-1")
    second = webhooks_emit(event="deal_won", payload={"deal": 1}, event_id="won-1")
    assert len(first) == 1
    assert second == []
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_emit_to_a_chosen_endpoint_ignores_its_event_list() -> None:
    chosen = _endpoint("https://a.example/", events=["deal_lost"])
    _endpoint("https://b.example/", events=[])
    deliveries = webhooks_emit(event="deal_won", payload={}, event_id="won-1", endpoint=chosen)
    assert [delivery.endpoint_id for delivery in deliveries] == [chosen.pk]


@pytest.mark.django_db
def test_emit_takes_the_same_number_of_queries_for_one_endpoint_or_many() -> None:
    _endpoint("https://a.example/")
    with CaptureQueriesContext(connection) as one:
        webhooks_emit(event="deal_won", payload={}, event_id="one")
    for number in range(6):
        _endpoint(f"https://{number}.example/")
    with CaptureQueriesContext(connection) as many:
        deliveries = webhooks_emit(event="deal_won", payload={}, event_id="many")
    assert len(deliveries) == 7
    assert len(many) == len(one) <= 4


@pytest.mark.django_db
def test_emit_stores_dates_and_decimals_as_json() -> None:
    _endpoint("https://a.example/")
    when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    (delivery,) = webhooks_emit(
        event="deal_won", payload={"amount": Decimal("9.90"), "at": when}, event_id="won-1"
    )
    delivery.refresh_from_db()
    assert delivery.payload == {"amount": "9.90", "at": "2026-03-01T12:00:00Z"}


# --- Endpoints ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_owner_creates_an_endpoint_with_a_generated_secret(
    cast: Cast, fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["hooks.example.com"] = [[PUBLIC_IP]]
    endpoint = webhook_endpoint_create(
        by=cast.owner,
        name=" Billing ",
        url="https://hooks.example.com/conveyor",
        events=["deal_won", "deal_lost", "deal_won"],
    )
    assert endpoint.name == "Billing"
    assert endpoint.events == ["deal_won", "deal_lost"]
    assert len(endpoint.secret) >= 40
    other = webhook_endpoint_create(
        by=cast.head, name="Other", url=f"https://{PUBLIC_IP}/", events=[], secret=SECRET
    )
    assert other.secret == SECRET
    assert other.secret != endpoint.secret


@pytest.mark.django_db
def test_a_manager_may_not_create_an_endpoint(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        webhook_endpoint_create(
            by=cast.manager, name="Mine", url=f"https://{PUBLIC_IP}/", events=[]
        )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"url": "http://169.254.169.254/"}, "url"),
        ({"url": "http://localhost:8000/"}, "url"),
        ({"url": f"ftp://{PUBLIC_IP}/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": ["deal_won", "deal_exploded"]}, "events"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_bad_endpoint_input_is_refused(
    cast: Cast, no_allow_list: None, kwargs: dict[str, Any], field: str
) -> None:
    data: dict[str, Any] = {
        "by": cast.owner,
        "name": "Billing",
        "url": f"https://{PUBLIC_IP}/",
        "events": [],
    }
    data.update(kwargs)
    with pytest.raises(ServiceError) as error:
        webhook_endpoint_create(**data)
    assert error.value.field == field
    assert not WebhookEndpoint.objects.exists()
