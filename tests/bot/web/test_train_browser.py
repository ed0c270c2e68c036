"""The web chat's own model in a real headless Chromium, against a real engine: an admin gives
40 pictures nobody has seen (a zip) to 🧠 Train, one tiny chunk runs in the nightly window and
its progress shows up in the chat, /mascot there draws from the new model, a vote in the
browser fine-tunes that model and not the default, and /forget leaves nothing on disk."""

import pytest
from aiohttp.test_utils import TestServer

from bot.cli import Announcer
from bot.config import BotConfig
from bot.core.announcements import AnnouncementFeed
from bot.core.commands import Commands
from bot.core.community import CommunityConfig
from bot.core.engine_client import EngineClient
from bot.core.limits import RateLimiter
from bot.schedule.config import ScheduleConfig
from bot.schedule.servers import ServerNights
from bot.web.app import make_app
from tests.bot.community_engine import QUICK_VOTES, community_engine, pictures_zip
from tests.bot.web.test_browser import CHROMIUM, FLAGS

__all__ = ["community_engine"]  # the fixture
TOKEN = "web-admin"
COMMUNITY = "web-chat"


async def test_the_web_chat_trains_serves_votes_on_and_forgets_its_own_model(community_engine, store):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    url, communities = community_engine
    folder = communities / COMMUNITY
    engine = EngineClient(url)
    core = Commands(engine, store, await engine.models(), RateLimiter())
    feed = AnnouncementFeed()
    server = TestServer(make_app(core, BotConfig(web_admin=True), feed, admin_token=TOKEN))
    await server.start_server()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = await browser.new_page()
            await page.goto(str(server.make_url("/")))
            bot = page.locator(".msg.bot")

            # Without the admin token the chat refuses, and nothing reaches the engine.
            upload = {"name": "ours.zip", "mimeType": "application/zip", "buffer": pictures_zip(range(40))}
            await page.set_input_files("#trainfiles", files=[upload])
            private = page.locator(".msg.private")
            await private.first.wait_for(timeout=20_000)
            assert "Only the chat's admins" in await private.first.inner_text()
            assert not folder.exists()

            await page.evaluate(f"localStorage.adminToken = '{TOKEN}'")
            await page.set_input_files("#trainfiles", files=[upload])
            await bot.first.wait_for(timeout=120_000)
            said = await bot.first.inner_text()
            assert "Took 40 pictures" in said and "ours.zip/ours/notes.txt is not a picture" in said
            assert "classes of look-alike pictures" in said
            assert await bot.first.locator("img").count() == 1  # the contact sheet
            assert len(list((folder / "pictures").iterdir())) == 40

            # The nightly window: one chunk; its progress reaches the chat as a system message.
            core.communities.cfg = CommunityConfig(poll_s=0.2)
            announcer = Announcer("", feed)
            nights = ServerNights(
                engine, store, ScheduleConfig(**QUICK_VOTES), core.communities, announcer.to_server
            )
            assert await core.communities.nightly(announcer.to_server) == [f"{COMMUNITY}: chunk 1 finished"]
            await page.evaluate("pollAnnouncements()")
            system = page.locator(".msg.system")
            await system.first.wait_for(timeout=10_000)
            assert "chunk 1 of" in await system.first.inner_text()

            # /mascot in this chat now draws from its own model; a vote there is on that model.
            await page.fill("#command", "/mascot seed:5")
            await page.click("#send")
            post = page.locator(".post")
            await post.first.wait_for(timeout=30_000)
            generation = await post.first.get_attribute("data-generation")
            assert store.generation(generation).model == COMMUNITY
            await page.click(".vote-up")
            await page.locator(".vote-up.on").wait_for(timeout=10_000)

            outcome = await nights.votes(store.community_model("web"))
            assert outcome.status in ("promoted", "rejected"), outcome
            assert [r["model"] for r in store.curation_runs(5)] == [COMMUNITY]

            await page.fill("#command", "/forget")
            await page.click("#send")
            forgotten = page.locator(".msg.private", has_text="Forgotten")
            await forgotten.wait_for(timeout=30_000)
            assert not folder.exists() and store.community_model("web") is None
            assert store.generation(generation) is None
            await browser.close()
    finally:
        await server.close()
        await engine.close()
