"""What an SVG reaches outside itself: files and addresses its renderer would load.

resvg draws ``<image href="/any/path.png">`` (or ``../``) from the disk of the machine that
renders it, and ``<use href="other.svg#id">`` from another file. A picture someone uploads must
not bring the engine's own files into a data set, a contact sheet or a chat, so an uploaded SVG
is taken only when everything it draws is inside it: references to its own elements (``#id``)
and inline ``data:`` images. Anything else (a path, a URL, an entity that could hide one, a
stylesheet import) is named, so the refusal says what was found.
"""

from __future__ import annotations

import re

# Any attribute ending in "href" (href, xlink:href, or a prefix of the author's own choosing),
# quoted either way; the value as written, character references included (they are not decoded,
# so "&#47;etc" is an outside reference like "/etc").
_HREF = re.compile(r"""[\w.:-]*href\s*=\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
_INSIDE = ("#", "data:")


def outside_references(text: str) -> list[str]:
    """Every reference in SVG markup ``text`` to something outside the SVG, as written; empty when
    the SVG is self-contained."""
    found = [value.strip() for _, value in _HREF.findall(text) + _CSS_URL.findall(text)]
    outside = [v for v in found if not v.startswith(_INSIDE)]
    if re.search(r"<!ENTITY", text, re.IGNORECASE):
        outside.append("<!ENTITY ...>")
    if re.search(r"@import", text, re.IGNORECASE):
        outside.append("@import")
    return outside
