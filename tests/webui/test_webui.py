"""The Temporal Web UI finds a running recording by its search attributes, seen through headless Chromium.

A dev server runs with its Web UI on a free loopback port; the emulator and the product's worker run in this process.
Debian's Chromium (installed by `make browser`) is driven by Playwright with `executable_path`, since Playwright's own
browser download does not work on these machines. One recording runs for the whole module and is stopped at the end.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, FrameLocator, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout
from temporalio.client import Client, WorkflowHandle

from emulator.testing import running_emulator
from recorder.connection import connect
from recorder.devserver import DevServer
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, request, start
from workflows import names
from workflows.models import RecordingManifest, RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow

CHROMIUM = "/usr/bin/chromium"
# The flags known to work here; without the networking ones Chromium keeps dialling Google's hosts, which this
# closed network refuses. Playwright adds --headless and a fresh --user-data-dir (the profile directory below).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_DEADLINE = 30.0
BACKEND_DEADLINE = 30.0
NAMESPACE = "default"

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing: run `make browser` (as root) to install it"
    ),
]

T = TypeVar("T")
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]


@dataclass
class Recording:
    """The module's running recording and where its Web UI is."""

    handle: Handle
    run_id: str
    channel: str
    ui_url: str


async def poll(probe: Callable[[], Awaitable[T | None]], *, within: float, what: str) -> T:
    """Call `probe` until it returns a value other than None; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.2)


def channel_query(channel: str) -> str:
    """The visibility query an operator types to find a channel's recording."""
    return f'{names.CHANNEL.name}="{channel}"'


def list_url(ui_url: str, query: str) -> str:
    """The Web UI's workflow list for the namespace, filtered by a visibility query."""
    return f"{ui_url}/namespaces/{NAMESPACE}/workflows?{urlencode({'query': query}, quote_via=quote)}"


def workflow_url(rec: Recording, tab: str) -> str:
    """One tab of the recording's workflow page in the Web UI."""
    return f"{rec.ui_url}/namespaces/{NAMESPACE}/workflows/{quote(rec.handle.id, safe='')}/{rec.run_id}/{tab}"


async def wait_until_listed(client: Client, handle: Handle, channel: str) -> None:
    """Wait until the status query says "recording" and the visibility store finds the workflow by its channel."""

    async def recording() -> RecordingStatus | None:
        status = await handle.query(RecordingWorkflow.status)
        return status if status.phase == "recording" else None

    await poll(recording, within=BACKEND_DEADLINE, what='the phase "recording"')

    async def listed() -> list[str] | None:
        ids = [wf.id async for wf in client.list_workflows(channel_query(channel))]
        return ids or None

    assert await poll(listed, within=BACKEND_DEADLINE, what="the workflow in the visibility store") == [handle.id]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def recording(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Recording]:
    """A dev server with its Web UI, a worker against a fresh emulator, and one recording in the phase "recording"."""
    logs = tmp_path_factory.mktemp("devserver")
    server = DevServer(ui=True, log_file=logs / "devserver.log")
    try:
        await server.start()
        assert server.ui_url is not None
        client = await connect(target_host=server.address)
        async with running_emulator(fast_emulator_config()) as emu, worker_for(client, emu) as queue:
            req = request(max_duration=None)
            emu.join(req.channel, TEACHER)
            handle = await start(client, queue, req)
            try:
                await wait_until_listed(client, handle, req.channel)
                run_id = (await handle.describe()).run_id
                assert run_id is not None
                yield Recording(handle, run_id, req.channel, server.ui_url)
            finally:
                manifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest(reason="web ui test done"))
            assert manifest.phase == "stopped"
            assert manifest.stop_trigger == "requested"
    finally:
        await server.stop()
    assert server.pid is None


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile directory, driven by Playwright; closed (and reaped) at the end."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    """A fresh tab, closed after the test."""
    tab = await browser.new_page()
    try:
        yield tab
    finally:
        await tab.close()


async def text_when(page: Page, needle: str, shot: Path) -> str:
    """Wait until the page's rendered text contains `needle`, screenshot the page, and return the text."""
    try:
        await page.wait_for_function(
            "needle => document.body !== null && document.body.innerText.includes(needle)",
            arg=needle,
            timeout=UI_DEADLINE * 1000,
            polling=250,
        )
    except PlaywrightTimeout:
        shown = (await page.inner_text("body"))[:1500]
        raise AssertionError(f"{needle!r} not on {page.url} within {UI_DEADLINE:g} s; it showed:\n{shown}") from None
    finally:
        await page.screenshot(path=str(shot), full_page=True)
    return await page.inner_text("body")


async def test_list_filtered_by_channel_shows_the_running_recording(
    recording: Recording, page: Page, tmp_path: Path
) -> None:
    """The workflow list filtered by AgoraChannel="<channel>" lists the recording as a running RecordingWorkflow."""
    await page.goto(list_url(recording.ui_url, channel_query(recording.channel)))
    text = await text_when(page, recording.handle.id, tmp_path / "list.png")
    assert recording.handle.id in text
    assert recording.run_id in text
    assert names.WORKFLOW_NAME in text
    assert "RUNNING" in text
    assert (tmp_path / "list.png").stat().st_size > 10_000


async def test_list_filtered_by_another_channel_does_not_show_it(
    recording: Recording, page: Page, tmp_path: Path
) -> None:
    """The same list filtered by another channel finishes loading empty, without the recording."""
    other = f"class-{uuid.uuid4().hex[:10]}"
    await page.goto(list_url(recording.ui_url, channel_query(other)))
    # The UI shows this only once the query has answered (it never flashes it while a matching list loads).
    await text_when(page, "No Workflows Found", tmp_path / "other-list.png")
    await page.wait_for_load_state("networkidle")
    text = await page.inner_text("body")
    assert "No Workflows Found" in text
    assert other in text  # the filter shown is the one asked for
    assert recording.handle.id not in text
    assert recording.run_id not in text


async def test_search_attributes_tab_shows_phase_and_channel(recording: Recording, page: Page, tmp_path: Path) -> None:
    """The workflow page's Search Attributes tab shows the phase "recording" and the channel the workflow upserted."""
    await page.goto(workflow_url(recording, "search-attributes"))
    text = await text_when(page, f'"{names.PHASE.name}": "recording"', tmp_path / "search-attributes.png")
    assert f'"{names.CHANNEL.name}": "{recording.channel}"' in text
    assert recording.handle.id in text and "RUNNING" in text


async def test_current_details_show_phase_and_channel(recording: Recording, page: Page, tmp_path: Path) -> None:
    """The workflow page's User Metadata tab renders the workflow's current details: phase and channel."""
    await page.goto(workflow_url(recording, "user-metadata"))
    # The UI renders the details' markdown in an iframe of its own.
    details: FrameLocator = page.frame_locator("iframe[src*='/render']")
    try:
        await details.get_by_text(recording.channel, exact=True).first.wait_for(timeout=UI_DEADLINE * 1000)
    except PlaywrightTimeout:
        await page.screenshot(path=str(tmp_path / "user-metadata.png"), full_page=True)
        raise
    await page.screenshot(path=str(tmp_path / "user-metadata.png"), full_page=True)
    phase = (await details.locator("strong").first.inner_text()).strip()
    assert phase == "recording"
    body = await details.locator("body").inner_text()
    assert f"channel {recording.channel}" in body
