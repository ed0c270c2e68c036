"""The creative loop clicked through in a real headless Chromium:
Make 4 -> Pick -> V2 -> Pick -> ⭐ -> collection.

Screenshots of each step go to $MASCOT_SCREENSHOTS when set (docs/), else to the test's tmp folder.
"""

import os
import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.config import BotConfig
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
async def page(core):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    server = TestServer(make_app(core, BotConfig()))
    await server.start_server()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = await browser.new_page(viewport={"width": 1100, "height": 1400})
        await page.goto(str(server.make_url("/")))
        yield page
        await browser.close()
    await server.close()


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("MASCOT_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _last(page, selector, count_before):
    """The newest bot message's figures once one more bot message than before has arrived."""
    await page.wait_for_function(
        f"document.querySelectorAll('.msg.bot').length > {count_before}", timeout=30_000
    )
    return page.locator(".msg.bot").last.locator(selector)


async def test_pick_vary_pick_star_and_find_it_in_the_collection(page, store, shots):
    await page.fill("#user", "dora")
    await page.dispatch_event("#user", "change")
    await page.locator("select.picker[name=hair]").wait_for(timeout=10_000)
    await page.select_option("select.picker[name=hair]", "blue")
    await page.click("button.make")
    grid = await _last(page, "figure.grid", 0)
    await grid.nth(3).locator("img").wait_for(state="visible", timeout=30_000)
    assert await grid.count() == 4
    assert "hair:blue" in await page.locator(".msg.you").last.inner_text()  # the picker typed the command
    await page.screenshot(path=str(shots / "1-grid.png"), full_page=True)

    await grid.nth(0).locator("button.pick").click()
    post = await _last(page, "figure.post", 1)
    await post.locator("img").wait_for(state="visible", timeout=30_000)
    # The caption sits under the picture, not beside it.
    img_box, cap_box = (
        await post.locator("img").bounding_box(),
        await post.locator("figcaption").bounding_box(),
    )
    assert cap_box["y"] >= img_box["y"] + img_box["height"] - 1
    picked = await post.get_attribute("data-generation")

    await post.locator("button.vary").click()
    varied = await _last(page, "figure.grid", 2)
    await varied.nth(3).locator("img").wait_for(state="visible", timeout=30_000)
    await page.screenshot(path=str(shots / "2-variations.png"), full_page=True)
    v2 = await varied.nth(1).get_attribute("data-generation")
    assert store.generation(v2).latent["vary"] == {"seed": store.generation(picked).seed}

    await varied.nth(1).locator("button.pick").click()
    final = await _last(page, "figure.post", 3)
    await final.locator("img").wait_for(state="visible", timeout=30_000)
    chosen = await final.get_attribute("data-generation")
    assert store.generation(chosen).latent == store.generation(v2).latent
    await final.locator("button.star").click()
    await page.locator(".msg.bot").last.locator("button.star.on").wait_for(timeout=10_000)
    me = store.generation(chosen).requester  # the browser's session, whatever name it typed
    assert [g.id for g in store.favourites(me)] == [chosen]
    await page.screenshot(path=str(shots / "3-picked-and-starred.png"), full_page=True)

    await page.fill("#command", "/collection")
    await page.press("#command", "Enter")
    kept = page.locator("figure.collection")
    await kept.first.locator("img").wait_for(state="visible", timeout=30_000)
    assert [await kept.nth(i).get_attribute("data-generation") for i in range(await kept.count())] == [chosen]
    await page.screenshot(path=str(shots / "4-collection.png"), full_page=True)

    await kept.first.locator("button.star").click()  # ⭐ again removes it
    await page.wait_for_function(
        "!document.querySelector('figure.collection button.star.on')", timeout=10_000
    )
    assert store.favourites(me) == []
    for name in ("1-grid", "2-variations", "3-picked-and-starred", "4-collection"):
        assert (shots / f"{name}.png").stat().st_size > 5_000


async def test_a_picture_chosen_with_the_camera_button_comes_back_as_four_candidates(page, shots, tmp_path):
    from PIL import Image

    picture = tmp_path / "me.png"
    Image.new("RGB", (60, 48), (220, 40, 40)).save(picture)
    await page.locator("select.picker[name=hair]").wait_for(timeout=10_000)
    await page.select_option("select.picker[name=hair]", "red")
    # Every text the waiting line shows, and the bar under it, as the search's steps stream in.
    await page.evaluate(
        """() => { window.shown = [];
          new MutationObserver(() => {
            const wait = document.querySelector('.msg.wait');
            const bar = wait && wait.querySelector('progress');
            const text = wait && wait.querySelector('.text').textContent;
            if (bar) window.shown.push(`${text} [${bar.value}/${bar.max}]`);
          }).observe(document.body, {subtree: true, childList: true, characterData: true,
                                     attributes: true}); }"""
    )
    await page.set_input_files("#picture", str(picture))
    grid = await _last(page, "figure.grid", 0)
    await grid.nth(3).locator("img").wait_for(state="visible", timeout=60_000)
    assert await grid.count() == 4
    shown = await page.evaluate("window.shown")
    assert "… turning your picture into a mascot: step 5 of 5 [5/5]" in shown, shown
    assert "me.png" in await page.locator(".msg.you").last.inner_text()
    assert "picture" in await page.locator(".msg.bot").last.inner_text()
    await page.screenshot(path=str(shots / "mascotify.png"), full_page=True)
