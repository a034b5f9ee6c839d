"""Where a web page (the UI, or `webchat`) listens, and the login it requires when it is reachable.

Binding 127.0.0.1 (the default) serves this machine and SSH port forwards. A
share link or any other bind address exposes the page, so it then requires a
login: ``LLAMABOARD_AUTH=user:password``, or a random password printed once at
start. LLAMABOARD_AUTH also guards a page on loopback (other users of a shared
machine reach 127.0.0.1 too). Settings come from Gradio's own variables:
GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, GRADIO_SHARE, GRADIO_ROOT_PATH.
"""

import ipaddress
import os
import secrets
from dataclasses import dataclass
from typing import Optional

GENERATED_USER = "admin"


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
        }


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
