"""The engine's HTTP contract: every route, its request body and its answers, as declared types.

The routes receive these values already validated (``engine/serve/requests.py`` reads and checks
a body against its type), and ``engine/serve/openapi.py`` writes the OpenAPI 3.1 document served
at ``GET /openapi.json`` from the same declarations, so the document cannot drift from the code.

What the types cannot know is checked by the route that knows it: an attribute against the
model's schema, a ``size`` against the sizes the model offers, a latent recipe's shape, a path
against the folders the engine may read. Unknown fields are ignored, so an older engine
answers a newer client; a field a route hands on (a curated job's to engine/curate) must be
declared all the same, or it is dropped before the route sees it.

Each field that a client can get wrong carries ``Allowed``: what it accepts, in words, so a
refusal says what was wrong and what is allowed (``count must be a whole number from 1 to 4,
got 9``), under the code ``invalid_<field>`` unless ``Allowed`` names another.

A new route: declare its body and answer here, add a ``Route`` to ``ROUTES``, and give its
handler in a route module's ``handlers()`` (``engine/serve/routes.py`` binds them).
"""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from engine.creative import MAX_INDEX
from engine.invert import MAX_BYTES as MAX_PICTURE
from engine.sampling import MAX_SEED

MAX_BODY = 64 * 1024
JOB_MAX_BODY = 64 * 1024 * 1024  # a curated fine-tune carries the stored PNGs of retired versions
INVERT_MAX_BODY = MAX_PICTURE * 4 // 3 + 64 * 1024  # base64 of the largest picture, plus the rest
FORMATS = ("png", "webp", "jpeg")  # jpeg: lossy and ~30x faster to encode at 512 px
# Pictures one request may ask for: /v1/generate's count, /v1/variations' count, /v1/invert's mascot
# with its variations. GET /v1/models advertises it as limits.count, so a client's help texts and
# option ranges say the same number.
MAX_COUNT = 4
DEFAULT_STRENGTH = 0.4  # siblings clearly differ, each nearer its parent than a fresh seed


@dataclass(frozen=True)
class Allowed:
    """What a field accepts, in words, for the refusal that names it."""

    text: str
    code: str = ""  # the error code when it is not invalid_<field>


class Body(BaseModel):
    """A request body: a JSON object; strict (``"3"`` is not a number, ``true`` not a 1)."""

    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True, frozen=True)


class Answer(BaseModel):
    """An answer body, for the document; the routes write these fields as plain JSON."""

    model_config = ConfigDict(extra="allow")


def whole(lo: int, hi: int, about: str = "") -> Any:
    return Annotated[
        int, Field(ge=lo, le=hi, description=about or None), Allowed(f"a whole number from {lo} to {hi}")
    ]


def unit(about: str) -> Any:
    return Annotated[
        float,
        Field(ge=0, le=1, allow_inf_nan=False, description=about),
        Allowed("a number from 0 to 1"),
    ]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Seed = whole(0, MAX_SEED, "the seed of the latent and of the attributes left unset")


def maybe_seed(about: str) -> Any:
    """A seed that may be left out or null: one is drawn, or the route derives it."""
    return Annotated[
        int | None,
        Field(ge=0, le=MAX_SEED, description=about),
        Allowed(f"a whole number from 0 to {MAX_SEED}"),
    ]


Model = Annotated[
    str | None,
    Field(description="a model name from GET /v1/models; the default model when left out"),
    Allowed("a model name (a string)", code="unknown_model"),
]
Attributes = Annotated[
    str | dict[str, Any] | None,
    Field(description='"hair:blue smile:yes", or an object {"hair": "blue"}; unset ones are drawn'),
    Allowed('text like \'hair:blue smile:yes\' or an object like {"hair": "blue"}'),
]
Truncation = unit("1 draws the full variety, lower values stay nearer the average mascot")
Size = Annotated[
    int,
    Field(description="the side in pixels: the model's own (the default), or a size GET /v1/models lists"),
    Allowed("one of the sizes GET /v1/models lists for the model"),
]
Format = Annotated[
    Literal["png", "webp", "jpeg"],
    BeforeValidator(_lower),
    Field(description="png (lossless), webp (lossless) or jpeg (lossy, the fastest)"),
    Allowed(f"one of {', '.join(FORMATS)}"),
]
Latent = Annotated[
    Any,
    Field(
        description='a latent recipe as an answer gave it: {"seed": 42}, '
        '{"vary": R, "index": 2, "step": 0.4}, {"fuse": [A, B], "mix": 0.5}, {"z": [...]}, '
        "or that object as JSON text"
    ),
]
Reason = Annotated[
    str | None, Field(description="kept in the version history (the first 500 characters)"), Allowed("text")
]


