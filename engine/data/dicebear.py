"""``mascot-engine data dicebear``: attribute-labelled avatars drawn by DiceBear.

    mascot-engine data dicebear --count 20000 --size 128 --out data/dicebear
    mascot-engine data dicebear --count 500 --out data/blue --force hair=blue smile=yes
    mascot-engine data dicebear --count 30000 --styles pixel-art --size 16 --palette --out data/pixel-16

Python samples the attributes (numpy, seeded by ``--seed``) and turns them into each
style's DiceBear options; a long-lived Node process (``dicebear_render.mjs``) draws the
SVGs in batches; a process pool rasterizes them with resvg and composites them onto the
background. Labels are read back from what DiceBear reports it drew (``toJson().extra``),
never copied from the request, and a part that an occluder may hide (hair under a hat,
eyes behind glasses) is drawn a second time in another colour and compared pixel by
pixel: if nothing changes, the label is UNKNOWN rather than a guess.

The npm packages are pinned to one DiceBear version and installed once into
``$MASCOT_CACHE/npm`` (default ``~/.cache/mascotbot/npm``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import MascotError
from engine.schema import Schema, SchemaError, choice, flag

DICEBEAR_VERSION = "9.4.3"  # exact pin: a new release may move shapes and change labels
NPM_PACKAGES = {"@dicebear/core": DICEBEAR_VERSION, "@dicebear/collection": DICEBEAR_VERSION}
RENDER_SCRIPT = Path(__file__).with_name("dicebear_render.mjs")
BATCH = 128  # avatars per Node round trip: big enough to hide the pipe latency
PIXEL_GRID = 16  # pixel-art's viewBox: drawn with crispEdges, one cell per pixel at 16px

# --- palettes: one attribute value -> the hex colours that may draw it ----------------
HAIR = {
    "black": ("1b1b1b", "2c1b18", "0e0e0e"),
    "blonde": ("e5d7a3", "d6b370", "f2cf6b"),
    "brown": ("6a4e35", "724133", "83623b"),
    "red": ("ab2a18", "c93305", "bd1700"),
    "blue": ("2563eb", "3b82f6", "1d4ed8"),
    "pink": ("f472b6", "ec4899", "ff8fc7"),
    "green": ("3eac2c", "22a34a", "15803d"),
    "purple": ("7c3aed", "9333ea", "6d28d9"),
    "white": ("f5f5f5", "e8e1e1", "ececec"),
}
EYES = {
    "black": ("000000", "1f1f1f"),
    "brown": ("6b3e26", "7b4a2d"),
    "blue": ("2f80ed", "1e6fd9"),
    "green": ("2e9e4f", "3f8f3a"),
    "purple": ("8e44ad", "9b59b6"),
}
SKIN = {
    "light": ("ffdbb4", "f2d3b1", "ffe4c0"),
    "tan": ("edb98a", "eac393", "e0b687"),
    "brown": ("d08b5b", "ae5d29", "a26d3d"),
    "dark": ("763900", "614335", "643d19"),
}
BACKGROUND = {  # pastel, so a character in any colour stands out
    "white": "ffffff",
    "blue": "cfe8ff",
    "pink": "ffd6e7",
    "yellow": "fff3c4",
    "green": "d4f5dc",
    "purple": "e6dcff",
}

P_SMILE = 0.6
P_GLASSES = 0.25
HAT_RATE = 0.35  # chance of a hat in a style that has hats


@dataclass(frozen=True)
class StyleSpec:
    """How one DiceBear style draws each attribute of the common schema.

    Variant lists were classified by looking at every variant (smiling or not, glasses,
    hats). Variants that are ambiguous (a smirk, a crown, a bald head, closed eyes when the
    eye colour is the label) are simply never requested, so every label stays clear.
    """

    name: str  # value of the `style` attribute
    export: str  # export name in @dicebear/collection
    package: str  # npm package holding the artwork and its LICENSE
    hair_variants: tuple[str, ...]
    smiling: tuple[str, ...]
    plain: tuple[str, ...]  # mouths that are clearly not smiling
    glasses_option: str
    glasses_variants: tuple[str, ...]
    glasses_probability: str
    hair_option: str = "hair"
    skin_option: str = "skinColor"
    eyes_option: str | None = None  # colour option, where the style has an eye colour
    eye_variants: tuple[str, ...] = ()  # open eyes, whose colour shows
    hat_option: str | None = None
    hat_variants: tuple[str, ...] = ()
    hat_probability: str | None = None  # None: hats are variants of hair_option
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_hats(self) -> bool:
        return bool(self.hat_variants)

    @property
    def hat_hides_hair(self) -> bool:
        # avataaars draws a hat *instead of* hair; pixel-art draws it on top of the hair.
        return self.hat_option == self.hair_option

    def options(self, attrs: Mapping[str, str], colours: Mapping[str, str], seed: str) -> dict[str, Any]:
        """DiceBear options that draw ``attrs`` (the sampled request) with ``colours``."""
        hat = attrs.get("hat") == "yes"
        opts: dict[str, Any] = {"seed": seed, "backgroundColor": [], **self.fixed}
        opts[self.hair_option] = list(self.hair_variants)
        opts["hairColor"] = [colours["hair"]]
        if self.has_hats:
            if self.hat_probability:
                opts[self.hat_option] = list(self.hat_variants)
                opts[self.hat_probability] = 100 if hat else 0
            elif hat:
                opts[self.hat_option] = list(self.hat_variants)
        opts["mouth"] = list(self.smiling if attrs["smile"] == "yes" else self.plain)
        opts[self.glasses_option] = list(self.glasses_variants)
        opts[self.glasses_probability] = 100 if attrs["glasses"] == "yes" else 0
        opts[self.skin_option] = [colours["skin"]]
        if self.eyes_option:
            opts["eyes"] = list(self.eye_variants)
            opts[self.eyes_option] = [colours["eyes"]]
        return opts

    def probes(self, options: Mapping[str, Any]) -> dict[str, str]:
        """Colours to redraw when an occluder is on: only a hat can hide hair and only
        glasses can hide eyes in these styles, so only then is a second drawing paid for."""
        out = {}
        hat_on = self.has_hats and (
            options.get(self.hat_probability) == 100
            if self.hat_probability
            else options.get(self.hat_option) == list(self.hat_variants)
        )
        if hat_on:
            out["hairColor"] = far_colour(options["hairColor"][0])
        if self.eyes_option and options[self.glasses_probability] == 100:
            out[self.eyes_option] = far_colour(options[self.eyes_option][0])
        return out

    def labels(self, extra: Mapping[str, Any], svg: str, visible: Mapping[str, bool]) -> dict[str, str]:
        """The attributes DiceBear reports it drew; parts not visible are left out (UNKNOWN)."""
        out = {"style": self.name, "skin": colour_name(SKIN, extra[self.skin_option])}
        hair_hex = str(extra.get("hairColor", "")).lower()
        if hair_hex[1:7] and hair_hex[:7] in svg.lower() and visible.get("hairColor", True):
            out["hair"] = colour_name(HAIR, hair_hex)
        if (
            self.eyes_option
            and extra.get("eyes") in self.eye_variants
            and visible.get(self.eyes_option, True)
        ):
            out["eyes"] = colour_name(EYES, extra[self.eyes_option])
        if extra.get("mouth") in self.smiling:
            out["smile"] = "yes"
        elif extra.get("mouth") in self.plain:
            out["smile"] = "no"
        out["glasses"] = "yes" if extra.get(self.glasses_option) in self.glasses_variants else "no"
        out["hat"] = "yes" if self.has_hats and extra.get(self.hat_option) in self.hat_variants else "no"
        return out


def _variants(prefix: str, numbers: range | tuple[int, ...], skip: tuple[int, ...] = ()) -> tuple[str, ...]:
    return tuple(f"{prefix}{i:02d}" for i in numbers if i not in skip)


STYLES: dict[str, StyleSpec] = {
    s.name: s
    for s in (
        StyleSpec(
            "adventurer",
            "adventurer",
            "adventurer",
            hair_variants=_variants("short", range(1, 20), skip=(19,))
            + _variants("long", range(1, 27)),  # short19 is bald
            smiling=_variants("variant", (1, 5, 23, 24, 25, 26, 27, 28, 29, 30)),
            plain=_variants("variant", (3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 15, 17, 18, 21)),
            glasses_option="glasses",
            glasses_variants=_variants("variant", range(1, 6)),
            glasses_probability="glassesProbability",
            fixed={
                "hairProbability": 100,
                "features": ["blush", "birthmark", "freckles"],
            },  # no mustache over the mouth
        ),
        StyleSpec(
            "lorelei",
            "lorelei",
            "lorelei",
            hair_variants=_variants("variant", range(1, 49)),
            smiling=(
                "happy01",
                "happy02",
                "happy03",
                "happy05",
                "happy06",
                "happy07",
                "happy09",
                "happy12",
                "happy16",
            ),
            plain=("happy11", "happy14", "happy17", "happy18", *_variants("sad", range(1, 10))),
            glasses_option="glasses",
            glasses_variants=_variants("variant", range(1, 6)),
            glasses_probability="glassesProbability",
            eyes_option="eyesColor",
            eye_variants=_variants("variant", range(1, 25), skip=(1, 3, 15, 19, 22)),
            fixed={"beardProbability": 0},
        ),
        StyleSpec(
            "avataaars",
            "avataaars",
            "avataaars",
            hair_option="top",
            hair_variants=(
                "bob",
                "bun",
                "curly",
                "curvy",
                "dreads",
                "frida",
                "fro",
                "froBand",
                "longButNotTooLong",
                "miaWallace",
                "shavedSides",
                "straight02",
                "straight01",
                "straightAndStrand",
                "dreads01",
                "dreads02",
                "frizzle",
                "shaggy",
                "shaggyMullet",
                "shortCurly",
                "shortFlat",
                "shortRound",
                "shortWaved",
                "sides",
                "theCaesar",
                "theCaesarAndSidePart",
                "bigHair",
            ),
            smiling=("default", "smile", "tongue", "twinkle"),
            plain=("concerned", "disbelief", "grimace", "sad", "screamOpen", "serious"),
            glasses_option="accessories",
            glasses_variants=("kurt", "prescription01", "prescription02", "round", "sunglasses", "wayfarers"),
            glasses_probability="accessoriesProbability",
            hat_option="top",
            hat_variants=("hat", "winterHat1", "winterHat02", "winterHat03", "winterHat04"),
            fixed={"topProbability": 100, "facialHairProbability": 0, "style": ["default"]},
        ),
        StyleSpec(
            "pixel-art",
            "pixelArt",
            "pixel-art",
            hair_variants=_variants("short", range(1, 25)) + _variants("long", range(1, 22)),
            smiling=("happy07", "happy08", "happy09", "happy10"),
            plain=_variants("sad", range(1, 11)),
            glasses_option="glasses",
            glasses_variants=_variants("light", range(1, 8)) + _variants("dark", range(1, 8)),
            glasses_probability="glassesProbability",
            eyes_option="eyesColor",
            eye_variants=_variants("variant", range(1, 13)),
            hat_option="hat",
            hat_variants=_variants("variant", range(1, 11)),
            hat_probability="hatProbability",
            fixed={"beardProbability": 0},
        ),
        StyleSpec(
            "big-smile",
            "bigSmile",
            "big-smile",
            hair_variants=(
                "shortHair",
                "mohawk",
                "wavyBob",
                "bowlCutHair",
                "curlyBob",
                "straightHair",
                "braids",
                "bunHair",
                "froBun",
                "bangs",
                "halfShavedHead",
                "curlyShortHair",
            ),  # no shavedHead
            smiling=("openedSmile", "gapSmile", "teethSmile", "braces", "kawaii"),
            plain=("unimpressed", "openSad"),
            # Its one accessory slot also holds masks and crowns; only glasses are ever asked for.
            glasses_option="accessories",
            glasses_variants=("glasses", "sunglasses"),
            glasses_probability="accessoriesProbability",
        ),
        StyleSpec(
            "micah",
            "micah",
            "micah",
            hair_variants=(
                "fonze",
                "mrT",
                "dougFunny",
                "dannyPhantom",
                "full",
                "pixie",
            ),  # no bald, no turban
            smiling=("laughing", "smile", "smirk"),
            plain=("surprised", "nervous", "sad", "pucker", "frown"),
            glasses_option="glasses",
            glasses_variants=("round", "square"),
            glasses_probability="glassesProbability",
            skin_option="baseColor",
            eyes_option="eyesColor",
            eye_variants=("eyes", "round", "eyesShadow"),
            fixed={"hairProbability": 100, "facialHairProbability": 0},
        ),
    )
}


def dicebear_schema(styles: tuple[str, ...] = tuple(STYLES)) -> Schema:
    """The common attribute schema; priors are the frequencies the builder samples with."""
    # Every style stays a value (one conditioning layout for every DiceBear data set);
    # the styles not drawn get prior 0.
    hat_share = sum(STYLES[s].has_hats for s in styles) / len(styles)
    return Schema(
        (
            choice("style", {s: float(s in styles) for s in STYLES}),
            choice("hair", list(HAIR), blond="blonde", grey="white", gray="white"),
            choice("eyes", list(EYES)),
            choice("skin", list(SKIN)),
            flag("smile", P_SMILE),
            flag("glasses", P_GLASSES),
            flag("hat", HAT_RATE * hat_share),
            choice("background", list(BACKGROUND)),
        )
    )


DICEBEAR_SCHEMA = dicebear_schema()


def colour_name(palette: Mapping[str, tuple[str, ...]], hex_colour: str) -> str:
    """The attribute value whose palette holds ``hex_colour`` (as DiceBear reports it)."""
    key = str(hex_colour).lstrip("#").lower()[:6]
    for name, hexes in palette.items():
        if key in hexes:
            return name
    raise RuntimeError(f"DiceBear drew colour #{key}, which is in no palette")  # a bug, not user input


def far_colour(hex_colour: str) -> str:
    """A colour that differs from ``hex_colour`` by at least 128 in every channel."""
    channels = (int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    return "".join("00" if c > 127 else "ff" for c in channels)


# --- sampling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Draw:
    """One avatar to render: its style, the background and the request for Node."""

    spec: StyleSpec
    background: str
    request: dict[str, Any]


class Sampler:
    """Draws attribute sets from the priors (respecting forced values) as Node requests."""

    def __init__(self, schema: Schema, styles: tuple[str, ...], forced: Mapping[str, str], seed: int) -> None:
        self.schema = schema
        self.styles = styles
        self.forced = dict(forced)
        self.rng = np.random.default_rng(seed)

    def draw(self) -> Draw:
        rng = self.rng
        attrs = self.schema.sample(self.forced, rng)
        spec = STYLES[self.styles[rng.integers(len(self.styles))]]
        if "hat" not in self.forced:
            hat_ok = spec.has_hats and not ("hair" in self.forced and spec.hat_hides_hair)
            attrs["hat"] = "yes" if hat_ok and rng.random() < HAT_RATE else "no"
        colours = {
            "hair": rng.choice(HAIR[attrs["hair"]]),
            "eyes": rng.choice(EYES[attrs["eyes"]]),
            "skin": rng.choice(SKIN[attrs["skin"]]),
        }
        seed = f"mascot-{rng.integers(2**62)}"
        options = spec.options(attrs, colours, seed)
        request = {"style": spec.export, "options": options, "probes": spec.probes(options)}
        return Draw(spec, attrs["background"], request)


def styles_for(forced: Mapping[str, str], styles: tuple[str, ...]) -> tuple[str, ...]:
    """The styles that can draw every forced value; MascotError when none can."""
    if "style" in forced:
        if forced["style"] not in styles:
            raise MascotError(f"--force style={forced['style']} is not among --styles {' '.join(styles)}")
        return (forced["style"],)
    ok = list(styles)
    if forced.get("hat") == "yes":
        ok = [s for s in ok if STYLES[s].has_hats]
        if "hair" in forced:
            ok = [s for s in ok if not STYLES[s].hat_hides_hair]
    if "eyes" in forced:
        ok = [s for s in ok if STYLES[s].eyes_option]
    if not ok:
        wanted = " ".join(f"{k}={v}" for k, v in forced.items())
        raise MascotError(
            f"none of the styles {', '.join(styles)} can draw {wanted}; "
            f"hats: {', '.join(s for s in STYLES if STYLES[s].has_hats)}; "
            f"eye colour: {', '.join(s for s in STYLES if STYLES[s].eyes_option)}"
        )
    return tuple(ok)


# --- rasterizing (runs in worker processes) --------------------------------------------
def render_rgba(svg: str, size: int) -> np.ndarray:
    import io

    import resvg_py
    from PIL import Image

    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size, skip_system_fonts=True)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def rasterize(job: tuple[str, dict[str, str], int, str]) -> tuple[np.ndarray, dict[str, bool]]:
    """RGB image on its background, and for each probe whether that part shows at all."""
    svg, probes, size, background = job
    rgba = render_rgba(svg, size)
    # A part is visible when recolouring it changes a few pixels clearly (0.1% of the image).
    min_pixels = max(2, size * size // 1000)
    visible = {}
    for option, probe_svg in probes.items():
        diff = np.abs(render_rgba(probe_svg, size).astype(np.int16) - rgba).max(axis=2)
        visible[option] = int((diff > 64).sum()) >= min_pixels
    bg = np.array([int(background[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8), visible


# --- Node and npm ---------------------------------------------------------------------
def cache_dir() -> Path:
    root = os.environ.get("MASCOT_CACHE") or "~/.cache/mascotbot"
    return Path(root).expanduser() / "npm"


MIN_NODE = 18  # the oldest Node the DiceBear 9 packages and the renderer's ES modules run on
INSTALL_HINT = "install them (for example 'apt install nodejs npm' or from https://nodejs.org)"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MascotError(
            f"the dicebear builder needs Node.js {MIN_NODE}+ and npm, but '{name}' is not on PATH; "
            + INSTALL_HINT
        )
    if name == "node":
        require_node_version(path)
    return path


def require_node_version(node: str) -> None:
    """Refuse an old Node by name: it would otherwise fail inside npm with a syntax error."""
    try:
        answer = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise MascotError(f"'{node} --version' did not answer ({exc}); " + INSTALL_HINT) from None
    found = re.match(r"v(\d+)\.", answer.strip())
    if found is None or int(found.group(1)) < MIN_NODE:
        raise MascotError(
            f"the dicebear builder needs Node.js {MIN_NODE}+, but '{node}' is {answer.strip() or 'unknown'}; "
            + INSTALL_HINT
        )


def installed_version(prefix: Path, package: str) -> str | None:
    try:
        return json.loads((prefix / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_dicebear(prefix: Path) -> Path:
    """Install the pinned DiceBear packages into ``prefix`` once; reuse them afterwards."""
    if all(installed_version(prefix, p) == v for p, v in NPM_PACKAGES.items()):
        return prefix
    npm = require_tool("npm")
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        lock = open(prefix / ".install.lock", "w")  # noqa: SIM115 (held across the install, closed below)
    except OSError as exc:
        raise MascotError(
            f"cannot write the npm cache '{prefix}': {exc.strerror}; set MASCOT_CACHE to a writable folder"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once install only once
        if all(installed_version(prefix, p) == v for p, v in NPM_PACKAGES.items()):
            return prefix
        print(f"installing DiceBear {DICEBEAR_VERSION} into {prefix} (first run only)", file=sys.stderr)
        manifest = {"name": "mascotbot-dicebear", "private": True, "dependencies": NPM_PACKAGES}
        (prefix / "package.json").write_text(json.dumps(manifest, indent=1))
        cmd = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise MascotError(
                "npm install of DiceBear took over 10 minutes; check the network and retry"
            ) from None
        if done.returncode != 0 or installed_version(prefix, "@dicebear/collection") != DICEBEAR_VERSION:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise MascotError(f"npm could not install DiceBear {DICEBEAR_VERSION} into {prefix}: {tail}")
    return prefix


class NodeRenderer:
    """One long-lived ``node dicebear_render.mjs`` process; a batch per round trip."""

    def __init__(self, prefix: Path, exports: list[str]) -> None:
        node = require_tool("node")
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives as long as the renderer)
        self._proc = subprocess.Popen(
            [node, str(RENDER_SCRIPT), str(prefix), ",".join(exports)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1 << 20,
        )
        self.meta = self._read()["meta"]

    def _read(self) -> Any:
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            tail = (self._stderr.read().strip().splitlines() or ["no output"])[-1]
            raise MascotError(f"the DiceBear renderer (node) stopped: {tail}")
        reply = json.loads(line)
        if isinstance(reply, dict) and "error" in reply:
            raise MascotError(f"the DiceBear renderer failed: {reply['error'].splitlines()[0]}")
        return reply

    def render(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            self._proc.stdin.write(json.dumps(requests) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # _read reports why node stopped
        return self._read()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._stderr.close()

    def __enter__(self) -> NodeRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- the data set ------------------------------------------------------------------------
def sources(prefix: Path, meta: Mapping[str, Any], styles: tuple[str, ...]):
    """Licence and credit of each style used, as its own package states them."""
    from engine.data.dataset import Source

    out = []
    for name in styles:
        spec = STYLES[name]
        m = meta[spec.export]
        package = prefix / "node_modules" / "@dicebear" / spec.package
        licence_text = (package / "LICENSE").read_text(errors="replace")
        coder = re.search(r"Copyright \(c\) \d{4} (.+)", licence_text)
        credit = f"design by {m['creator']} ({m.get('homepage', '')}); licence {m['license']['url']}"
        if coder:
            credit += f"; DiceBear code MIT, {coder.group(1).strip()}"
        version = installed_version(prefix, f"@dicebear/{spec.package}")
        out.append(
            Source(
                f"DiceBear {m['title']} (@dicebear/{spec.package} {version})",
                m["license"]["name"],
                credit,
                m.get("source", ""),
            )
        )
    return out


def generate(
    sampler: Sampler, node: NodeRenderer, pool, size: int
) -> Iterator[tuple[np.ndarray, dict, dict]]:
    """(image, labels, extra) for every avatar drawn, in order. Node draws the next batch
    while the pool is still rasterizing the previous one."""
    previous = None
    while True:
        draws = [sampler.draw() for _ in range(BATCH)]
        rendered = node.render([d.request for d in draws])
        if previous is not None:
            yield from previous()
        jobs = [(r["svg"], r["probes"], size, BACKGROUND[d.background]) for d, r in zip(draws, rendered)]
        results = pool.imap(rasterize, jobs, chunksize=8)

        def finish(draws=draws, rendered=rendered, results=results):
            for d, r, (image, visible) in zip(draws, rendered, results):
                labels = d.spec.labels(r["extra"], r["svg"], visible)
                labels["background"] = d.background
                yield image, labels, r["extra"]

        previous = finish


def parse_forced(schema: Schema, pairs: list[str] | None) -> dict[str, str]:
    try:
        return schema.parse(" ".join(pairs or []))
    except SchemaError as exc:
        raise MascotError(f"--force: {exc}") from None


def parse_styles(names: list[str] | None) -> tuple[str, ...]:
    if not names:
        return tuple(STYLES)
    attr = DICEBEAR_SCHEMA.attribute("style")
    try:
        picked = [attr.canonical(n) for n in names]
    except SchemaError as exc:
        raise MascotError(f"--styles: {exc}") from None
    return tuple(dict.fromkeys(picked))


def check_out(out: Path) -> None:
    # DatasetWriter replaces whatever is at --out; never let that be a folder of other things.
    if out.exists() and not (out / "card.json").is_file() and (not out.is_dir() or any(out.iterdir())):
        raise MascotError(
            f"'{out}' exists and is not a data set; refusing to replace it, choose another --out"
        )


def build(args: argparse.Namespace) -> dict[str, Any]:
    from engine.data.dataset import DatasetWriter

    if args.count < 1:
        raise MascotError(f"--count must be at least 1 (got {args.count})")
    if args.size < 16:
        raise MascotError(f"--size must be at least 16 pixels (got {args.size})")
    styles = parse_styles(args.styles)
    if args.palette and (styles != ("pixel-art",) or args.size % PIXEL_GRID):
        raise MascotError(
            f"--palette is for pixel art at its grid: use it with --styles pixel-art and a --size "
            f"that is a multiple of {PIXEL_GRID} (got {' '.join(styles)} at {args.size}px)"
        )
    schema = dicebear_schema(styles)
    forced = parse_forced(schema, args.force)
    drawable = styles_for(forced, styles)
    out = Path(args.out)
    check_out(out)
    require_tool("node")

    description = (
        f"DiceBear {DICEBEAR_VERSION} avatars ({', '.join(styles)}) rasterized with resvg at "
        f"{args.size}px, seed {args.seed}; labels read back from the renderer"
        + (f"; forced {' '.join(f'{k}={v}' for k, v in forced.items())}" if forced else "")
    )
    writer = DatasetWriter(
        out,
        resolution=args.size,
        schema=schema,
        capacity=args.count,
        description=description,
        palette=args.palette,
    )
    try:
        prefix = ensure_dicebear(cache_dir())
        start = time.perf_counter()
        attempts = _fill(writer, Sampler(schema, drawable, forced, args.seed), prefix, styles, forced, args)
    except BaseException:
        writer.abort()  # nothing half-written is left behind
        raise
    card = writer.close()
    seconds = time.perf_counter() - start
    rejected = attempts - args.count
    print(
        f"wrote {args.count} images ({args.size}px) to {out} in {seconds:.1f} s: "
        f"{args.count / seconds:.1f} images/s"
        + (f" ({rejected} drawn but not matching --force)" if rejected else "")
    )
    return card


def _fill(
    writer,
    sampler: Sampler,
    prefix: Path,
    styles: tuple[str, ...],
    forced: dict[str, str],
    args: argparse.Namespace,
) -> int:
    """Draw until ``--count`` avatars carry every forced value; returns how many were drawn."""
    from tqdm import tqdm

    attempts = 0
    with NodeRenderer(prefix, [STYLES[s].export for s in styles]) as node, _pool() as pool:
        writer.sources = sources(prefix, node.meta, styles)
        with tqdm(total=args.count, unit="img", desc="dicebear", file=sys.stderr) as bar:
            for image, labels, extra in generate(sampler, node, pool, args.size):
                attempts += 1
                if all(labels.get(k) == v for k, v in forced.items()):
                    writer.add(image, labels, tags={"dicebear": extra})
                    bar.update(1)
                    if writer.count == args.count:
                        return attempts
                elif attempts >= 1000 and writer.count < attempts * 0.02:
                    wanted = " ".join(f"{k}={v}" for k, v in forced.items())
                    raise MascotError(
                        f"fewer than 2% of the avatars drawn show {wanted}; "
                        "loosen --force or pick other --styles"
                    )
    return attempts


def _pool():
    import multiprocessing

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return multiprocessing.get_context("spawn").Pool(max(1, min(cores, 16)))


def _run(args: argparse.Namespace) -> int:
    build(args)
    return 0


def register(subparsers) -> None:
    names = ", ".join(STYLES)
    p = subparsers.add_parser(
        "dicebear",
        help="attribute-labelled avatars drawn by DiceBear",
        description=f"Draw attribute-labelled avatars with DiceBear {DICEBEAR_VERSION} (Node) and resvg. "
        f"Attributes:\n{DICEBEAR_SCHEMA.describe()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--count", type=int, required=True, help="number of images")
    p.add_argument("--size", type=int, default=128, help="image side in pixels, 16 or more (default 128)")
    p.add_argument("--out", required=True, help="data set folder to write")
    p.add_argument("--styles", nargs="+", metavar="STYLE", help=f"styles to use (default all: {names})")
    p.add_argument(
        "--force", nargs="+", metavar="NAME=VALUE", help="fix attributes, e.g. hair=blue smile=yes"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data set)")
    p.add_argument(
        "--palette",
        action="store_true",
        help=f"pixel art at its grid (--styles pixel-art --size {PIXEL_GRID}): record every colour "
        "in the card; a model trained on it serves every cell snapped to these colours",
    )
    p.set_defaults(func=_run)
