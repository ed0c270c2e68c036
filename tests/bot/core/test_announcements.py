from bot.core.announcements import Announcement, AnnouncementFeed


def test_keeps_the_latest_with_ids_and_utc_times():
    feed = AnnouncementFeed(keep=3, clock=lambda: 1_700_000_000.0)
    for i in range(5):
        feed.add(f"message {i}")
    assert feed.after(0) == [
        Announcement(3, "2023-11-14T22:13:20Z", "message 2"),
        Announcement(4, "2023-11-14T22:13:20Z", "message 3"),
        Announcement(5, "2023-11-14T22:13:20Z", "message 4"),
    ]
    assert [a.id for a in feed.after(4)] == [5] and feed.after(5) == []
    assert feed.after(4)[0].to_json() == {"id": 5, "time": "2023-11-14T22:13:20Z", "message": "message 4"}


def test_a_page_open_before_a_restart_still_gets_the_new_ones():
    feed = AnnouncementFeed()  # the restarted bot: ids start again at 1
    assert feed.after(57) == []
    feed.add("New mascot model v3 is live.")
    assert [a.message for a in feed.after(57)] == ["New mascot model v3 is live."]
