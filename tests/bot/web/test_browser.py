"""The web chat in a real headless Chromium: type, see the image, vote, find the vote in SQLite."""

import shutil

import pytest
from aiohttp.test_utils import TestServer

from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.web.app import make_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def feed():
    return AnnouncementFeed()


@pytest.fixture
async def page(core, feed):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    server = TestServer(make_app(core, BotConfig(), feed))
    await server.start_server()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = await browser.new_page()
        await page.goto(str(server.make_url("/")))
        yield page
        await browser.close()
    await server.close()


async def test_type_a_command_see_the_image_vote_and_find_it_in_sqlite(page, store):
    await page.fill("#user", "carol")
    await page.dispatch_event("#user", "change")
    await page.fill("#command", "/mascot hair:green smile:no seed:77")
    await page.click("#send")
    img = page.locator(".post img")
    await img.wait_for(state="visible", timeout=20_000)
    assert await img.evaluate("i => i.complete && i.naturalWidth") == 32  # the PNG really loaded
    generation = await page.locator(".post").get_attribute("data-generation")
    assert "hair:green" in await page.locator(".msg.bot").inner_text()

    await page.click(".vote-up")
    await page.locator(".vote-up.on").wait_for(timeout=10_000)
    assert (await page.locator(".vote-up").inner_text()).strip() == "👍 1"
    gen = store.generation(generation)
    # The browser's session is the voter and the maker, whatever name it typed.
    assert gen.requester.startswith("web:") and gen.requester != "web:carol"
    assert store.votes(generation) == {gen.requester: 1}
    assert (gen.seed, gen.attributes["hair"], gen.platform) == (77, "green", "web")

    await page.click(".vote-down")  # changing replaces
    await page.locator(".vote-down.on").wait_for(timeout=10_000)
    assert store.votes(generation) == {gen.requester: -1}


async def test_a_bad_value_shows_the_allowed_values(page):
    await page.fill("#command", "/mascot hair:purple")
    await page.press("#command", "Enter")
    private = page.locator(".msg.private")
    await private.wait_for(timeout=10_000)
    assert "allowed: red, green, blue" in await private.inner_text()


async def test_announcements_show_up_as_system_messages(page, feed):
    feed.add("New mascot model v1 is live.")
    feed.add("New mascot model v2 is live.")
    await page.reload()  # a page opened now shows the latest announcement, not the whole backlog
    system = page.locator(".msg.system")
    await system.first.wait_for(timeout=10_000)
    assert await system.count() == 1 and "v2 is live" in await system.inner_text()
    assert await system.locator("time").get_attribute("datetime") == feed.after(1)[0].time
    feed.add("Rolled default back from v2 to v1.")
    await page.evaluate("pollAnnouncements()")  # what the 10-second timer does
    await system.nth(1).wait_for(timeout=10_000)
    assert "Rolled default back" in await system.nth(1).inner_text()
    await page.evaluate("pollAnnouncements()")
    assert await system.count() == 2  # each announcement once