class Picture(Body):
    """What every drawing route shares."""

    model: Model = None
    truncation: Truncation = 1.0
    size: Size = Field(None, json_schema_extra=lambda s: s.pop("default", None))
    format: Format = "png"


class GenerateRequest(Picture):
    attributes: Attributes = None
    seed: maybe_seed("the first picture's seed, each next one adds 1; drawn when left out") = None
    count: whole(1, MAX_COUNT, "pictures in the answer") = 1


class Endpoint(Body):
    seed: Seed
    attributes: Attributes = None


_END_LIKE = 'an object like {"seed": 1, "attributes": "hair:blue"}'


class InterpolateRequest(Picture):
    a: Annotated[Endpoint, Allowed(_END_LIKE, code="invalid_endpoint")]
    b: Annotated[Endpoint, Allowed(_END_LIKE, code="invalid_endpoint")]
    frames: Annotated[
        int,
        Field(ge=2, le=64, description="16 by default; at most 64 up to 256 px and 16 at 512 px"),
        Allowed("a whole number from 2 to 64 (16 at 512 px)"),
    ] = Field(None, json_schema_extra=lambda s: s.pop("default", None))


class Parent(Body):
    """A mascot given by its seed and attributes, or by its latent recipe."""

    seed: maybe_seed("the parent's seed; or give its latent") = None
    attributes: Attributes = None
    latent: Latent = None


class VariationsRequest(Picture, Parent):
    count: whole(1, MAX_COUNT, "variations in the answer") = MAX_COUNT
    first: whole(1, MAX_INDEX - MAX_COUNT + 1, "the first variation's index; the next ones follow") = 1
    strength: unit("how far the variations go from their parent") = DEFAULT_STRENGTH


_PARENT_LIKE = 'an object like {"seed": 1, "attributes": "hair:blue"} or {"latent": {...}}'


class FuseRequest(Picture):
    a: Annotated[Parent, Allowed(_PARENT_LIKE, code="invalid_parent")]
    b: Annotated[Parent, Allowed(_PARENT_LIKE, code="invalid_parent")]
    mix: unit("0 is all a, 1 all b") = 0.5
    seed: maybe_seed("the draw of which parent gives each attribute") = None
    from_: Annotated[
        str | dict[str, Any] | None,
        Field(alias="from", description='which parent an attribute comes from: {"hair": "a"} or "hair:a"'),
        Allowed('an object like {"hair": "a"} or text like \'hair:a\''),
    ] = None


class RenderRequest(Picture):
    latent: Annotated[Latent, Allowed("a latent recipe")]
    attributes: Attributes = None
    seed: maybe_seed("draws the attributes left unset; the recipe's root seed when left out") = None


class InvertRequest(Picture):
    image: Annotated[
        str,
        Field(
            description="a PNG, JPEG or WebP file (at most 8 MiB) as base64 text; a data: URL prefix is fine"
        ),
        Allowed("a PNG, JPEG or WebP file as base64 text"),
    ]
    attributes: Attributes = None
    variations: whole(0, MAX_COUNT - 1, "variations of the mascot found, beside it") = MAX_COUNT - 1
    strength: unit("how far the variations go from the mascot") = DEFAULT_STRENGTH
    style: Annotated[
        str | None,
        Field(description="a translator from [engine] translators, applied to the picture first"),
        Allowed("the name of a known style"),
    ] = None
    progress: Annotated[
        bool, Field(description="answer NDJSON progress lines, then the answer"), Allowed("true or false")
    ] = False


def _number(lo: float, hi: float, about: str, *, low_open: bool = False, optional: bool = False) -> Any:
    bound = Field(gt=lo, le=hi, description=about) if low_open else Field(ge=lo, le=hi, description=about)
    words = f"a number above {lo:g}, at most {hi:g}" if low_open else f"a number from {lo:g} to {hi:g}"
    return Annotated[float | None if optional else float, bound, Allowed(words)]


