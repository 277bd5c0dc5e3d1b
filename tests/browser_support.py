"""Start the real app in a child process and drive Debian's Chromium with Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from simulator.llm.embedded import free_port
from simulator.settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class AppProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None, args: list[str] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = data_dir / "app.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, "SIMULATOR_BACKEND": "scripted", "SIMULATOR_DATA_DIR": str(data_dir),
                    "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(self.port), *args], cwd=PROJECT_ROOT, env=full_env,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the app did not answer on {self.url}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def running_app(data_dir: Path, env: dict[str, str] | None = None):
    """The app in a child process, up and answering; stopped on exit."""
    proc = AppProcess(data_dir, env=env)
    try:
        proc.wait()
        yield proc
    finally:
        proc.stop()


@contextmanager
def chromium():
    """Debian's Chromium, headless, through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(width: int = 1280, height: int = 900):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(20_000)
        yield page
