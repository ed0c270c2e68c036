"""Uploaded pictures are checked one by one; every refusal names the file and what is allowed."""

import pytest

from engine.community.intake import kind_of, safe_name, take_pictures
from engine.community.store import Community, CommunityError, Limits
from tests.pictures import picture, pictures


def noise(side: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def community(tmp_path):
    c = Community(tmp_path, "discord-1")
    c.open(Limits(), "tiny")
    return c


def test_the_kind_comes_from_the_bytes_not_the_name():
    assert kind_of(picture(0)) == "PNG"
    assert kind_of(picture(0, fmt="JPEG")) == "JPEG"
    assert kind_of(picture(0, fmt="WEBP")) == "WebP"
    assert kind_of(picture(0, fmt="GIF")) == "GIF"
    assert kind_of(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>') == "SVG"
    assert kind_of(b"%PDF-1.4") is None
    assert kind_of(b"<html><body>no</body></html>") is None


def test_names_are_kept_safe_and_take_their_real_suffix(community):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\art\\my cat?.png") == "my_cat_.png"
    taken = take_pictures(community, [("art/cat.jpeg", picture(1)), ("cat.png", picture(2))], Limits())
    assert taken.kept == ["cat.png", "cat-2.png"]  # a PNG named .jpeg is stored as what it is
    assert sorted(p.name for p in community.pictures.iterdir()) == ["cat-2.png", "cat.png"]


def test_each_bad_file_is_refused_by_name_with_the_rule(community):
    limits = Limits(file_bytes=4000)
    big = noise(96)
    files = [
        ("ok.png", picture(0)),
        ("again.png", picture(0)),
        ("small.png", picture(1, side=20)),
        ("notes.png", b"just text"),
        ("broken.png", picture(2)[:60]),
        ("big.png", big),
    ]
    taken = take_pictures(community, files, limits)
    reasons = {r["file"]: r["reason"] for r in taken.refused}
    assert taken.kept == ["ok.png"]
    assert reasons["again.png"] == "is a duplicate of ok.png"
    assert "20x20 pixels; pictures need at least 32" in reasons["small.png"]
    assert "PNG, JPEG, WebP, GIF or SVG" in reasons["notes.png"]
    assert "cannot be read" in reasons["broken.png"]
    assert reasons["big.png"].endswith("KiB; at most 4 KiB a picture")
    # a duplicate of one kept earlier is refused in a later upload too
    later = take_pictures(community, [("copy.png", picture(0))], limits)
    assert later.refused == [{"file": "copy.png", "reason": "is a duplicate of ok.png"}]


def test_upload_count_and_disk_limits_are_stated(community):
    with pytest.raises(CommunityError, match="at most 3"):
        take_pictures(community, pictures(4), Limits(pictures=3))
    with pytest.raises(CommunityError, match="KiB an upload"):
        take_pictures(community, pictures(2), Limits(upload_bytes=100))
    with pytest.raises(CommunityError, match="over its budget"):
        take_pictures(community, pictures(2), Limits(disk_bytes=100))
    with pytest.raises(CommunityError, match="no pictures were sent"):
        take_pictures(community, [], Limits())
    kept = take_pictures(community, pictures(3), Limits(pictures=3))
    full = take_pictures(community, [("more.png", picture(30))], Limits(pictures=3))
    assert len(kept.kept) == 3 and "keeps 3 pictures, the most allowed" in full.refused[0]["reason"]


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="64" height="64">{}</svg>'
)


def test_an_svg_that_would_draw_the_engines_own_files_is_refused(community, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(picture(5))
    inside = SVG.format('<circle id="c" cx="32" cy="32" r="20" fill="red"/><use href="#c"/>')
    files = [
        ("inside.svg", inside.encode()),
        ("absolute.svg", SVG.format(f'<image href="{secret}" width="64" height="64"/>').encode()),
        ("climbing.svg", SVG.format('<image xlink:href="../../secret.png" width="9" height="9"/>').encode()),
        ("remote.svg", SVG.format('<image href="https://example.com/a.png" width="9" height="9"/>').encode()),
    ]
    taken = take_pictures(community, files, Limits())
    reasons = {r["file"]: r["reason"] for r in taken.refused}
    assert taken.kept == ["inside.svg"]
    assert reasons["absolute.svg"] == (
        f'is an SVG that refers to something outside itself ("{secret}"); only SVGs whose images '
        "are all inside them (data: or #id) are taken"
    )
    assert '"../../secret.png"' in reasons["climbing.svg"] and '"https://' in reasons["remote.svg"]
