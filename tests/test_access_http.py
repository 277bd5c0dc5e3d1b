"""Who gets what from the running app, over raw HTTP and through the Gradio API (gradio_client).

The app runs in a child process on 127.0.0.1 with a seeded store: once user
accounts exist, an anonymous client gets nothing, and a logged-in trainee can
neither list nor open another trainee's call, whatever the API call says.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from simulator.settings import PROJECT_ROOT, Settings
from simulator.store import Store
from simulator.ui.login import check_listen_address
from simulator.errors import ConfigError
from simulator.users import UserDirectory

from .browser_support import running_app
from .review_support import make_team

PASSWORD = "motdepasse-1"
FILTERS = ("", "", None, None, "", "", "", "", "date_desc", "")  # the review tab's filters, all open


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("access") / "data"
    data.mkdir()
    store = Store(f"sqlite:///{data / 'simulator.db'}", heartbeat_seconds=0)
    calls = make_team(store)
    store.close()
    with running_app(data) as proc:
        proc.calls, proc.data = calls, data
        yield proc


def client(app, user):
    from gradio_client import Client

    return Client(app.url, auth=(user, PASSWORD), verbose=False, download_files=str(app.data / f"dl-{user}"))


def http(app, path: str, *, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(app.url.rstrip("/") + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace"), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace"), err.headers


def table_trainees(result) -> set[str]:
    table = result[0] if isinstance(result, (list, tuple)) else result
    return {row[1] for row in table["data"]}


def test_an_anonymous_client_gets_nothing(app):
    status, page, _ = http(app, "/")
    assert status == 200 and '"auth_required":true' in page  # the login page, and only that
    assert "window.gradio_api_info = {};" in page
    for secret in ("alice", "bruno", "list_calls", "open_call", "recalcitrant", *(c.id for c in app.calls["alice"])):
        assert secret not in page
    for path in ("/config", "/gradio_api/info", "/gradio_api/openapi.json", "/gradio_api/queue/data?session_hash=x"):
        status, body, _ = http(app, path)
        assert status == 401, (path, status, body[:200])
    join = json.dumps({"data": list(FILTERS), "fn_index": 0, "session_hash": "anon", "event_data": None}).encode()
    status, _, _ = http(app, "/gradio_api/queue/join", data=join, headers={"Content-Type": "application/json"})
    assert status == 401
    status, _, _ = http(app, "/gradio_api/call/list_calls", data=json.dumps({"data": list(FILTERS)}).encode(),
                        headers={"Content-Type": "application/json"})
    assert status == 401

    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with pytest.raises(AuthenticationError):
        Client(app.url, verbose=False)
    with pytest.raises(Exception):
        Client(app.url, auth=("alice", "wrong-password"), verbose=False)


def test_login_over_http_gives_a_cookie_that_opens_only_the_users_data(app):
    form = urllib.parse.urlencode({"username": "alice", "password": PASSWORD}).encode()
    status, _, headers = http(app, "/login", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    cookies = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie"))
    status, config, _ = http(app, "/config", headers={"Cookie": cookies})
    assert status == 200 and '"username":"alice"' in config.replace(" ", "")
    # the page served to a logged-in user carries no one's calls: they come through the checked handlers
    status, page, _ = http(app, "/", headers={"Cookie": cookies})
    assert status == 200 and not any(c.id[:10] in page for c in app.calls["bruno"])
    status, _, _ = http(app, "/login", data=urllib.parse.urlencode({"username": "alice", "password": "nope"}).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400


def test_a_trainee_lists_and_opens_only_their_own_calls_through_the_api(app):
    from gradio_client.exceptions import AppError

    alice = client(app, "alice")
    listed = alice.predict(*FILTERS, api_name="/list_calls")
    assert table_trainees(listed) == {"alice"} and len(listed[0]["data"]) == len(app.calls["alice"])
    # asking for bruno's calls by filter: refused by the dropdown's own check, or nothing of his
    try:
        asked = alice.predict("bruno", *FILTERS[1:], api_name="/list_calls")
    except AppError as exc:
        assert "not in the list of choices" in str(exc)
    else:
        assert "bruno" not in table_trainees(asked)
    # opening bruno's call by its id (full or prefix): refused, without confirming it exists
    for other in (app.calls["bruno"][0].id, app.calls["chloe"][0].id[:8]):
        with pytest.raises(AppError, match="Aucun appel"):
            alice.predict(other, api_name="/open_call")
    opened = alice.predict(app.calls["alice"][0].id, api_name="/open_call")
    assert app.calls["alice"][0].id in json.dumps(opened)
    # the trainee cannot review, even her own call
    with pytest.raises(AppError, match="rôle"):
        alice.predict(app.calls["alice"][0].agent_turns[0], "empathy", 5, "je me mets 5", api_name="/override_score")
    # exports hold her calls only
    exported = alice.predict(*FILTERS, api_name="/export_calls_json")
    path = exported["value"] if isinstance(exported, dict) else exported
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    assert {s["session"]["trainee"] for s in doc["sessions"]} == {"alice"}
    # progress: her own series whatever trainee the call names; no cohort
    progress = alice.predict(None, "", api_name="/progress")
    assert "**alice**" in progress[0] and "bruno" not in json.dumps(progress)
    cohort = alice.predict(api_name="/cohort")
    assert "bruno" not in json.dumps(cohort) and "chloe" not in json.dumps(cohort)


def test_a_reviewer_sees_their_team_and_reviews_it(app):
    from gradio_client.exceptions import AppError

    rita = client(app, "rita")
    assert table_trainees(rita.predict(*FILTERS, api_name="/list_calls")) == {"alice", "bruno"}
    with pytest.raises(AppError, match="Aucun appel"):
        rita.predict(app.calls["chloe"][0].id, api_name="/open_call")  # another team
    call = app.calls["bruno"][0]
    rita.predict(call.id, api_name="/open_call")
    rita.predict(call.agent_turns[0], "empathy", 4, "Reformulation correcte.", api_name="/override_score")
    store = Store(f"sqlite:///{app.data / 'simulator.db'}", heartbeat_seconds=0)
    try:
        from sqlalchemy import text

        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT author, dimension, score, reason FROM score_overrides WHERE session_id = :s"),
                                {"s": call.id}).all()
        assert [tuple(r) for r in rows] == [("rita", "empathy", 4, "Reformulation correcte.")]
        # an account removed while logged in loses access at its next request
        UserDirectory(store).remove("rita")
        with pytest.raises(AppError, match="reconnectez-vous"):
            rita.predict(*FILTERS, api_name="/list_calls")
    finally:
        store.close()


def test_single_user_mode_refuses_to_listen_beyond_loopback(tmp_path):
    result = subprocess.run([sys.executable, "app.py", "--backend", "scripted", "--host", "0.0.0.0", "--port", "0",
                             "--data-dir", str(tmp_path / "data")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr and "SIMULATOR_ALLOW_REMOTE_SINGLE_USER" in result.stderr
    check_listen_address(Settings(host="0.0.0.0", allow_remote_single_user=True), single_user=True)
    check_listen_address(Settings(host="0.0.0.0"), single_user=False)  # accounts exist: login protects it
    check_listen_address(Settings(host="127.0.0.1"), single_user=True)
    with pytest.raises(ConfigError):
        check_listen_address(Settings(host="192.168.1.10"), single_user=True)
