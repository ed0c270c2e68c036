"""Pictures nobody has seen: small PNGs of distinct shapes and colours, made by the tests."""

from __future__ import annotations

import io

SHAPES = ("square", "circle", "triangle", "bar")
COLOURS = ((220, 40, 40), (40, 170, 60), (40, 60, 220), (230, 180, 30), (150, 50, 180))


def picture(index: int, side: int = 64, fmt: str = "PNG") -> bytes:
    """Picture ``index``: a shape (index % 4) in a colour (index // 4 % 5), placed by index."""
    from PIL import Image, ImageDraw

    shape, colour = SHAPES[index % 4], COLOURS[index // 4 % 5]
    image = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(image)
    shift = index // 20 * 3  # the second twenty sit a little lower: never a duplicate
    box = (side // 5, side // 5 + shift, side * 4 // 5, side * 4 // 5 + shift)
    if shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=colour)
    else:
        draw.rectangle((box[0], box[1] + side // 5, box[2], box[3] - side // 5), fill=colour)
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def pictures(n: int = 40) -> list[tuple[str, bytes]]:
    return [(f"mascot-{i:02d}.png", picture(i)) for i in range(n)]
