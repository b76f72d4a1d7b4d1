"""Who may call the API: a session (with CSRF) or a token from `create_token`; each user sees only their own
portfolios and jobs; staff-only endpoints stay staff-only."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ingest.models import FetchJob, Ticker
from ingest.services.job_requests import request_fetch
from portfolios.tests.factories import make_portfolio, make_user
from stockhub.queues import Reason

pytestmark = pytest.mark.django_db(transaction=True)


def create_token(username: str, *args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("create_token", username, *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_create_token_prints_the_same_token_until_rotated(alice):
    first = create_token("alice")
    assert len(first) == 40 and create_token("alice") == first
    rotated = create_token("alice", "--rotate")
    assert rotated != first and Token.objects.get(user=alice).key == rotated


def test_create_token_refuses_an_unknown_or_inactive_user():
    with pytest.raises(CommandError, match="no user 'ghost'"):
        create_token("ghost")
    gone = make_user("gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(CommandError, match="inactive"):
        create_token("gone")


def test_a_script_with_a_token_reads_and_writes_without_csrf(alice):
    make_portfolio(owner=alice, name="Main")
    client = token_client(create_token("alice"))
    client.handler.enforce_csrf_checks = True
    assert [p["name"] for p in client.get("/api/portfolios").json()["results"]] == ["Main"]
    assert client.post("/api/portfolios", {"name": "Scripted"}, format="json").status_code == 201


def test_a_rotated_token_stops_working(alice):
    old = create_token("alice")
    create_token("alice", "--rotate")
    response = token_client(old).get("/api/portfolios")
    assert response.status_code == 403 and response.json() == {
        **response.json(),
        "code": "AUTHENTICATION_FAILED",
        "message": "Invalid token.",
    }


def test_the_token_of_a_deactivated_user_stops_working_at_once(alice):
    client = token_client(create_token("alice"))
    assert (
        client.get("/api/portfolios").json()["results"] == []
        and client.get("/api/bars/AAPL").status_code == 404
    )
    alice.is_active = False
    alice.save()
    response = client.get("/api/portfolios")
    assert response.status_code == 403 and response.json()["message"] == "User inactive or deleted."


def test_a_token_authenticates_its_own_user_with_every_field(alice, clean_broker):
    make_user("bob", staff=True)
    client = token_client(create_token("alice"))
    assert client.get("/api/queues/stats").status_code == 403  # alice is not staff; bob's flag is not hers
    alice.is_staff = True
    alice.save()
    assert client.get("/api/queues/stats").status_code == 200


def test_without_a_login_the_api_says_how_to_authenticate():
    response = APIClient().get("/api/portfolios")
    assert response.status_code == 403 and response.json()["code"] == "NOT_AUTHENTICATED"


def test_a_session_write_needs_the_csrf_token(alice):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    refused = browser.post("/api/portfolios", {"name": "Tech"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "PERMISSION_DENIED"
    assert "CSRF" in refused.json()["message"]
    browser.get("/admin/login/")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/portfolios", {"name": "Tech"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_a_user_sees_only_jobs_they_requested_and_staff_see_all(api, alice, clean_broker):
    ticker = Ticker.objects.create(symbol="AAPL")
    mine = request_fetch(ticker=ticker, timeframe="daily", reason=Reason.USER_REQUEST, requested_by=alice)
    theirs = request_fetch(
        ticker=ticker, timeframe="hourly", reason=Reason.USER_REQUEST, requested_by=make_user("bob")
    )
    scheduled = request_fetch(ticker=ticker, timeframe="weekly", reason=Reason.SCHEDULED)
    assert api.get(f"/api/jobs/{mine.job_id}").json()["id"] == mine.job_id
    for job_id in (theirs.job_id, scheduled.job_id):
        response = api.get(f"/api/jobs/{job_id}")
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
        assert "hourly" not in response.content.decode()
    staff = APIClient()
    staff.force_login(make_user("root", staff=True))
    assert staff.get(f"/api/jobs/{theirs.job_id}").status_code == 200
    assert FetchJob.objects.count() == 3


def test_queue_stats_stay_staff_only_with_a_token(alice, clean_broker):
    response = token_client(create_token("alice")).get("/api/queues/stats")
    assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
