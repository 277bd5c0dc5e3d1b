"""Login and access checks for the Gradio app.

Gradio's own login page (`launch(auth=...)`) guards every route and API call
once user accounts exist; each handler then asks `current_user(sim, request)`
and checks the rules of `simulator.auth` server-side. Without any account the
app is single-user and only listens on loopback unless the setting
`allow_remote_single_user` says otherwise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections import deque
from http.cookies import SimpleCookie

import gradio as gr

from ..auth import Access, AccessDenied, Capability
from ..errors import ConfigError, SimulatorError
from ..settings import Settings
from ..users import User
from .i18n import t

FAILURES_ALLOWED = 5          # wrong passwords per user name …
FAILURE_WINDOW = 300.0        # … within 5 minutes, then that name is refused for the rest of the window


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_address(settings: Settings, single_user: bool) -> None:
    """Refuse to expose a login-less app beyond this machine unless told explicitly."""
    if single_user and not is_loopback(settings.host) and not settings.allow_remote_single_user:
        raise ConfigError(
            f"refusing to listen on {settings.host}: no user account exists, so anyone reaching this address would "
            "see and use every call. Add accounts first (`python -m simulator users add NAME --role admin`), "
            "listen on 127.0.0.1 (`--host 127.0.0.1`), or set SIMULATOR_ALLOW_REMOTE_SINGLE_USER=true to allow it anyway."
        )


class LoginGate:
    """`check` is the `auth` function given to Gradio: the password is verified in a thread, guessing is throttled."""

    def __init__(self, access: Access):
        self.access = access
        self.failures: dict[str, deque[float]] = {}

    async def check(self, username: str, password: str) -> bool:
        name = (username or "").strip().lower()
        now = time.monotonic()
        recent = self.failures.setdefault(name, deque())
        while recent and now - recent[0] > FAILURE_WINDOW:
            recent.popleft()
        if len(recent) >= FAILURES_ALLOWED:
            return False
        ok = await asyncio.to_thread(self.access.authenticate, name, password)
        if not ok:
            recent.append(now)
        else:
            recent.clear()
        return ok


_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.S)


class HideApiFromAnonymous:
    """ASGI middleware: Gradio inlines its API description (endpoint names, parameters, the
    choices of every dropdown) in the login page it serves to anyone; blank it for a visitor
    who is not logged in, so an anonymous client learns nothing about the app."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith("/gradio_api/"):
            return await self.app(scope, receive, send)
        gradio_app = scope.get("app")
        if gradio_app is None or getattr(gradio_app, "auth", None) is None or self._logged_in(scope, gradio_app):
            return await self.app(scope, receive, send)
        start: dict | None = None
        body = bytearray()

        async def capture(message):
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            content = _API_INFO.sub(b"window.gradio_api_info = {};</script>", bytes(body))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, capture)

    @staticmethod
    def _logged_in(scope, gradio_app) -> bool:
        cookie = SimpleCookie()
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed cookie header: treat as anonymous
                    return False
        cookie_id = getattr(gradio_app, "cookie_id", "")
        tokens = getattr(gradio_app, "tokens", {})
        return any(name in cookie and cookie[name].value in tokens
                   for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"))


def launch_auth(access: Access, lang: str) -> dict:
    """Keyword arguments for `Blocks.launch`: Gradio's login page once accounts exist."""
    if access.single_user():
        return {}
    from starlette.middleware import Middleware

    # A plain coroutine function: Gradio awaits `auth` only when inspect.iscoroutinefunction says so, and an
    # object with an async __call__ would hand it a (truthy) coroutine — every password would be accepted.
    return {"auth": LoginGate(access).check, "auth_message": t(lang, "login_message"),
            "app_kwargs": {"middleware": [Middleware(HideApiFromAnonymous)]}}


def current_user(access: Access, request: gr.Request | None) -> User | None:
    """The user behind a Gradio request (the single local user when no account exists)."""
    return access.user(getattr(request, "username", None) if request is not None else None)


def require(access: Access, request: gr.Request | None, lang: str, capability: Capability | None = None) -> User:
    """The request's user, or a `gr.Error` the browser shows; use at the top of every handler."""
    user = current_user(access, request)
    if user is None:
        raise gr.Error(t(lang, "error_login"))
    if capability is not None and not access.can(user, capability):
        raise gr.Error(t(lang, "error_role", role=t(lang, f"role_{user.role}")))
    return user


def as_gr_error(exc: SimulatorError, lang: str) -> gr.Error:
    """The error in the interface's language when it has a code the tables know, else its own message."""
    code = getattr(exc, "code", None)
    if code:
        try:
            return gr.Error(t(lang, f"err_{code}", **getattr(exc, "params", {})))
        except KeyError:
            pass
    return gr.Error(str(exc))


def who_is_here(access: Access, request: gr.Request | None, lang: str) -> str:
    """The header line: who is logged in, with a logout link, or the single-user notice."""
    if access.single_user():
        return t(lang, "single_user_banner")
    user = current_user(access, request)
    if user is None:
        return t(lang, "error_login")
    return t(lang, "logged_in_as", name=user.label, role=t(lang, f"role_{user.role}"))


def gate(demo: gr.Blocks, component, access: Access, capability: Capability) -> None:
    """Show `component` (a tab, a group) only to users with `capability`.

    Hiding is for comfort only: the component's handlers must still call `require`.
    Example for the Scenarios tab: `gate(demo, scenarios_tab, sim.access, "manage_scenarios")`.
    """
    def visible(request: gr.Request):
        return gr.update(visible=access.can(current_user(access, request), capability))

    demo.load(visible, None, component, api_visibility="private")


def can_manage_scenarios(access: Access):
    """The Scenarios tab's permission hook: trainers and admins (everyone in single-user mode)."""
    def allowed(request: gr.Request | None = None) -> bool:
        return access.can(current_user(access, request), "manage_scenarios")
    return allowed
