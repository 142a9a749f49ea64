"""Outgoing webhooks: signed POSTs to outside addresses, retried with backoff, guarded against SSRF.

An event becomes one `WebhookDelivery` row per subscribed endpoint, written in the event's own
transaction (`webhooks_emit`); a background job then makes one attempt (`webhook_deliver`).

Every request is signed: `X-Conveyor-Signature: sha256=<hex>` is the HMAC-SHA256, keyed with the
endpoint's secret, of `"<X-Conveyor-Timestamp>."` followed by the raw body. Receivers check it
with `signature_verify` (or its few lines in their own language) and drop stale timestamps, so a
captured request cannot be replayed later.

The URL is an outsider's input, so before each request `url_check` resolves the host and refuses
it if any address is private, loopback, link-local or otherwise not public (unless the operator
allowed its network in CONVEYOR_WEBHOOK_ALLOWED_NETWORKS). The request then goes to the checked
address itself — the host is never looked up a second time, so a DNS answer that changes between
check and connect (DNS rebinding) cannot steer it inside. Redirects are followed by hand, each new
address checked the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_settings_access
from conveyor.automation.attempts import claim, fail, succeed
from conveyor.automation.models import (
    JobStatus,
    Trigger,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from conveyor.automation.tasks import webhook_deliver_job
from conveyor.core.errors import ServiceError
from conveyor.core.fields import max_length
from conveyor.core.jobs import enqueue_on_commit

logger = logging.getLogger(__name__)

# How much of a saved signing secret pages show after its creation (or a rotation):
# enough to tell two apart, too little to sign with.
SECRET_SHOWN_CHARS = 4


IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

USER_AGENT = "Conveyor-Webhooks/1"
SIGNATURE_PREFIX = "sha256="
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Client errors that say "later", not "never": a timeout on their side and rate limiting.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
RESULT_BODY_CHARS = 500
# Enough bytes for RESULT_BODY_CHARS characters of UTF-8; the rest of a body is never read.
RESULT_BODY_BYTES = RESULT_BODY_CHARS * 4

# Address blocks that are not reachable on the public internet (IANA special-purpose registries).
# `is_global` from the standard library says much of this too, but its lists changed between
# Python patch releases; naming the blocks here keeps the guard the same on every interpreter.
_NON_PUBLIC_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(block)
    for block in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, home of cloud metadata services
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, including Teredo
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # old site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class UnsafeTarget(ServiceError):
    """The URL may not be called: wrong scheme, credentials in it, or an address that is not
    public. Waiting does not change that, so a delivery refused for it is not retried."""


class UnresolvableHost(ServiceError):
    """The host name has no address (now). DNS can recover, so a delivery retries on it."""


@dataclass(frozen=True)
class _Target:
    """A checked URL, split into what a request needs."""

    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, percent-encoded
    addresses: list[IPAddress]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.scheme == "https" else 80
        return host if self.port == default_port else f"{host}:{self.port}"


# --- The SSRF guard -------------------------------------------------------------------------------


def _unscoped(address: IPAddress) -> IPAddress:
    """`address` without an IPv6 zone ("fe80::1%eth0"): the zone says which interface, not
    which address, and would make every network comparison false."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(int(address))
    return address


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one:
    a packet to it ends up at that IPv4 address, so that is the address to judge."""
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002:aabb:ccdd::/48
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:  # 64:ff9b::a.b.c.d, ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    """Whether `address` is an ordinary address on the public internet."""
    address = _unscoped(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _is_public(embedded)
    if any(address in network for network in _NON_PUBLIC_NETWORKS):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _allowed_networks() -> list[IPNetwork]:
    """CONVEYOR_WEBHOOK_ALLOWED_NETWORKS, parsed. Read on every check so tests and reloads of
    settings take effect; the list is short."""
    networks = []
    for entry in settings.CONVEYOR_WEBHOOK_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"CONVEYOR_WEBHOOK_ALLOWED_NETWORKS: {entry!r} is not a network ({exc})."
            ) from exc
    return networks


def _is_allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    """Whether the operator allowed `address` (or the IPv4 address it embeds) explicitly."""
    address = _unscoped(address)
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
    return any(
        candidate.version == network.version and candidate in network
        for candidate in candidates
        for network in networks
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UnresolvableHost(
            _("The host %(host)s could not be resolved: %(error)s") % {"host": host, "error": exc},
            field="url",
        ) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHost(_("The host %(host)s has no address.") % {"host": host}, field="url")
    return addresses


def _target(url: str) -> _Target:
    """Parse, resolve and check `url`; see `url_check`."""
    url = url.strip()
    # Control characters and spaces would end up in the request line or the Host header.
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeTarget(_("The URL may not contain spaces or control characters."), field="url")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeTarget(_("Webhook URLs must start with http:// or https://."), field="url")
    # Credentials in the URL would never be sent (we add no Authorization header), and a
    # userinfo part mostly serves to hide the real host from a reader
    # ("https://trusted.example@evil.example/").
    if "@" in parts.netloc:
        raise UnsafeTarget(_("Webhook URLs may not contain a user name or password."), field="url")
    if not parts.hostname:
        raise UnsafeTarget(_("The URL has no host."), field="url")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget(_("The URL has an invalid port."), field="url") from exc
    if not 0 < port < 65536:
        raise UnsafeTarget(_("The URL has an invalid port."), field="url")
    try:
        # The Host header and TLS server name must be ASCII: international names go as IDNA.
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeTarget(
            _("The host %(host)s is not a valid host name.") % {"host": parts.hostname},
            field="url",
        ) from exc

    addresses = _resolve(host, port)
    allowed = _allowed_networks()
    for address in addresses:
        # ANY bad address refuses the URL: we may connect to any of them, and a host that
        # resolves to both a public and a private address is exactly what an attacker sets up.
        if not _is_public(address) and not _is_allowed(address, allowed):
            raise UnsafeTarget(
                _(
                    "Webhooks may not be sent to %(host)s: it resolves to %(address)s, which is "
                    "a private, local or reserved address. If this is intended, the server "
                    "operator can allow its network in CONVEYOR_WEBHOOK_ALLOWED_NETWORKS."
                )
                % {"host": host, "address": address},
                field="url",
            )

    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return _Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)


def url_check(url: str) -> list[IPAddress]:
    """The addresses `url` resolves to, once each is known to be safe to call.

    Raises UnsafeTarget for a scheme other than http/https, a user name or password in the URL,
    or a host with any address that is not public (private, loopback, link-local, multicast,
    reserved, unspecified, shared 100.64/10, or an IPv6 form embedding such an IPv4 address)
    outside the networks of CONVEYOR_WEBHOOK_ALLOWED_NETWORKS; UnresolvableHost when the host
    has no address.
    """
    return _target(url).addresses


# --- Signing ------------------------------------------------------------------------------------


def signature_header(*, secret: str, timestamp: int | str, body: bytes) -> str:
    """The X-Conveyor-Signature value for `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_verify(
    *,
    secret: str,
    timestamp: int | str,
    body: bytes,
    signature: str,
    tolerance_seconds: int = 300,
) -> bool:
    """Whether a received webhook is genuine and fresh. For receivers:

        ok = signature_verify(
            secret=SECRET,
            timestamp=request.headers["X-Conveyor-Timestamp"],
            body=request.body,  # the raw bytes, before any JSON parsing
            signature=request.headers["X-Conveyor-Signature"],
        )

    The timestamp is signed with the body, and one more than `tolerance_seconds` away from now
    (either way) is refused, so a captured request cannot be replayed later. Deduplicate retries
    with X-Conveyor-Event-Id.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - sent_at) > tolerance_seconds:
        return False
    expected = signature_header(secret=secret, timestamp=sent_at, body=body)
    # Constant-time comparison: a byte-by-byte compare leaks how much of a guess was right.
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def _body(delivery: WebhookDelivery) -> bytes:
    """The JSON body of `delivery`: the same bytes on every attempt (the event's time is when
    the delivery was written, not when it was sent)."""
    document = {
        "event": delivery.event,
        "event_id": delivery.event_id,
        "occurred_at": delivery.created_at,
        "data": delivery.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


# --- Emitting -----------------------------------------------------------------------------------

_EVENT_LIMIT = max_length(WebhookDelivery, "event")
_EVENT_ID_LIMIT = max_length(WebhookDelivery, "event_id")


def active_endpoints() -> list[WebhookEndpoint]:
    """The endpoints that may receive events; load once when one change emits several."""
    return list(WebhookEndpoint.objects.filter(is_active=True))


def webhooks_emit(
    *,
    event: str,
    payload: dict[str, Any],
    event_id: str,
    endpoint: WebhookEndpoint | None = None,
    active: list[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Queue `event` for every active endpoint subscribed to it (or only for `endpoint`, an
    explicit choice that ignores its event list); returns the deliveries written now. `active`
    is `active_endpoints()` when the caller already loaded it for another event of the change.

    Call it inside the transaction that made the event: the rows commit with it, and the jobs are
    enqueued only after the commit. An (endpoint, event_id) pair already queued is skipped, so
    reporting the same event twice sends it once. A fixed four queries at most, however many
    endpoints there are.
    """
    event_id = str(event_id).strip()
    if not event or len(event) > _EVENT_LIMIT:
        raise ServiceError(_("Unknown webhook event %(event)s.") % {"event": event}, field="event")
    if not event_id or len(event_id) > _EVENT_ID_LIMIT:
        raise ServiceError(
            _("A webhook event id must be 1 to %(max)d characters.") % {"max": _EVENT_ID_LIMIT},
            field="event_id",
        )
    if endpoint is not None:
        targets = [endpoint] if endpoint.is_active else []
    else:
        # Filtered in Python: SQLite has no JSON "contains", and endpoints are few.
        targets = [
            candidate
            for candidate in (active_endpoints() if active is None else active)
            if not candidate.events or event in candidate.events
        ]
    if not targets:
        return []
    # Normalised through the same encoder as the body, so dates and decimals in the payload can
    # be stored in the JSON column and are sent exactly as stored.
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))

    done = set(
        WebhookDelivery.objects.filter(endpoint__in=targets, event_id=event_id).values_list(
            "endpoint_id", flat=True
        )
    )
    fresh = [target for target in targets if target.pk not in done]
    if not fresh:
        return []
    # ignore_conflicts: a concurrent emit of the same event must not abort the caller's
    # transaction with an IntegrityError; whichever insert wins, the event is queued once.
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint=target, event=event, event_id=event_id, payload=data)
            for target in fresh
        ],
        ignore_conflicts=True,
    )
    # Re-read for the ids (bulk_create with ignore_conflicts does not return them). A row a
    # racing emit wrote may be among them; its second job then finds nothing to claim.
    deliveries = list(
        WebhookDelivery.objects.filter(endpoint__in=fresh, event_id=event_id).order_by("pk")
    )
    for delivery in deliveries:
        enqueue_on_commit(webhook_deliver_job, delivery.pk)
    return deliveries


# --- Delivering ---------------------------------------------------------------------------------


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an already checked IP address, with the host name used for SNI and for checking
    the certificate — so no second DNS lookup happens, and TLS still proves who answers."""

    def __init__(
        self,
        address: str,
        port: int,
        *,
        server_hostname: str,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_hostname = server_hostname
        self._tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP to the IP
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_hostname)


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    body: str
    location: str | None


class _DeliveryError(Exception):
    """An attempt that got no usable answer; `retry` says whether waiting may help."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry
        self.status = status


def _connect(target: _Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the first checked address that accepts one (like the resolver-order
    fallback browsers do), never to a freshly resolved one."""
    last_error: OSError | None = None
    for address in target.addresses:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPSConnection(
                str(address),
                target.port,
                server_hostname=target.host,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(str(address), target.port, timeout=timeout)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            last_error = exc
            continue
        return connection
    assert last_error is not None  # _resolve never returns an empty list
    raise last_error


def _post_once(target: _Target, body: bytes, headers: dict[str, str]) -> _Response:
    connection = _connect(target, settings.CONVEYOR_WEBHOOK_TIMEOUT)
    try:
        # An explicit Host header makes http.client skip its own (which would be the IP).
        connection.request(
            "POST", target.path, body=body, headers={**headers, "Host": target.host_header}
        )
        response = connection.getresponse()
        # Only the start of the body is kept; a huge answer is not read at all.
        text = response.read(RESULT_BODY_BYTES).decode("utf-8", errors="replace")
        return _Response(
            status=response.status,
            reason=response.reason,
            body=text[:RESULT_BODY_CHARS],
            location=response.getheader("Location"),
        )
    finally:
        connection.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> _Response:
    """POST `body` to `url`, following up to MAX_REDIRECTS redirects, each checked anew."""
    current = url
    last: _Response | None = None
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            target = _target(current)
        except UnsafeTarget as exc:
            raise _DeliveryError(
                str(exc), retry=False, status=last.status if last else None
            ) from exc
        except UnresolvableHost as exc:
            raise _DeliveryError(
                str(exc), retry=True, status=last.status if last else None
            ) from exc
        try:
            last = _post_once(target, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            # Refused, reset, timed out, TLS failed, garbled answer: all may pass by waiting.
            raise _DeliveryError(
                _("Request to %(url)s failed: %(error)s")
                % {"url": current, "error": str(exc) or exc.__class__.__name__},
                retry=True,
            ) from exc
        if last.status not in REDIRECT_STATUSES or not last.location:
            return last
        # The same signed POST is sent on: a webhook turned into a body-less GET (what browsers
        # do for 301-303) would "succeed" without delivering anything.
        current = urljoin(current, last.location)
    raise _DeliveryError(
        _("More than %(max)d redirects.") % {"max": MAX_REDIRECTS},
        retry=False,
        status=last.status if last else None,
    )


def _status_text(response: _Response) -> str:
    line = f"HTTP {response.status} {response.reason}".rstrip()
    return f"{line}\n{response.body}" if response.body else line


def _record(
    delivery: WebhookDelivery, *, status: int | None, result: str, ok: bool, retry: bool
) -> None:
    """Write the outcome of an attempt (after the HTTP call, in one short transaction)."""
    with transaction.atomic():
        delivery.response_status = status
        delivery.save(update_fields=["response_status"])
        if ok:
            succeed(delivery, result)
            return
        fail(delivery, result, retry=retry)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery:
    """Make one attempt at `delivery_id` and record it; returns the delivery.

    A delivery that is not due or is being attempted elsewhere is returned unchanged (a
    duplicate job does nothing). 2xx is done; 4xx other than 408/429, a refused address and
    endless redirects fail for good; 5xx, 408, 429 and network errors retry with backoff until
    CONVEYOR_RETRY_MAX_ATTEMPTS. No database transaction is open during the HTTP request.
    """
    delivery = claim(WebhookDelivery, delivery_id)
    if delivery is None:
        return WebhookDelivery.objects.get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        # Switched off after the event was queued: the operator no longer wants these.
        succeed(delivery, _("The endpoint is switched off."), status=JobStatus.SKIPPED)
        return delivery

    body = _body(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Conveyor-Event": delivery.event,
        "X-Conveyor-Event-Id": delivery.event_id,
        "X-Conveyor-Timestamp": str(timestamp),
        "X-Conveyor-Signature": signature_header(
            secret=endpoint.secret, timestamp=timestamp, body=body
        ),
    }
    try:
        response = _post(endpoint.url, body, headers)
    except _DeliveryError as exc:
        logger.info("Webhook delivery %s failed: %s", delivery.pk, exc.message)
        _record(delivery, status=exc.status, result=exc.message, ok=False, retry=exc.retry)
        return delivery

    result = _status_text(response)
    if 200 <= response.status < 300:
        _record(delivery, status=response.status, result=result, ok=True, retry=False)
    else:
        # 5xx and 408/429 are the receiver's passing trouble; any other answer (4xx, an
        # unfollowed 3xx) will be the same next time.
        retry = response.status >= 500 or response.status in RETRYABLE_CLIENT_ERRORS
        logger.info("Webhook delivery %s answered %s", delivery.pk, response.status)
        _record(delivery, status=response.status, result=result, ok=False, retry=retry)
    return delivery


# --- Endpoints ----------------------------------------------------------------------------------


def webhook_endpoint_clean(
    *, name: str, url: str, events: Sequence[str], secret: str | None = None
) -> tuple[str, str, list[str], str]:
    """The endpoint's fields checked and normalised (name, url, events, secret): what
    `webhook_endpoint_create` and the admin form both accept. The URL must pass `url_check`
    now (and is checked again on every delivery, since what a name resolves to can change);
    without `secret` a random one is made."""
    name = name.strip()
    if not name:
        raise ServiceError(_("Give the webhook a name."), field="name")
    if len(name) > max_length(WebhookEndpoint, "name"):
        raise ServiceError(_("The name is too long."), field="name")

    url = url.strip()
    if len(url) > max_length(WebhookEndpoint, "url"):
        raise ServiceError(_("The URL is too long."), field="url")
    try:
        # The model's own validator first, so the admin never finds a stored URL invalid.
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise ServiceError(_("Enter a valid URL."), field="url") from exc
    url_check(url)  # UnsafeTarget / UnresolvableHost already name field="url"

    wanted = list(dict.fromkeys(events))
    unknown = [event for event in wanted if event not in WebhookEvent.values]
    if unknown:
        if all(event in Trigger.values for event in unknown):
            message = _(
                "Not told to subscribers: %(events)s. A time-based trigger reaches a webhook "
                "through an automation rule's “Call an outgoing webhook” action."
            )
        else:
            message = _("Unknown events: %(events)s.")
        raise ServiceError(message % {"events": ", ".join(map(str, unknown))}, field="events")

    if secret is None:
        secret = secrets.token_urlsafe(32)
    secret = secret.strip()
    # A short secret can be guessed offline from one captured request.
    if not 16 <= len(secret) <= max_length(WebhookEndpoint, "secret"):
        raise ServiceError(
            _("The signing secret must be 16 to 128 characters long."), field="secret"
        )
    return name, url, wanted, secret


def webhook_endpoint_create(
    *,
    by: User,
    name: str,
    url: str,
    events: Sequence[str],
    secret: str | None = None,
) -> WebhookEndpoint:
    """Register an endpoint (owners and heads). `events` are WebhookEvent values, none = every
    event; without `secret` a random one is made — read it from the returned endpoint to give to
    the receiver."""
    require_settings_access(by, _("Only owners and heads of sales may set up webhooks."))
    name, url, wanted, secret = webhook_endpoint_clean(
        name=name, url=url, events=events, secret=secret
    )
    return WebhookEndpoint.objects.create(name=name, url=url, secret=secret, events=wanted)
