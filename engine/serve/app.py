"""The engine's HTTP API (aiohttp). JSON in; JSON with base64 images out.

    GET  /healthz  /readyz  /metrics
    GET  /v1/models
    GET  /openapi.json       the OpenAPI 3.1 document (engine/serve/contract.py declares it all)
    POST /v1/generate        {model?, attributes?, seed?, count?, truncation?, format?}
    POST /v1/interpolate     {model?, a: {seed, attributes?}, b: {...}, frames?, truncation?}
    POST /v1/variations /v1/fuse /v1/render   (engine/serve/creative.py: the creative loop)
    POST /v1/invert          (engine/serve/invert.py: picture -> mascot)
    POST /v1/jobs            {kind: "finetune", model?, data, kimg?, freeze_d?, ...}
    GET  /v1/jobs/{id}
    POST /v1/models/{name}/reload   {path?}
    POST /v1/models/{name}/promote  {checkpoint, reason?}   (engine/versions.py)
    POST /v1/models/{name}/rollback {reason?}
    GET  /v1/models/{name}/versions

Every error is ``{"error": {"code", "message"}}`` with a 4xx status for bad input;
a 500 is a bug. Handlers receive their body as its declared type, already validated;
engine/serve/routes.py binds them, with the route modules', to the app.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from aiohttp import web
from cachetools import LRUCache
from PIL import Image

from engine.checkpoint import Checkpoint
from engine.errors import MascotError
from engine.sampling import MAX_SEED, Request, interpolation_inputs, resolve, to_uint8
from engine.schema import SchemaError
from engine.serve import contract as api
from engine.serve import routes
from engine.serve.admission import Admission
from engine.serve.auth import admin_guard
from engine.serve.batcher import Batcher, QueueFull
from engine.serve.contract import JOB_MAX_BODY, MAX_BODY, MAX_COUNT
from engine.serve.finetune import finetune_spec, with_curation
from engine.serve.forward import DTYPES
from engine.serve.images import encode_image, generation_id, png64
from engine.serve.jobs import JobConflict, JobRunner, UnknownJob
from engine.serve.metrics import Metrics
from engine.serve.registry import Registry, UnknownModel
from engine.serve.requests import (
    ApiError,
    allowed_path,
    error_response,
    parse_attributes,
    reason,
)
from engine.serve.responses import json_response
from engine.serve.workers import Expired, WorkerPool, run_all
from engine.versions import VersionStore

log = logging.getLogger("mascot.engine")
METRICS = web.AppKey("metrics", Metrics)


@dataclass(frozen=True)
class ServeConfig:
    models: tuple[tuple[str, str], ...] = (("default", "checkpoints/default"),)
    default_model: str = "default"
    device: str = "cpu"
    # fp32 keeps "same bytes alone or batched" through engine/serve/forward.py's exact forward
    # at fixed bucket shapes; fp64 costs about 3x the time; bf16 is for GPUs.
    precision: str = "fp32"
    batch_window_ms: float = 0.0  # >0: wait this long for batch-mates, only when requests arrive together
    max_batch: int = 64
    buckets: tuple[int, ...] = (1, 2, 4)  # the batch shapes forward passes run at
    workers: int = 1  # drawing threads, each running torch single-threaded when there is one per core
    # The port opens before the models load (/healthz answers, /readyz says when drawing can start).
    load_in_background: bool = False
    channels_last: bool = False
    queue_size: int = 256
    request_timeout_s: float = 30.0
    cache_size: int = 512
    jobs_dir: str = "runs/jobs"
    # Reload, promote and jobs read only paths inside these folders (besides the models' own
    # folders and jobs_dir): a client cannot point the engine at /etc.
    path_roots: tuple[str, ...] = ("checkpoints", "data", "runs")
    admin_token: str = field(default="", repr=False)  # ENGINE_ADMIN_TOKEN; "" = admin on loopback only
    upscaler: str = ""  # the upscale-and-restore stage's folder ("" or missing: native size only)
    tagger: str = ""  # the attribute classifier /v1/invert reads pictures with ("" or missing: none)
    translators: tuple[tuple[str, str], ...] = ()  # /v1/invert's styles: (name, CycleGAN folder) pairs
    invert_steps: int = 80  # /v1/invert's latent search: Adam steps, and a time limit that stops it sooner
    invert_budget_s: float = 7.0


STATUS_OF = {
    UnknownModel: (404, "unknown_model"),
    UnknownJob: (404, "unknown_job"),
    JobConflict: (409, "job_running"),
    SchemaError: (400, "invalid_attributes"),
    Expired: (503, "timeout"),
}
# An interpolation's frames times their area is bounded, so its answer stays a few megabytes:
# 64 frames up to 256 px, 16 at 512 px.
MAX_FRAME_AREA = 64 * 256 * 256


@web.middleware
async def errors_and_metrics(request: web.Request, handler):
    metrics = request.app[METRICS]
    start = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.headers)
    except QueueFull as exc:
        response = error_response(429, "busy", str(exc), {"Retry-After": str(int(exc.retry_after + 0.999))})
    except MascotError as exc:
        status, code = next((v for k, v in STATUS_OF.items() if isinstance(exc, k)), (400, "bad_request"))
        response = error_response(status, code, str(exc))
    except web.HTTPRequestEntityTooLarge:
        response = error_response(413, "body_too_large", f"the request body is larger than {MAX_BODY} bytes")
    except web.HTTPException as exc:
        response = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except Exception:
        log.exception("unhandled error on %s", request.path)
        response = error_response(500, "internal", "the engine hit an internal error; it has been logged")
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics.observe_request(route, response.status, time.perf_counter() - start)
    return response


# --- the service -------------------------------------------------------------------


class EngineService:
    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        dtype = DTYPES[cfg.precision]
        self.registry = Registry({n: Path(p) for n, p in cfg.models}, cfg.default_model, cfg.device, dtype)
        self.metrics = Metrics()
        self.pool = WorkerPool(cfg.workers)
        self.batcher = Batcher(
            window_ms=cfg.batch_window_ms,
            max_batch=cfg.max_batch,
            buckets=cfg.buckets,
            queue_size=cfg.queue_size,
            device=cfg.device,
            channels_last=cfg.channels_last,
            on_batch=self.metrics.observe_forward,
            pool=self.pool,
        )
        self.cache: LRUCache = LRUCache(maxsize=cfg.cache_size)
        self.jobs: JobRunner | None = None
        self.upscaler = None
        # Light work (the model's own size, 256 px) and heavy work (512 px, interpolations, searches)
        # are admitted apart: each lane's wait is learned from its own requests, on its own workers.
        self.admission = Admission(cfg.request_timeout_s, capacity=cfg.queue_size)
        self.heavy_admission = Admission(cfg.request_timeout_s, capacity=cfg.queue_size)
        self.ready = False  # models loaded and admission calibrated
        self.seconds_per_image = 0.05  # one image at the model's own size on one worker, measured at start
        self.load_error = ""
        self.size_cost: dict[
            int, float
        ] = {}  # work of one image at a size, in images at the model's own size
        self.roots = (
            tuple(cfg.path_roots) + tuple(str(Path(p).parent) for _, p in cfg.models) + (cfg.jobs_dir,)
        )

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=JOB_MAX_BODY, middlewares=[errors_and_metrics, admin_guard(self.cfg.admin_token)]
        )
        app[METRICS] = self.metrics
        routes.register(app, self, self.handlers())
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    def handlers(self) -> dict[api.Route, routes.Handler]:
        """The service's own routes; the creative loop and inversion have modules of their own."""
        return {
            api.HEALTHZ: self.healthz,
            api.READYZ: self.readyz,
            api.METRICS: self.prometheus,
            api.MODELS: self.models,
            api.GENERATE: self.generate,
            api.INTERPOLATE: self.interpolate,
            api.START_JOB: self.start_job,
            api.JOB: self.job,
            api.RELOAD: self.reload,
            api.PROMOTE: self.promote,
            api.ROLLBACK: self.rollback,
            api.VERSIONS: self.versions,
        }

    async def _startup(self, app: web.Application) -> None:
        self.pool.start()
        self.batcher.start()
        self.jobs = JobRunner(Path(self.cfg.jobs_dir))
        if self.cfg.load_in_background:
            self._loading = asyncio.ensure_future(self._load())
            self._loading.add_done_callback(_stop_on_failed_load)
        else:
            await self._load()

    async def _load(self) -> None:
        try:
            await asyncio.to_thread(self.registry.load_all)
        except Exception as exc:
            self.load_error = str(exc)
            raise
        self.upscaler = await asyncio.to_thread(_load_upscaler, self.cfg.upscaler)
        await self._calibrate()
        self._publish_versions()
        self.ready = True
        log.info("ready: %s", ", ".join(self.registry.names()))

    async def _cleanup(self, app: web.Application) -> None:
        loading = getattr(self, "_loading", None)
        if loading is not None and not loading.done():
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
        await self.batcher.stop()
        await self.pool.stop()
        if self.jobs:
            await self.jobs.close()

    async def _calibrate(self) -> None:
        """Admission's rate comes from a measured warm-up, not a guess, and so does each size's cost."""
        ck = self.registry.get(None)
        images = min(max(self.cfg.buckets), self.cfg.max_batch)
        seeds = iter(range(MAX_SEED, 0, -1))  # fresh seeds each round: a cached image measures nothing

        def draw_at(size: int):
            async def draw(n: int) -> None:
                reqs = [resolve(ck.schema, {}, next(seeds)) for _ in range(n)]
                forward = self.batcher.forward_for(
                    ck
                )  # beside the queue: the warm-up is not traffic in the metrics
                await self.pool.run(
                    lambda: [encode_image(p, "png") for p in self.finished(ck, forward(reqs), size)]
                )

            return draw

        # Through the stage each image runs alone, so one image gives its cost. Every size past the
        # native one is the same network pass (a smaller one is resized from it), so the largest
        # stands for all; with two workers or more both measurements run at once, one per worker,
        # and the start stays short.
        largest = max(self.sizes(ck))
        measured = [ck.resolution] + ([largest] if largest != ck.resolution else [])
        runs = [self.admission.measure(draw_at(s), images if s == ck.resolution else 1) for s in measured]
        if self.pool.workers >= len(runs):
            timings = await asyncio.gather(*runs)
        else:
            timings = [await run for run in runs]
        by_size = dict(zip(measured, timings, strict=True))
        seconds = {s: by_size[ck.resolution if s == ck.resolution else largest] for s in self.sizes(ck)}
        self.admission.calibrate(seconds[ck.resolution] / self.pool.workers)
        self.heavy_admission.calibrate(seconds[ck.resolution] / self.pool.workers)
        self.size_cost = {size: s / seconds[ck.resolution] for size, s in seconds.items()}
        self.seconds_per_image = seconds[ck.resolution]

    def _publish_versions(self) -> None:
        for name in self.registry.names():
            self.metrics.set_model_version(name, self.registry.get(name).version)

    # --- probes ---
    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return error_response(503, "not_ready", "models are still loading")
        return json_response({"ok": True, "models": self.registry.names(), "queue_depth": self.batcher.depth})

    async def prometheus(self, request: web.Request) -> web.Response:
        self.metrics.queue_depth.set(self.batcher.depth)
        body, content_type = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    # --- models ---
    async def models(self, request: web.Request) -> web.Response:
        out = []
        for name in self.registry.names():
            ck = self.registry.get(name)
            out.append(
                {
                    "name": name,
                    "version": ck.version,
                    "family": ck.meta["family"],
                    "resolution": ck.resolution,
                    "schema": ck.schema.to_json(),
                    "metrics": ck.meta.get("metrics", {}),
                    "posted": ck.meta.get("posted"),
                    "training": {k: v for k, v in ck.meta.get("training", {}).items() if k != "config"},
                    "parent": ck.meta.get("parent"),
                    "sizes": self.sizes(ck),
                }
            )
        upscaler = {"version": self.upscaler.version, "scale": self.upscaler.scale} if self.upscaler else None
        return json_response(
            {
                "default": self.registry.default,
                "models": out,
                "upscaler": upscaler,
                "limits": {"count": MAX_COUNT},
            }
        )

    async def reload(self, request: web.Request, body: api.ReloadRequest) -> web.Response:
        name = request.match_info["name"]
        if body.path is not None:
            # Served from a path, it becomes a version like a promotion, so that a later
            # promote or rollback knows what was really serving.
            path = allowed_path(body.path, "path", self.roots, "a checkpoint folder")
            return json_response(await self._adopt_and_switch(name, path, "reload", reason(body.reason)))
        try:
            fresh = await self.registry.reload(name)
        except UnknownModel:
            raise
        except MascotError as exc:
            raise ApiError(422, "reload_refused", f"{exc}; the previous model keeps serving") from None
        self._publish_versions()
        return json_response({"name": name, "version": fresh.version})

    # --- versions: promote, rollback, lineage ---
    def _versions(self, name: str) -> VersionStore:
        self.registry.get(name)  # unknown model -> 404
        live = dict(self.cfg.models)[name]
        return VersionStore(live)

    async def promote(self, request: web.Request, body: api.PromoteRequest) -> web.Response:
        name = request.match_info["name"]
        path = allowed_path(body.checkpoint, "checkpoint", self.roots, "a checkpoint folder")
        return json_response(await self._adopt_and_switch(name, path, "promote", reason(body.reason)))

    async def _adopt_and_switch(self, name: str, path: Path, action: str, reason: str) -> dict:
        store = self._versions(name)
        try:
            await asyncio.to_thread(store.adopt_live_folder)
        except (MascotError, OSError) as exc:
            raise ApiError(422, f"{action}_refused", f"{exc}; the current model keeps serving") from None
        return await self.add_and_switch(name, store, path, action, reason)

    async def add_and_switch(
        self, name: str, store: VersionStore, path: Path, action: str, reason: str
    ) -> dict:
        """Keep ``path`` as a version of ``name`` in ``store`` and serve it (422 when it is refused)."""
        try:
            version = await asyncio.to_thread(store.add, path)
        except (MascotError, OSError) as exc:
            raise ApiError(422, f"{action}_refused", f"{exc}; the current model keeps serving") from None
        return await self.switch(name, store, version, action, reason)

    async def rollback(self, request: web.Request, body: api.RollbackRequest) -> web.Response:
        name = request.match_info["name"]
        return json_response(
            await self.roll_back(name, self._versions(name), reason(body.version), reason(body.reason))
        )

    async def roll_back(self, name: str, store: VersionStore, version: str, reason: str) -> dict:
        """Serve ``version`` of ``name`` again, or the one before the current (409 when there is none)."""
        target = version or await asyncio.to_thread(store.previous)
        if not target:
            raise ApiError(
                409, "nothing_to_roll_back", f"model '{name}' has no earlier promoted version to return to"
            )
        return await self.switch(name, store, target, "rollback", reason)

    async def switch(self, name: str, store: VersionStore, version: str, action: str, reason: str) -> dict:
        """Serve ``version`` of ``name`` from ``store`` (loaded and checked first; 422 and the old one
        serves when it cannot), and record the change in the store's history."""
        # Load and validate the version first (the old model serves meanwhile), then repoint the link.
        before = str(self.registry.paths[name])
        try:
            fresh = await self.registry.reload(name, str(store.path_of(version)))
        except MascotError as exc:
            raise ApiError(422, f"{action}_refused", f"{exc}; the previous model keeps serving") from None
        try:
            change = await asyncio.to_thread(store.switch, version, action, reason)
        except (MascotError, OSError) as exc:
            await self.registry.reload(name, before)  # the link did not move, so neither does serving
            raise ApiError(422, f"{action}_refused", f"{exc}; the previous model keeps serving") from None
        self.registry.paths[name] = store.live  # later reloads follow the link
        self._publish_versions()
        return {"name": name, "version": fresh.version, "previous": change.previous, "action": action}

    async def versions(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        store = self._versions(name)
        history = await asyncio.to_thread(store.history)
        return json_response(
            {
                "name": name,
                "current": store.current(),
                "previous": store.previous(),
                "history": [c.to_json() for c in history],
            }
        )

    # --- images ---
    def model(self, name: str | None) -> Checkpoint:
        if not self.ready:
            raise ApiError(
                503,
                "not_ready",
                "the engine is still loading its models; try again in a moment",
                {"Retry-After": "1"},
            )
        return self.registry.get(name)

    def attributes(self, ck: Checkpoint, raw: Any, offered_only: bool = True) -> dict[str, str]:
        return parse_attributes(ck.schema, raw, offered_only)

    async def generate(self, request: web.Request, body: api.GenerateRequest) -> web.Response:
        ck = self.model(body.model)
        given = self.attributes(ck, body.attributes)
        trunc, fmt, size = body.truncation, body.format, self.size(ck, body.size)
        seeds = (
            [(body.seed + i) % (MAX_SEED + 1) for i in range(body.count)]
            if body.seed is not None
            else [secrets.randbelow(MAX_SEED + 1) for _ in range(body.count)]
        )
        reqs = [resolve(ck.schema, given, s, trunc) for s in seeds]
        encoded = await self.images(ck, reqs, fmt, size)
        images = [
            {
                "seed": r.seed,
                "attributes": r.attrs,
                "truncation": r.truncation,
                "format": fmt,
                "size": size,
                "generation_id": generation_id(ck.version, r),
                "image": base64.b64encode(data).decode(),
            }
            for r, data in zip(reqs, encoded)
        ]
        return json_response(
            {"model": body.model or self.registry.default, "version": ck.version, "images": images}
        )

    def sizes(self, ck: Checkpoint) -> list[int]:
        if ck.output is not None:  # pixel art: enlarged by nearest neighbour, never the upscale stage
            return ck.output.sizes()
        return self.upscaler.sizes(ck.resolution) if self.upscaler else [ck.resolution]

    def size(self, ck: Checkpoint, requested: int | None) -> int:
        """The picture's side: the generator's own, or 2x / 4x through the upscale stage."""
        offered = self.sizes(ck)
        size = ck.resolution if requested is None else requested
        if size not in offered:
            more = (
                ""
                if self.upscaler or ck.output is not None
                else " (larger sizes need the upscale stage, which this engine has not loaded)"
            )
            raise ApiError(
                400,
                "invalid_size",
                f"size must be one of {', '.join(map(str, offered))}, got {json.dumps(size)}{more}",
            )
        return size

    def finished(self, ck: Checkpoint, pixels, size: int):
        """The generator's pixels as served at ``size``: a pixel-art model's snapped to its palette
        and enlarged by nearest neighbour, any other's through the upscale stage."""
        if ck.output is not None:
            return ck.output.finish(pixels, size)
        return pixels if self.upscaler is None else self.upscaler.apply(pixels, size)

    def _cost(self, ck: Checkpoint, size: int) -> float:
        """Work of one image at ``size``, in images at the model's own size, for admission."""
        if ck.output is not None:
            return 1.0  # the nearest-neighbour enlargement is a copy
        return self.size_cost.get(size, (size / ck.resolution) ** 2)

    def heavy(self, ck: Checkpoint, size: int) -> bool:
        """Pictures through the x4 upscale stage are heavy work: they never hold every worker."""
        return ck.output is None and size > 2 * ck.resolution

    def admit(self, heavy: bool, images: int, cost: float = 1.0):
        """Hold ``images`` of ``cost`` units in the lane's admission: 429 at once if they would be late."""
        return (self.heavy_admission if heavy else self.admission).admit(images, cost)

    def deadline(self) -> float:
        return time.monotonic() + self.cfg.request_timeout_s

    def timed_out(self) -> ApiError:
        return ApiError(
            503,
            "timeout",
            f"the request could not be drawn within {self.cfg.request_timeout_s:.0f} s; try again",
        )

    async def draw(self, work: Callable[[], Any], ck: Checkpoint, size: int, images: int) -> Any:
        """``work()`` on a worker, admitted as ``images`` pictures at ``size`` (429 at once if it
        would be late; 503 if it cannot start before its deadline)."""
        heavy = self.heavy(ck, size)
        with self.admit(heavy, images, self._cost(ck, size)):
            try:
                return await self.pool.run(work, heavy=heavy, deadline=self.deadline())
            except Expired:
                raise self.timed_out() from None

    def units(self, seconds: float) -> float:
        """Work of ``seconds`` on one worker (a picture's search), in images at the model's own size."""
        return seconds / self.seconds_per_image

    async def images(self, ck: Checkpoint, reqs: list[Request], fmt: str, size: int) -> list[bytes]:
        key = lambda r: (ck.version, r, fmt, size)
        found = {r: self.cache[key(r)] for r in reqs if key(r) in self.cache}
        missing = list(dict.fromkeys(r for r in reqs if r not in found))
        self.metrics.cache_hits.inc(len(reqs) - len(missing))
        if missing:
            heavy = self.heavy(ck, size)
            # The upscale stage and the encoding run on the worker that drew the pixels.
            finish = lambda p: encode_image(self.finished(ck, p[None], size)[0], fmt)
            # 429 now rather than a 503 after the timeout
            with self.admit(heavy, len(missing), self._cost(ck, size)):
                deadline = self.deadline()
                try:
                    blobs = await asyncio.wait_for(
                        self.batcher.submit(ck, missing, finish, heavy=heavy, deadline=deadline),
                        self.cfg.request_timeout_s,
                    )
                except (TimeoutError, Expired):
                    raise self.timed_out() from None
            for r, blob in zip(missing, blobs):
                found[r] = self.cache[key(r)] = blob
        return [found[r] for r in reqs]

    async def interpolate(self, request: web.Request, body: api.InterpolateRequest) -> web.Response:
        ck = self.model(body.model)
        trunc, size = body.truncation, self.size(ck, body.size)
        most = max(2, min(64, MAX_FRAME_AREA // (size * size)))
        frames = min(16, most) if body.frames is None else body.frames
        if frames > most:
            raise ApiError(
                400,
                "invalid_frames",
                f"at {size} px, frames must be a whole number from 2 to {most}, got {frames}",
            )
        ends = [
            resolve(ck.schema, self.attributes(ck, end.attributes), end.seed, trunc)
            for end in (body.a, body.b)
        ]
        gif, pngs = await self._animation(ck, ends[0], ends[1], frames, size)
        return json_response(
            {
                "version": ck.version,
                "a": {"seed": ends[0].seed, "attributes": ends[0].attrs},
                "b": {"seed": ends[1].seed, "attributes": ends[1].attrs},
                "frames": pngs,
                "gif": gif,
            }
        )

    async def _animation(
        self, ck: Checkpoint, a: Request, b: Request, frames: int, size: int
    ) -> tuple[str, list[str]]:
        """(GIF, PNG frames), drawn a bucket of frames at a time as heavy work (each frame finished
        and encoded there), so no piece of an interpolation holds a worker for long and a generate
        arriving meanwhile waits one bucket at most."""
        z, c = interpolation_inputs(ck.schema, ck.G.z_dim, a, b, frames)
        step = self.batcher.max_batch
        dtype = next(ck.G.parameters()).dtype

        def draw(lo: int):
            def work() -> list[tuple[str, np.ndarray]]:
                with torch.inference_mode():
                    x = ck.G(
                        z[lo : lo + step].to(self.cfg.device, dtype),
                        c[lo : lo + step].to(self.cfg.device, dtype),
                        truncation=a.truncation,
                    )
                return [(png64(p), p) for p in self.finished(ck, to_uint8(x), size)]

            return work

        with self.admit(True, frames, self._cost(ck, size)):
            deadline = self.deadline()
            try:
                chunks = await run_all(
                    self.pool, [draw(lo) for lo in range(0, frames, step)], heavy=True, deadline=deadline
                )
                done = [f for chunk in chunks for f in chunk]
                gif = await self.pool.run(lambda: _gif([p for _, p in done]), heavy=True, deadline=deadline)
                return gif, [png for png, _ in done]
            except Expired:
                raise self.timed_out() from None

    # --- jobs ---
    async def start_job(self, request: web.Request, body: api.JobRequest) -> web.Response:
        ck = self.model(body.model)
        spec, files = finetune_spec(body, ck, self.roots), {}
        if body.curated is not None:
            name = body.model or self.registry.default
            spec, files = with_curation(
                body,
                ck,
                spec,
                versions=VersionStore(dict(self.cfg.models)[name]).root,
                sizes=tuple(self.sizes(ck)),
                upscaler=self.cfg.upscaler if self.upscaler else "",
            )
        job = self.jobs.start(spec, files)
        return json_response(job.public(), status=202)

    async def job(self, request: web.Request) -> web.Response:
        return json_response(self.jobs.get(request.match_info["id"]).public())


def _load_upscaler(path: str):
    """The upscale stage, or None when none is configured or shipped (a bad one is an error)."""
    if not path or not (Path(path) / "upscaler.json").is_file():
        if path:
            log.info("no upscale stage at %s: serving the generators' own size only", path)
        return None
    from engine.upscale.stage import UpscaleStage

    stage = UpscaleStage(path)
    log.info("upscale stage %s from %s: sizes up to x%d", stage.version, path, stage.scale)
    return stage


def _stop_on_failed_load(task: asyncio.Task) -> None:
    """A model that cannot load in the background stops the server, as it would at start-up."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the models could not be loaded: %s", task.exception())
        signal.raise_signal(signal.SIGTERM)


def _gif(pixels: list[np.ndarray]) -> str:
    """The frames there and back, looping, in one palette of 256 colours chosen by fast octree from
    every frame at a quarter of its side. At 512 px the median cut the GIF encoder runs on each
    frame otherwise costs about 50 times as much (16 frames: 15 s against 0.3 s on a busy 2-core
    CPU); the PNG frames stay exact."""
    images = [Image.fromarray(p) for p in pixels]
    thumbs = [im.reduce(4) if min(im.size) >= 64 else im for im in images]
    w, h = thumbs[0].size
    mosaic = Image.new("RGB", (w, h * len(thumbs)))
    for i, thumb in enumerate(thumbs):
        mosaic.paste(thumb, (0, i * h))
    palette = mosaic.quantize(256, method=Image.Quantize.FASTOCTREE)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    buf = io.BytesIO()
    loop = frames + frames[-2:0:-1]
    loop[0].save(buf, format="GIF", save_all=True, append_images=loop[1:], duration=80, loop=0)
    return base64.b64encode(buf.getvalue()).decode()
