"""The login slows down repeated wrong passwords from one address (real HTTP against app.py), and only from that one."""

import http.client
import time
import urllib.parse

import pytest
from conftest import AppServer, make_workdir

from workflows.web_settings import LoginThrottle

pytestmark = pytest.mark.timeout(180)
PASSWORD = "right-horse-battery"


def _login(server: AppServer, password: str, source: str = "127.0.0.1") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(source, 0))
    body = urllib.parse.urlencode({"username": "alice", "password": password})
    connection.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("login")
    server = AppServer(make_workdir(root), {"LLAMABOARD_AUTH": f"alice:{PASSWORD}"}, root / "app.log")
    yield server
    server.stop()


def test_a_guesser_gets_a_few_tries_then_waits_longer_and_longer(guarded_server):
    started = time.monotonic()
    statuses = [_login(guarded_server, f"guess-{number}").status for number in range(200)]
    checked = statuses.count(400)
    assert statuses[:5] == [400] * 5, "the first few mistakes (typos) must be answered normally"
    assert set(statuses) == {400, 429}
    assert checked <= 8, f"{checked} of 200 rapid guesses reached the password check in {time.monotonic() - started:.1f} s"

    # The right password does not get through during the wait (the guess is not even checked) ...
    refused = _login(guarded_server, PASSWORD)
    assert refused.status == 429 and int(refused.getheader("Retry-After")) >= 1
    # ... another address is not slowed down by this one's mistakes ...
    assert _login(guarded_server, PASSWORD, source="127.0.0.2").status == 200
    # ... and after the wait the right password logs in and forgets the failures.
    time.sleep(int(refused.getheader("Retry-After")) + 0.2)
    assert _login(guarded_server, PASSWORD).status == 200
    assert _login(guarded_server, "typo").status == 400


def test_the_wait_doubles_per_failure_up_to_a_minute_and_is_forgotten():
    now = [1000.0]
    throttle = LoginThrottle(app=None, free_failures=2, delays_s=(1.0, 60.0), forget_s=900.0, clock=lambda: now[0])
    for _ in range(2):
        assert throttle.wait_s("a") == 0
        throttle.record("a", succeeded=False)
    waits = []
    for _ in range(9):
        waits.append(throttle.wait_s("a"))
        now[0] += waits[-1]
        throttle.record("a", succeeded=False)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert throttle.wait_s("b") == 0
    now[0] += 901
    assert throttle.wait_s("a") == 0
