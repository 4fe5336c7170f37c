"""Browser tests on ``make ui``'s stack: one running Airflow for the whole session, driven in Chromium.

* The stack is the ``make ui`` command itself (``python -m airflow_provider_videogen.testing.ui``),
  started once per session in a temporary state folder with the repo's ``dags/`` and
  ``tests/dag_files/ui/``; the last test stops it with SIGINT (Ctrl-C) and checks that no
  process is left.
* The browser is Debian's Chromium (``/usr/bin/chromium``), driven by Playwright, which cannot
  download its own browser here. ``make test`` installs Chromium when it is missing; when it is
  still missing, these tests FAIL (a skipped UI suite would look green and prove nothing).
* Every step saves a screenshot under ``ui-screenshots/`` (printed at the start and the end of
  the session), named ``<test>-<nn>-<step>.png``, so a reviewer can see what the test saw.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import httpx
import pytest

from airflow_provider_videogen.testing.airflow_components import AirflowApi

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VIDEOGEN_UI_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("VIDEOGEN_UI_SCREENSHOTS", ROOT / "ui-screenshots"))
STARTUP_TIMEOUT = 360.0
#: Playwright's wait for one element; the UI polls the API every few seconds on a busy machine.
UI_TIMEOUT_MS = 45_000


@dataclass
class UiStack:
    """The running ``make ui`` process and what its banner printed."""

    process: subprocess.Popen[bytes]
    log_path: Path
    url: str
    username: str
    password: str
    simulator_url: str
    s3_url: str
    pids: set[int] = field(default_factory=set)
    _api: AirflowApi | None = None

    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            self._api = AirflowApi(self.url, self.username, self.password)
        return self._api

    def sim_stats(self) -> dict[str, Any]:
        key = re.search(r"API key (\S+);", self.log())  # the banner's; /_sim routes need it (issue 21 point 17)
        headers = {"Authorization": f"Bearer {key.group(1) if key else ''}"}
        return dict(httpx.get(f"{self.simulator_url}/_sim/stats", headers=headers, timeout=10).json())

    def creates_for(self, prompt: str) -> int:
        """Create requests the simulator received for ``prompt`` (unique per test, so runs in parallel don't mix)."""
        requests = self.sim_stats().get("generation_requests", [])
        return sum(1 for r in requests if (r.get("body") or {}).get("prompt") == prompt)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> set[int]:
        import psutil

        try:
            return {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()

    def interrupt(self, timeout: float = 90.0) -> int:
        """Ctrl-C as a terminal sends it (SIGINT to the process group); return the exit code."""
        if self.process.poll() is None:
            self.pids |= self.descendants()
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self._api is not None:
                self._api.close()
                self._api = None


class Banner(TypedDict):
    """What ``make ui`` prints once it is ready (the :class:`UiStack` fields after the process)."""

    url: str
    username: str
    password: str
    simulator_url: str
    s3_url: str


def _wait_for_banner(process: subprocess.Popen[bytes], log_path: Path) -> Banner:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "ready in" in text:
            found = {
                "url": re.search(r"Airflow UI: (\S+)", text),
                "login": re.search(r"login: (\S+) / (\S+)", text),
                "simulator": re.search(r"simulator: (\S+)", text),
                "s3": re.search(r"S3 \(SeaweedFS\): (\S+),", text),
            }
            missing = [k for k, v in found.items() if v is None]
            assert not missing, f"make ui printed no {missing}:\n{text}"
            url, login, sim, s3 = (found[k] for k in ("url", "login", "simulator", "s3"))
            assert url
            assert login
            assert sim
            assert s3
            return {
                "url": url.group(1),
                "username": login.group(1),
                "password": login.group(2),
                "simulator_url": sim.group(1),
                "s3_url": s3.group(1),
            }
        if process.poll() is not None:
            raise AssertionError(f"make ui exited with {process.returncode} before it was ready:\n{text}")
        time.sleep(1)
    raise AssertionError(f"make ui not ready after {STARTUP_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    print(f"\n[ui] screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    """``make ui`` in a temporary state folder, with the example DAGs and the UI test DAGs."""
    state = tmp_path_factory.mktemp("videogen-ui-state")
    log_path = state.parent / "make-ui.log"
    command = [
        sys.executable,
        "-m",
        "airflow_provider_videogen.testing.ui",
        "--state-dir",
        str(state),
        "--port",
        "0",
        "--dags",
        str(ROOT / "dags"),
        "--dags",
        str(ROOT / "tests" / "dag_files" / "ui"),
        "--render-seconds",
        "1",
        "--parallelism",
        "3",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    started = time.monotonic()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        stack = UiStack(process=process, log_path=log_path, **_wait_for_banner(process, log_path))
        print(f"\n[ui] make ui ready in {time.monotonic() - started:.0f} s at {stack.url} (log {log_path})")
        yield stack
    finally:
        if process.poll() is None:
            try:
                UiStack(process, log_path, "", "", "", "", "").interrupt()
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian's package; a missing browser is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the UI tests need Debian's Chromium. `make test` installs it "
            "(apt-get install -y chromium, as root); or set VIDEOGEN_UI_CHROMIUM to a Chromium binary."
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def login_state(browser: Any, ui_stack: UiStack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Log in once through the login form; every test's page reuses the session cookie."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(ui_stack.url)
    page.locator("input[name=username]").fill(ui_stack.username)
    page.locator("input[name=password]").fill(ui_stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/" not in url)
    # Warm-up: the API server's first UI requests are slow (seen: over 30 s on a loaded 2-core
    # machine); let them happen here, once, rather than in the first test's timeout.
    from playwright.sync_api import expect

    page.goto(f"{ui_stack.url}/dags")
    expect(page.get_by_role("link", name="videogen_pipeline").first).to_be_visible(timeout=180_000)
    path = str(tmp_path_factory.mktemp("ui-login") / "state.json")
    context.storage_state(path=path)
    context.close()
    return path


@pytest.fixture
def page(browser: Any, login_state: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, storage_state=login_state)
    new_page = context.new_page()
    new_page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield new_page
    finally:
        context.close()


@pytest.fixture
def shot(page: Any, screenshot_dir: Path, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``shot("step")`` saves the page as ``<test>-<nn>-<step>.png`` and returns the path."""
    counter = iter(range(1, 100))
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)

    def _shot(step: str) -> Path:
        path = screenshot_dir / f"{name}-{next(counter):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"[ui] screenshots of every step: {SCREENSHOTS}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """On failure: a screenshot of the page as it was, and the tails of ``make ui``'s logs."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when != "call":
        return
    funcargs = getattr(item, "funcargs", {})
    page = funcargs.get("page")
    if page is not None:
        path = SCREENSHOTS / f"FAILED-{re.sub(r'[^A-Za-z0-9_-]+', '_', item.name)}.png"
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("screenshot", str(path)))
        except Exception as exc:  # the page may be gone; the report matters more
            report.sections.append(("screenshot", f"none: {exc}"))
    stack = funcargs.get("ui_stack")
    if isinstance(stack, UiStack):
        tails = [stack.log()[-1500:]]
        match = re.search(r"state \(DB[^:]*: (\S+)", stack.log())
        if match:
            for name in ("scheduler", "triggerer"):
                log = Path(match.group(1)) / "airflow" / f"{name}.log"
                if log.exists():
                    lines = [ln[:300] for ln in log.read_text(errors="replace").splitlines()[-12:]]
                    tails.append(f"----- {name} -----\n" + "\n".join(lines))
        report.sections.append(("make ui", "\n".join(tails)))
