"""An SVG's references outside itself are found however they are written."""

import pytest

from engine.data.svgrefs import outside_references


@pytest.mark.parametrize(
    "markup",
    [
        '<use href="#a"/>',
        "<use xlink:href='#a'/>",
        '<image href="data:image/png;base64,iVBOR" width="1" height="1"/>',
        '<rect fill="url(#grad)" width="1" height="1"/>',
    ],
)
def test_what_stays_inside_the_svg_is_taken(markup):
    assert outside_references(f"<svg>{markup}</svg>") == []


@pytest.mark.parametrize(
    "markup, named",
    [
        ('<image href="/etc/x.png"/>', "/etc/x.png"),
        ('<image xlink:href="../x.png"/>', "../x.png"),
        ('<image xl:href="x.png" xmlns:xl="http://www.w3.org/1999/xlink"/>', "x.png"),
        ('<image HREF = "file:///x.png"/>', "file:///x.png"),
        ('<use href="other.svg#a"/>', "other.svg#a"),
        ('<image href="&#47;etc/x.png"/>', "&#47;etc/x.png"),
        ('<rect style="fill: url(/x.png)"/>', "/x.png"),
        ("<style>@import 'x.css';</style>", "@import"),
        ('<!DOCTYPE svg [<!ENTITY e SYSTEM "/etc/passwd">]><text>&e;</text>', "<!ENTITY ...>"),
    ],
)
def test_a_reference_outside_is_named(markup, named):
    assert named in outside_references(f"<svg>{markup}</svg>")