class JobRequest(Body):
    """A fine-tune of a model; with ``curated``, the nightly vote-driven kind (engine/curate/request.py
    reads the curated fields and names what is wrong in them)."""

    kind: Annotated[Literal["finetune"], Allowed("'finetune'")] = "finetune"
    model: Model = None
    data: Annotated[
        str,
        Field(description="a data set folder on the engine, inside [paths] data, checkpoints or runs"),
        Allowed("the path of a data set folder on the engine"),
    ]
    kimg: _number(0, 10_000, "thousands of images to train on", low_open=True) = 20.0
    timeout_s: _number(1, 86_400, "stop the job after this long") = 3600.0
    freeze_d: whole(0, 64, "the discriminator's first layers kept fixed (FreezeD)") = 0
    batch: whole(2, 4096, "images per step") = 32
    lr_g: _number(0, 1, "the generator's learning rate (the family's own)", low_open=True, optional=True) = (
        None
    )
    lr_d: _number(0, 1, "the critic's learning rate (the family's own)", low_open=True, optional=True) = None
    # A vote-driven fine-tune (the nightly run's): engine/curate/request.py reads these and names
    # what is wrong in an item (invalid_curation).
    curated: Annotated[
        Any,
        Field(description="liked mascots to learn from: [{seed, attributes, version, truncation?, latent?}]"),
    ] = None
    negatives: Annotated[Any, Field(description="clearly disliked mascots, in the same shape")] = None
    evaluate: Annotated[
        bool,
        Field(description="evaluate challenger against champion after training"),
        Allowed("true or false"),
    ] = True
    extra_share: _number(0, 0.5, "the curated share of each batch", low_open=True) = 0.25
    eval_samples: whole(10, 50_000, "pictures drawn per model for the evaluation") = 500
    eval_feature_size: whole(32, 512, "the side the feature network reads pictures at") = 224
    eval_per_value: whole(1, 1000, "pictures per attribute value for attribute precision") = 16
    eval_size: whole(0, 2048, "judge pictures at this served size (0: the model's own)") = 0


class ReloadRequest(Body):
    path: Annotated[
        str | None,
        Field(description="a checkpoint folder to serve instead (recorded as a version)"),
        Allowed("the path of a checkpoint folder on the engine"),
    ] = None
    reason: Reason = None


class PromoteRequest(Body):
    checkpoint: Annotated[
        str,
        Field(description="the checkpoint folder to promote"),
        Allowed("the path of a checkpoint folder on the engine"),
    ]
    reason: Reason = None


class RollbackRequest(Body):
    version: Annotated[
        str | None,
        Field(description="the version to return to; the previous one when left out"),
        Allowed("text"),
    ] = None
    reason: Reason = None


# --- answers -------------------------------------------------------------------------


class ErrorDetail(Answer):
    code: str = Field(description="machine-readable: invalid_count, unknown_model, busy, ...")
    message: str = Field(description="one sentence: what was wrong and what is allowed")


class ErrorAnswer(Answer):
    error: ErrorDetail


class Health(Answer):
    ok: bool


class Ready(Answer):
    ok: bool
    models: list[str]
    queue_depth: int


class Limits(Answer):
    count: int = Field(description="the most pictures one request may ask for")


class ModelCard(Answer):
    name: str
    version: str
    family: str
    resolution: int
    schema_: dict[str, Any] = Field(alias="schema", description="the attribute schema (engine/schema.py)")
    metrics: dict[str, Any]
    posted: dict[str, Any] | None = Field(
        default=None,
        description="the figures as pictures are posted (512 px against as many real renders): "
        "{metrics, evaluation}; null when not measured",
    )
    training: dict[str, Any]
    parent: str | None
    sizes: list[int]


class Upscaler(Answer):
    version: str
    scale: int


class ModelsAnswer(Answer):
    default: str
    models: list[ModelCard]
    upscaler: Upscaler | None
    limits: Limits


class Image(Answer):
    seed: int
    attributes: dict[str, str] = Field(description="every attribute, the drawn ones included")
    truncation: float
    format: str
    size: int
    generation_id: str = Field(description="a hash of the model version and the request: stable")
    image: str = Field(description="the picture file as base64 text")


class GenerateAnswer(Answer):
    model: str
    version: str
    images: list[Image]


class Resolved(Answer):
    seed: int
    attributes: dict[str, str]


class InterpolateAnswer(Answer):
    version: str
    a: Resolved
    b: Resolved
    frames: list[str] = Field(description="PNG frames as base64 text")
    gif: str = Field(description="the frames there and back, looping, as a base64 GIF")


class CreativeImage(Image):
    latent: Any = Field(description="the picture's latent recipe: /v1/render draws it again")


class ParentAnswer(Answer):
    latent: Any
    attributes: dict[str, str]


class CreativeAnswer(Answer):
    model: str
    version: str
    images: list[CreativeImage]
    parent: ParentAnswer | None = None


class InvertAnswer(CreativeAnswer):
    read: dict[str, Any] = Field(description="what the tagger read in the picture")
    distance: float
    steps: int
    seconds: float
    style: str | None = None


