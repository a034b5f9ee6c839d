"""Start the web UI with the settings of the environment, and secure it when it is reachable.

Binding 127.0.0.1 (the default) serves this machine and SSH port forwards. A
share link or any other bind address exposes the UI, and with it the ability
to start processes and write files, so it then requires a login:
``LLAMABOARD_AUTH=user:password``, or a random password printed once here.
"""

import ipaddress
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Optional

from llamaboard.devices import detect_devices
from llamaboard.paths import Workspace
from llamaboard.run_queue import RunQueue, run_queue_worker
from llamaboard.ui import CSS, build_ui

GENERATED_USER = "admin"


@dataclass(frozen=True)
class LaunchSettings:
    server_name: str
    server_port: Optional[int]
    share: bool
    root_path: Optional[str]
    auth: Optional[tuple[str, str]]
    password_generated: bool = False


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
    auth, generated = None, False
    if share or not is_loopback(server_name):
        user, sep, password = environ.get("LLAMABOARD_AUTH", "").partition(":")
        if sep and user and password:
            auth = (user, password)
        else:
            auth, generated = (GENERATED_USER, secrets.token_urlsafe(12)), True
    return LaunchSettings(server_name, int(port) if port else None, share, environ.get("GRADIO_ROOT_PATH") or None, auth, generated)


def main() -> None:
    settings = settings_from_env()
    workspace = Workspace.from_env()
    demo, _ = build_ui(workspace)
    if settings.password_generated:
        print(f"LlamaBoard is reachable from other machines: log in as `{settings.auth[0]}` with password `{settings.auth[1]}` "
              "(set LLAMABOARD_AUTH=user:password to choose your own).", flush=True)
    _, local_url, share_url = demo.launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        share=settings.share,
        root_path=settings.root_path,
        auth=settings.auth,
        css=CSS,
        show_error=True,
        prevent_thread_lock=True,
        quiet=True,
    )
    print(f"LlamaBoard is running on {local_url}", flush=True)
    print(f"Public link: {share_url}" if share_url else "For a public link set GRADIO_SHARE=1 (a login is then required).", flush=True)
    run_queue_worker(RunQueue(workspace.workdir))
    threading.Thread(target=detect_devices, name="detect-devices", daemon=True).start()  # after start-up, not during it
    demo.block_thread()
