"""Where a web page (the UI, or `webchat`) listens, and the login it requires when it is reachable.

Binding 127.0.0.1 (the default) serves this machine and SSH port forwards. A
share link or any other bind address exposes the page, so it then requires a
login: ``LLAMABOARD_AUTH=user:password``, or a random password printed once at
start. LLAMABOARD_AUTH also guards a page on loopback (other users of a shared
machine reach 127.0.0.1 too). Settings come from Gradio's own variables:
GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, GRADIO_SHARE, GRADIO_ROOT_PATH.

Wrong passwords are slowed down per client address (``LoginThrottle``): a few
mistakes are free, then each further try must wait twice as long as the one
before (up to a minute), answered 429 without checking the password.
"""

import ipaddress
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

GENERATED_USER = "admin"
FREE_LOGIN_FAILURES = 5
"""Wrong logins from one address that go unpunished (typos), before each try must wait."""
LOGIN_DELAY_S = (1.0, 60.0)
"""The wait after the first failure beyond the free ones, and the longest wait; it doubles in between."""
LOGIN_FORGET_S = 900.0
"""An address without a failure for this long starts afresh."""


class LoginThrottle:
    """ASGI middleware in front of Gradio's ``POST /login``: slows down repeated wrong logins from one address.

    After ``free_failures`` failures (Gradio answers them 400), a try before
    the wait is over gets 429 with ``Retry-After``, without reaching the
    password check; a success forgets the address's failures. Behind a share
    link every visitor comes through the same tunnel address, so there the
    wait is shared: it slows a guesser down without locking anyone out for
    long.
    """

    def __init__(
        self,
        app,
        free_failures: int = FREE_LOGIN_FAILURES,
        delays_s: tuple[float, float] = LOGIN_DELAY_S,
        forget_s: float = LOGIN_FORGET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app, self.free_failures, self.delays_s, self.forget_s, self.clock = app, free_failures, delays_s, forget_s, clock
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (failures, time of the last one)
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds ``address`` must still wait before its next try (0: it may try now)."""
        now = self.clock()
        with self._lock:
            failures, last = self._failures.get(address, (0, now))
            if now - last > self.forget_s:
                self._failures.pop(address, None)
                return 0.0
        if failures < self.free_failures:
            return 0.0
        first, longest = self.delays_s
        delay = min(first * 2 ** (failures - self.free_failures), longest)
        return max(0.0, last + delay - now)

    def record(self, address: str, succeeded: bool) -> None:
        with self._lock:
            if succeeded:
                self._failures.pop(address, None)
            else:
                if len(self._failures) > 10_000:  # many addresses: drop the oldest half rather than grow without bound
                    for key in sorted(self._failures, key=lambda key: self._failures[key][1])[:5_000]:
                        del self._failures[key]
                self._failures[address] = (self._failures.get(address, (0, 0.0))[0] + 1, self.clock())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown",))[0]
        wait = self.wait_s(address)
        if wait > 0:
            retry_after = int(wait) + 1
            body = json.dumps({"detail": f"Too many failed logins: try again in {retry_after} s."}).encode()
            headers = [(b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        status = {}

        async def watch(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code") == 400 or status.get("code") == 200:  # Gradio: 400 wrong credentials, 200 logged in
            self.record(address, succeeded=status["code"] == 200)


@dataclass(frozen=True)
class LaunchSettings:
    server_name: str
    server_port: Optional[int]
    share: bool
    root_path: Optional[str]
    auth: Optional[tuple[str, str]]
    password_generated: bool = False

    def launch_kwargs(self) -> dict:
        """Arguments for Gradio's ``launch()``: returns at once (the caller prints the URL with ``announce``, then blocks)."""
        return {
            "server_name": self.server_name,
            "server_port": self.server_port,
            "share": self.share,
            "root_path": self.root_path,
            "auth": self.auth,
            "show_error": True,
            "prevent_thread_lock": True,
            "quiet": True,
            "app_kwargs": {"middleware": [login_throttle()]},
        }


def login_throttle():
    """The ``LoginThrottle`` as a Starlette middleware entry (for FastAPI's ``middleware=``)."""
    from starlette.middleware import Middleware

    return Middleware(LoginThrottle)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_from_env(environ: dict[str, str] = os.environ) -> LaunchSettings:
    server_name = environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = environ.get("GRADIO_SERVER_PORT")
    share = environ.get("GRADIO_SHARE", "").strip().lower() in ("1", "true", "yes")
    user, sep, password = environ.get("LLAMABOARD_AUTH", "").partition(":")
    auth, generated = ((user, password) if sep and user and password else None), False
    if auth is None and (share or not is_loopback(server_name)):
        auth, generated = (GENERATED_USER, secrets.token_urlsafe(12)), True
    return LaunchSettings(server_name, int(port) if port else None, share, environ.get("GRADIO_ROOT_PATH") or None, auth, generated)


def announce_login(name: str, settings: LaunchSettings) -> None:
    """Print a generated password before the page serves, so it is known by the time anyone can reach it."""
    if settings.password_generated:
        print(
            f"{name} is reachable from other machines: log in as `{settings.auth[0]}` with password `{settings.auth[1]}` "
            "(set LLAMABOARD_AUTH=user:password to choose your own).",
            flush=True,
        )


def announce(name: str, local_url: str, share_url: Optional[str]) -> None:
    """Print where the page is, instead of Gradio's own launch() hints."""
    print(f"{name} is running on {local_url}", flush=True)
    print(f"Public link: {share_url}" if share_url else "For a public link set GRADIO_SHARE=1 (a login is then required).", flush=True)