class Job(Answer):
    id: str
    spec: dict[str, Any]
    state: Literal["queued", "running", "succeeded", "failed"]
    created: float
    started: float | None
    finished: float | None
    pid: int | None
    progress: float = Field(description="0-1 of the kimg budget")
    result: dict[str, Any]
    error: str


class Swapped(Answer):
    name: str
    version: str


class VersionChange(Swapped):
    previous: str | None
    action: str


class Change(Answer):
    action: str
    version: str
    previous: str | None
    reason: str
    time: float


class Versions(Answer):
    name: str
    current: str | None
    previous: str | None
    history: list[Change]


class Refusal(Answer):
    file: str
    reason: str = Field(description="what was wrong with it, and what is allowed")


class Intake(Answer):
    kept: list[str] = Field(description="the pictures kept, under the names they are stored as")
    refused: list[Refusal]
    pictures: int = Field(description="pictures the community has now")
    pictures_bytes: int
    limits: dict[str, Any]


class Built(Answer):
    labels: Literal["tags", "classes"]
    attributes: dict[str, list[str]] = Field(description="what the model will have: attribute -> values")
    why: str
    pictures: int
    size: int
    skipped: list[Refusal]
    duplicates: list[dict[str, str]]
    contact_sheet: str = Field(description="a PNG of the pictures taken, base64")


class ChunkStarted(Answer):
    community: str
    state: Literal["running"]
    chunk: int = Field(description="n of 'chunk n of N'")


class CommunityStatus(Answer):
    community: str
    pictures: int
    disk_bytes: int
    cpu_minutes_spent: float
    cpu_minutes_budget: float
    preset: str
    built: dict[str, Any] = Field(description="the data set's summary; {} until built")
    chunks: list[dict[str, Any]] = Field(description="every chunk: outcome, minutes, gate figures, version")
    chunks_planned: int = Field(description="N of 'chunk n of N': done plus what the budget still pays for")
    version: str | None
    limits: dict[str, Any]
    running: bool
    served: bool


class CommunityGrid(Answer):
    image: str = Field(description="the last chunk's seeds 1-16, a PNG, base64")


class Forgotten(Answer):
    community: str
    forgotten: bool
    freed_bytes: int


class CommunityList(Answer):
    communities: list[str]


class Document(Answer):
    openapi: str = Field(description="3.1.0")
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


# --- a community's own model (engine/serve/communities.py, docs/servers.md) ------------------

UPLOAD_MAX_BODY = 64 * 1024 * 1024  # 40 MiB of pictures an upload, as base64


class UploadedPicture(Body):
    name: Annotated[
        str,
        Field(min_length=1, max_length=255, description="the file's name, as the community knows it"),
        Allowed("a file name of 1 to 255 characters"),
    ]
    data: Annotated[
        str, Field(description="the file's bytes, base64"), Allowed("the file's bytes as base64 text")
    ]


class PicturesRequest(Body):
    files: Annotated[
        list[UploadedPicture],
        Field(min_length=1, description="PNG, JPEG, WebP, GIF or SVG files, each checked by name"),
        Allowed("a list of one or more {name, data (base64)} objects", code="invalid_files"),
    ]


class ChunkRequest(Body):
    minutes: _number(0, 1440, "the chunk, start to last file; 0: the community preset's") = 0.0


class CommunityJobRequest(JobRequest):
    data: Annotated[
        str,
        Field(description="ignored: a community's model fine-tunes on the community's own data set"),
        Allowed("text"),
    ] = ""


# --- routes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    body: type[Body] | None = None
    answer: type[Answer] | None = None  # None: not JSON (the Prometheus text)
    status: int = 200
    admin: bool = False  # needs the admin token, or a loopback caller (engine/serve/auth.py)
    limit: int = MAX_BODY  # the largest body, in bytes
    draws: bool = False  # answers 503 while loading or when it cannot start in time


