from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import Cast
from conveyor.api.idempotency import _digest
from conveyor.api.models import IdempotencyRecord, IdempotencyState
from conveyor.api.tests.conftest import Api, ApiFor
from conveyor.api.tests.matrix.automation import PUBLIC_URL
from conveyor.automation.models import WebhookEndpoint
from conveyor.intake.models import Lead

pytestmark = pytest.mark.django_db

LEAD = {"name": "Ivan Petrov", "phone": "+359888123456"}


@pytest.fixture
def api(cast: Cast, api_for: ApiFor) -> Api:
    return api_for(cast.manager)


def test_replay_gives_the_first_response_and_writes_once(api: Api) -> None:
    first = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k1"})
    again = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1


def test_same_key_with_another_payload_is_refused(api: Api) -> None:
    api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k1"})
    other = api.post("/api/v1/leads", {**LEAD, "name": "Someone Else"}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert list(Lead.objects.values_list("name", flat=True)) == ["Ivan Petrov"]


def test_request_in_flight_gets_409(api: Api) -> None:
    # What the middleware holds while the first request with the key is still running.
    api.post("/api/v1/leads", {**LEAD, "name": "Probe"}, **{"Idempotency-Key": "probe"})
    probe = IdempotencyRecord.objects.get(key="probe")
    # The same request as below, so only the in-flight state can refuse it.
    api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "hash"})
    record = IdempotencyRecord.objects.get(key="hash")
    assert record.principal == probe.principal
    IdempotencyRecord.objects.create(
        principal=record.principal, key="k2", request_hash=record.request_hash
    )
    response = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k2"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "in_progress"
    assert Lead.objects.count() == 2  # the probe's and the hash request's, nothing more


def test_abandoned_in_flight_request_is_taken_over(api: Api) -> None:
    api.post("/api/v1/leads", {**LEAD, "name": "Probe"}, **{"Idempotency-Key": "probe"})
    record = IdempotencyRecord.objects.get(key="probe")
    IdempotencyRecord.objects.create(
        principal=record.principal,
        key="k3",
        request_hash="x" * 64,
        created_at=timezone.now() - dt.timedelta(minutes=10),
    )
    response = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k3"})
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get(key="k3").state == IdempotencyState.DONE


def test_key_is_forgotten_after_24_hours_but_the_lead_is_not_recorded_twice(api: Api) -> None:
    first = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k4"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    later = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k4"})
    assert later.status_code == 200  # ran again, and found the lead the key made
    assert later.json()["id"] == first.json()["id"]
    assert Lead.objects.count() == 1
    assert "Idempotent-Replayed" not in later


def test_keys_of_different_tokens_do_not_meet(cast: Cast, api_for: ApiFor) -> None:
    one, two = api_for(cast.manager), api_for(cast.manager)
    a = one.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "same"})
    b = two.post("/api/v1/leads", {**LEAD, "name": "Other"}, **{"Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201
    assert Lead.objects.count() == 2


def test_refused_authentication_is_not_remembered(cast: Cast, api_for: ApiFor) -> None:
    bad = Api("cvr_wrong")
    assert bad.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k5"}).status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_validation_error_is_replayed_too(api: Api) -> None:
    first = api.post("/api/v1/leads", {"name": "No contact"}, **{"Idempotency-Key": "k6"})
    again = api.post("/api/v1/leads", {"name": "No contact"}, **{"Idempotency-Key": "k6"})
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"
    assert not Lead.objects.exists()


def test_overlong_key_is_refused(api: Api) -> None:
    response = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not Lead.objects.exists()


def test_request_hash_covers_the_path_and_body() -> None:
    assert _digest(b"POST", b"/a", b"{}") != _digest(b"POST", b"/b", b"{}")
    assert _digest(b"POST", b"/a", b"{}") != _digest(b"POST", b"/a{}", b"")


# --- Answers holding a secret (`Cache-Control: no-store`) ---------------------------------------

WEBHOOK = {"name": "Billing", "url": PUBLIC_URL, "events": ["deal_won"]}


def _kept_anywhere(secret: str) -> bool:
    """Whether any idempotency row holds `secret`, in any column."""
    for row in IdempotencyRecord.objects.values():
        for value in row.values():
            if isinstance(value, bytes | memoryview):
                value = bytes(value).decode(errors="replace")
            if secret in str(value):
                return True
    return False


def _refused_replay(response: object) -> None:
    assert getattr(response, "status_code", None) == 409
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "idempotency_response_not_kept"
    assert "secret" in error["message"] and "not kept" in error["message"]
    assert "Idempotent-Replayed" not in response  # type: ignore[operator]


def test_a_new_webhooks_secret_is_not_kept_and_a_replay_does_not_create_another(
    cast: Cast, api_for: ApiFor
) -> None:
    head = api_for(cast.head)
    first = head.post("/api/v1/webhooks", WEBHOOK, **{"Idempotency-Key": "hook-1"})
    assert first.status_code == 201, first.content
    secret = first.json()["secret"]
    assert secret == WebhookEndpoint.objects.get().secret
    record = IdempotencyRecord.objects.get(key="hook-1")
    assert record.state == IdempotencyState.DONE_NOT_KEPT and bytes(record.body) == b""
    assert not _kept_anywhere(secret)
    again = head.post("/api/v1/webhooks", WEBHOOK, **{"Idempotency-Key": "hook-1"})
    _refused_replay(again)
    assert secret not in again.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    # The key still guards its request: another body under it is a reused key, as ever.
    other = head.post(
        "/api/v1/webhooks", {**WEBHOOK, "name": "Other"}, **{"Idempotency-Key": "hook-1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert WebhookEndpoint.objects.count() == 1


def test_a_rotated_secret_is_not_kept_and_a_replay_does_not_rotate_again(
    cast: Cast, api_for: ApiFor
) -> None:
    head = api_for(cast.head)
    endpoint_id = head.post("/api/v1/webhooks", WEBHOOK).json()["id"]
    path = f"/api/v1/webhooks/{endpoint_id}/rotate"
    first = head.post(path, **{"Idempotency-Key": "rotate-1"})
    assert first.status_code == 200, first.content
    secret = first.json()["secret"]
    assert WebhookEndpoint.objects.get().secret == secret
    assert not _kept_anywhere(secret)
    _refused_replay(head.post(path, **{"Idempotency-Key": "rotate-1"}))
    assert WebhookEndpoint.objects.get().secret == secret  # not rotated a second time


def test_an_answer_without_a_secret_is_still_kept_whole(api: Api) -> None:
    first = api.post("/api/v1/leads", LEAD, **{"Idempotency-Key": "plain"})
    record = IdempotencyRecord.objects.get(key="plain")
    assert record.state == IdempotencyState.DONE and bytes(record.body) == first.content


# --- Multipart uploads (a CRM export) -------------------------------------------------------------


def test_a_multipart_body_that_cannot_be_read_is_a_400(api: Api) -> None:
    answer = api.client.post(
        "/api/v1/me/tokens",
        data=b"--b\r\nContent-Disposition: form-data\r\n\r\nx",
        content_type="multipart/form-data; boundary=",
        headers=api._headers({"Idempotency-Key": "bad"}),
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "bad_request"
    assert not IdempotencyRecord.objects.exists()