HEALTHZ = Route("GET", "/healthz", "liveness, answered from the first second", answer=Health)
READYZ = Route("GET", "/readyz", "503 until the models are loaded, probed and warm", answer=Ready, draws=True)
METRICS = Route("GET", "/metrics", "Prometheus text: requests, latency, batch sizes, refusals")
MODELS = Route("GET", "/v1/models", "the models served, their schemas, sizes and limits", answer=ModelsAnswer)
GENERATE = Route("POST", "/v1/generate", "mascots", GenerateRequest, GenerateAnswer, draws=True)
INTERPOLATE = Route(
    "POST", "/v1/interpolate", "frames between two mascots", InterpolateRequest, InterpolateAnswer, draws=True
)
VARIATIONS = Route(
    "POST", "/v1/variations", "variations around a mascot", VariationsRequest, CreativeAnswer, draws=True
)
FUSE = Route("POST", "/v1/fuse", "one child of two mascots", FuseRequest, CreativeAnswer, draws=True)
RENDER = Route("POST", "/v1/render", "a latent recipe drawn again", RenderRequest, CreativeAnswer, draws=True)
INVERT = Route(
    "POST",
    "/v1/invert",
    "the nearest mascot to a picture, and variations of it; one search at a time",
    InvertRequest,
    InvertAnswer,
    limit=INVERT_MAX_BODY,
    draws=True,
)
START_JOB = Route(
    "POST", "/v1/jobs", "a fine-tune in a child process", JobRequest, Job, 202, True, JOB_MAX_BODY, draws=True
)
JOB = Route("GET", "/v1/jobs/{id}", "a job's state, progress and result", answer=Job, admin=True)
RELOAD = Route(
    "POST", "/v1/models/{name}/reload", "atomic hot swap", ReloadRequest, Swapped, admin=True, draws=False
)
PROMOTE = Route(
    "POST", "/v1/models/{name}/promote", "serve a checkpoint", PromoteRequest, VersionChange, admin=True
)
ROLLBACK = Route(
    "POST",
    "/v1/models/{name}/rollback",
    "return to an earlier version",
    RollbackRequest,
    VersionChange,
    admin=True,
)
VERSIONS = Route("GET", "/v1/models/{name}/versions", "the version history", answer=Versions, admin=True)
COMMUNITIES = Route(
    "GET", "/v1/communities", "the communities with a model folder", answer=CommunityList, admin=True
)
COMMUNITY = Route(
    "GET",
    "/v1/communities/{id}",
    "a community's pictures, budgets, chunks, version",
    answer=CommunityStatus,
    admin=True,
)
COMMUNITY_PICTURES = Route(
    "POST",
    "/v1/communities/{id}/pictures",
    "pictures a community uploads, each kept or refused by name",
    PicturesRequest,
    Intake,
    admin=True,
    limit=UPLOAD_MAX_BODY,
)
COMMUNITY_BUILD = Route(
    "POST",
    "/v1/communities/{id}/build",
    "its data set, its attributes or classes, a contact sheet",
    None,
    Built,
    admin=True,
)
COMMUNITY_CHUNK = Route(
    "POST",
    "/v1/communities/{id}/chunk",
    "one training chunk of its model",
    ChunkRequest,
    ChunkStarted,
    202,
    True,
)
COMMUNITY_GRID = Route(
    "GET", "/v1/communities/{id}/grid", "the last chunk's seeds 1-16", answer=CommunityGrid, admin=True
)
COMMUNITY_JOB = Route(
    "POST",
    "/v1/communities/{id}/jobs",
    "a vote-driven fine-tune of its model",
    CommunityJobRequest,
    Job,
    202,
    True,
    JOB_MAX_BODY,
    draws=True,
)
COMMUNITY_PROMOTE = Route(
    "POST",
    "/v1/communities/{id}/promote",
    "serve a checkpoint as its model",
    PromoteRequest,
    VersionChange,
    admin=True,
)
COMMUNITY_ROLLBACK = Route(
    "POST",
    "/v1/communities/{id}/rollback",
    "its model's earlier version",
    RollbackRequest,
    VersionChange,
    admin=True,
)
COMMUNITY_FORGET = Route(
    "POST",
    "/v1/communities/{id}/forget",
    "delete its pictures, data set, runs and model",
    answer=Forgotten,
    admin=True,
)
OPENAPI = Route("GET", "/openapi.json", "this document", answer=Document)

ROUTES = (
    HEALTHZ,
    READYZ,
    METRICS,
    MODELS,
    GENERATE,
    INTERPOLATE,
    VARIATIONS,
    FUSE,
    RENDER,
    INVERT,
    START_JOB,
    JOB,
    RELOAD,
    PROMOTE,
    ROLLBACK,
    VERSIONS,
    COMMUNITIES,
    COMMUNITY,
    COMMUNITY_PICTURES,
    COMMUNITY_BUILD,
    COMMUNITY_CHUNK,
    COMMUNITY_GRID,
    COMMUNITY_JOB,
    COMMUNITY_PROMOTE,
    COMMUNITY_ROLLBACK,
    COMMUNITY_FORGET,
    OPENAPI,
)
