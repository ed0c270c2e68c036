"""A community's own model over HTTP (admin only: the token, or loopback without one).

    GET    /v1/communities                       the communities with a model folder
    POST   /v1/communities/{id}/pictures         {files: [{name, data (base64)}]} -> kept, refused (by name)
    POST   /v1/communities/{id}/build            {} -> the data set: attributes or classes, contact sheet
    POST   /v1/communities/{id}/chunk            {minutes?} -> 202: one training chunk starts (one at a time)
    GET    /v1/communities/{id}                  pictures, disk, budgets, data set, chunks, version
    GET    /v1/communities/{id}/grid             the last chunk's grid of seeds 1-16 (base64 PNG)
    POST   /v1/communities/{id}/jobs             /v1/jobs' body: a vote-driven fine-tune of this model
    POST   /v1/communities/{id}/promote          {checkpoint, reason?}: as /v1/models/{name}/promote
    POST   /v1/communities/{id}/rollback         {version?, reason?}
    POST   /v1/communities/{id}/forget           pictures, data set, runs, model, versions: all deleted

The model a community trains is served under its id (``POST /v1/generate {"model": id}``) once
a chunk's candidate has passed its gate; at start-up every community's serving version is
loaded again, and a chunk the engine's stop interrupted is recorded as such (its resume point
was saved), so a restart loses nothing. Settings: config.toml ``[communities]``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.community import intake, training
from engine.community.build import BuildConfig, build_dataset
from engine.community.store import (
    Community,
    CommunityError,
    Limits,
    communities_root,
    known,
)
from engine.errors import MascotError
from engine.serve import contract as api
from engine.serve.requests import ApiError, allowed_path, reason, shown
from engine.serve.responses import json_response

if TYPE_CHECKING:
    from engine.serve.service import Service

log = logging.getLogger("mascot.engine.communities")
MIB_LIMITS = ("file_bytes", "upload_bytes", "disk_bytes")  # given in config.toml as *_mb


@dataclass(frozen=True)
class CommunitiesConfig:
    preset: str = "cpu-small"  # engine/community/training.py PRESETS
    tagger: str = ""  # a labelled data set whose classifier may tag pictures; "" = classes only
    threads: int = 1  # a chunk's CPU threads
    nice: int = 19  # a chunk's priority: serving goes first
    limits: Limits = Limits()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CommunitiesConfig:
        from engine.config import section

        table = dict(section(config, "communities"))
        limits = {}
        for f in fields(Limits):
            key = f"{f.name[: -len('_bytes')]}_mb" if f.name in MIB_LIMITS else f.name
            if key in table:
                value = _positive(key, table.pop(key))
                limits[f.name] = (
                    int(value * 2**20) if f.name in MIB_LIMITS else type(getattr(Limits, f.name))(value)
                )
        unknown = set(table) - {"preset", "tagger", "threads", "nice"}
        if unknown:
            raise MascotError(f"[communities] has unknown settings: {', '.join(sorted(unknown))}")
        for key in ("preset", "tagger"):
            if key in table and not isinstance(table[key], str):
                raise MascotError(f"[communities] {key} must be text, got {table[key]!r}")
        if "threads" in table:
            table["threads"] = int(_positive("threads", table["threads"]))
        if "nice" in table and not (isinstance(table["nice"], int) and 0 <= table["nice"] <= 19):
            raise MascotError(
                f"[communities] nice must be a whole number from 0 to 19, got {table['nice']!r}"
            )
        cfg = cls(**table, limits=replace(Limits(), **limits))
        training.preset(cfg.preset)  # an unknown preset is refused at start, not at the first chunk
        return cfg


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise MascotError(f"[communities] {key} must be a number above 0, got {value!r}")
    return value


def configured(service: Service) -> CommunityRoutes:
    """The routes with config.toml's [communities], over the engine's state folder."""
    from engine.config import load_config
    from engine.versions import state_root

    cfg = CommunitiesConfig.from_config(load_config())
    return CommunityRoutes(service, cfg, communities_root(state_root(Path(service.cfg.models[0][1]))))


class CommunityRoutes:
    def __init__(self, service: Service, cfg: CommunitiesConfig, root: Path) -> None:
        self.service, self.cfg, self.root = service, cfg, root
        self.locks: dict[str, asyncio.Lock] = {}
        self.training_now: tuple[str, asyncio.subprocess.Process] | None = None  # one at a time, engine-wide
        self.tasks: set[asyncio.Task] = set()

    def handlers(self) -> dict[api.Route, Any]:
        return {
            api.COMMUNITIES: self.list,
            api.COMMUNITY: self.status,
            api.COMMUNITY_PICTURES: self.pictures,
            api.COMMUNITY_BUILD: self.build,
            api.COMMUNITY_CHUNK: self.chunk,
            api.COMMUNITY_GRID: self.grid,
            api.COMMUNITY_JOB: self.job,
            api.COMMUNITY_PROMOTE: self.promote,
            api.COMMUNITY_ROLLBACK: self.rollback,
            api.COMMUNITY_FORGET: self.forget,
        }

    def attach(self, app: web.Application) -> None:
        """Start-up serves the communities' models again; clean-up stops a running chunk."""
        app.on_startup.append(self.startup)
        app.on_cleanup.append(self.cleanup)

    # --- helpers --------------------------------------------------------------------

    def _community(self, request: web.Request, must_exist: bool = True) -> Community:
        try:
            community = Community(self.root, request.match_info["id"])
        except CommunityError as exc:
            raise ApiError(400, "invalid_community", str(exc)) from None
        if community.id in dict(self.service.cfg.models):
            raise ApiError(
                400,
                "invalid_community",
                f"'{community.id}' is the name of a configured model; pick another id",
            )
        if must_exist and not community.exists():
            raise ApiError(
                404, "unknown_community", f"no community '{community.id}': upload its pictures first"
            )
        return community

    def _lock(self, community: Community) -> asyncio.Lock:
        return self.locks.setdefault(community.id, asyncio.Lock())

    def _running(self, community: Community) -> bool:
        return self.training_now is not None and self.training_now[0] == community.id

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- routes ---------------------------------------------------------------------

    async def list(self, request: web.Request) -> web.Response:
        return json_response({"communities": await asyncio.to_thread(known, self.root)})

    async def pictures(self, request: web.Request, body: api.PicturesRequest) -> web.Response:
        community = self._community(request, must_exist=False)
        files = _files(body)
        async with self._lock(community):
            await asyncio.to_thread(community.open, self.cfg.limits, self.cfg.preset)
            result = await asyncio.to_thread(intake.take_pictures, community, files, self.cfg.limits)
            answer = await asyncio.to_thread(result.to_json, community, self.cfg.limits)
        return json_response(answer)

    async def build(self, request: web.Request) -> web.Response:
        community = self._community(request)
        if self._running(community):
            raise ApiError(
                409, "chunk_running", f"a training chunk of '{community.id}' is running; wait for it"
            )
        async with self._lock(community):
            state = await asyncio.to_thread(community.state)
            recipe = training.preset(state.preset)
            cfg = BuildConfig(size=recipe.size, tagger=self.cfg.tagger, features=recipe.features)
            summary = await asyncio.to_thread(build_dataset, community, cfg, self.cfg.limits)
            state = await asyncio.to_thread(community.state)
            if state.built and state.built.get("attributes") != summary["attributes"]:
                await asyncio.to_thread(_start_over, community)  # new classes: a new model
                self.service.registry.drop(community.id)
            state = await asyncio.to_thread(community.state)
            state.built = summary
            await asyncio.to_thread(community.save, state)
        sheet = (community.data / "contact_sheet.png").read_bytes()
        return json_response({**summary, "contact_sheet": base64.b64encode(sheet).decode()})

    async def chunk(self, request: web.Request, body: api.ChunkRequest) -> web.Response:
        community = self._community(request)
        minutes = body.minutes
        if self.training_now is not None:
            raise ApiError(
                409,
                "chunk_running",
                f"a training chunk of '{self.training_now[0]}' is running; one at a time",
            )
        state = await asyncio.to_thread(community.state)
        if state.running and _alive(state.running.get("pid")):  # one an earlier engine started
            raise ApiError(409, "chunk_running", f"a training chunk of '{community.id}' is still running")
        if not state.built:
            raise ApiError(
                409, "not_built", f"community '{community.id}' has no data set yet: build it first"
            )
        recipe = training.preset(state.preset)
        if state.cpu_minutes_left < (recipe.after_minutes or 6.0) + 1.5:
            raise ApiError(
                409,
                "budget_spent",
                f"community '{community.id}' has spent {state.cpu_minutes_spent:.1f} of its "
                f"{state.cpu_minutes_budget:g} CPU minutes",
            )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.community.training",
            str(self.root),
            community.id,
            "--minutes",
            str(float(minutes)),
            "--threads",
            str(self.cfg.threads),
            "--nice",
            str(self.cfg.nice),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.training_now = (community.id, process)
        state.running = {
            "pid": process.pid,
            "started": time.time(),
            "minutes": minutes or recipe.chunk_minutes,
        }
        await asyncio.to_thread(community.save, state)
        self._spawn(self._finish_chunk(community, process))
        return json_response(
            {"community": community.id, "state": "running", "chunk": len(state.chunks) + 1}, status=202
        )

    async def _finish_chunk(self, community: Community, process: asyncio.subprocess.Process) -> None:
        try:
            await process.wait()
            if not community.exists():
                return  # forgotten meanwhile
            state = await asyncio.to_thread(community.state)
            if state.running:  # the child died before recording: count it, keep the budget honest
                await asyncio.to_thread(_record_interrupted, community, f"exit status {process.returncode}")
            await self._serve(community)
        finally:
            self.training_now = None  # only once a passing candidate serves: a status says so at once

    async def _serve(self, community: Community) -> None:
        """Serve the community's current version under its id, when it has one that differs."""
        live = training.versions(community).live
        if not (live / "model.json").is_file():
            return
        registry = self.service.registry
        if registry.paths.get(community.id) == live:
            return
        try:
            await registry.put(community.id, live)
        except MascotError as exc:
            log.warning("community %s: its model could not be served: %s", community.id, exc)

    async def status(self, request: web.Request) -> web.Response:
        community = self._community(request)
        answer = await asyncio.to_thread(_status, community, self.cfg.limits)
        answer["running"] = self._running(community)
        answer["served"] = community.id in self.service.registry.names()
        return json_response(answer)

    async def grid(self, request: web.Request) -> web.Response:
        community = self._community(request)
        path = community.run / training.GRID
        if not path.is_file():
            raise ApiError(
                404, "no_grid", f"community '{community.id}' has no finished chunk with a grid yet"
            )
        return json_response({"image": base64.b64encode(path.read_bytes()).decode()})

    async def forget(self, request: web.Request) -> web.Response:
        community = self._community(request, must_exist=False)
        if self._running(community):
            _, process = self.training_now
            process.send_signal(signal.SIGTERM)
            await process.wait()
        async with self._lock(community):
            freed = await asyncio.to_thread(community.disk_bytes)
            if community.id in self.service.registry.names():
                self.service.registry.drop(community.id)
            await asyncio.to_thread(community.forget)
        self.service.cache.clear()  # drawn pictures of the model go with it
        return json_response({"community": community.id, "forgotten": True, "freed_bytes": freed})

    async def job(self, request: web.Request, body: api.CommunityJobRequest) -> web.Response:
        """A vote-driven fine-tune of the community's model on its own data set and votes."""
        community = self._community(request)
        if community.id not in self.service.registry.names():
            raise ApiError(409, "no_model", f"community '{community.id}' has no model serving yet")
        from engine.serve.finetune import finetune_spec, with_curation

        ck = self.service.registry.get(community.id)
        job = body.model_copy(update={"model": community.id, "data": str(community.data)})
        spec, files = finetune_spec(job, ck, (str(community.folder),)), {}
        if job.curated is not None:
            spec, files = with_curation(
                job,
                ck,
                spec,
                versions=training.versions(community).root,
                sizes=tuple(self.service.sizes(ck)),
                upscaler=self.service.cfg.upscaler if self.service.upscaler else "",
            )
        job = self.service.jobs.start(spec, files)
        return json_response(job.public(), status=202)

    async def promote(self, request: web.Request, body: api.PromoteRequest) -> web.Response:
        community = self._community(request)
        roots = (*self.service.roots, str(community.folder))
        path = allowed_path(body.checkpoint, "checkpoint", roots, "a checkpoint folder")
        self._serving(community)
        store = training.versions(community)
        return json_response(
            await self.service.add_and_switch(community.id, store, path, "promote", reason(body.reason))
        )

    async def rollback(self, request: web.Request, body: api.RollbackRequest) -> web.Response:
        community = self._community(request)
        self._serving(community)
        store = training.versions(community)
        return json_response(
            await self.service.roll_back(community.id, store, body.version or "", reason(body.reason))
        )

    def _serving(self, community: Community) -> None:
        if community.id not in self.service.registry.names():
            raise ApiError(409, "no_model", f"community '{community.id}' has no model serving yet")

    # --- start and stop -------------------------------------------------------------

    async def startup(self, app: web.Application) -> None:
        self._spawn(self._adopt_communities())

    async def _adopt_communities(self) -> None:
        """Once the configured models serve: every community's serving version, and chunks a
        stop interrupted recorded as such."""
        while not self.service.ready:  # noqa: ASYNC110  (the service keeps a flag, not an event)
            await asyncio.sleep(0.2)
        for name in await asyncio.to_thread(known, self.root):
            community = Community(self.root, name)
            try:
                state = await asyncio.to_thread(community.state)
                if state.running and not _alive(state.running.get("pid")):
                    await asyncio.to_thread(
                        _record_interrupted, community, "the engine stopped during the chunk"
                    )
                elif state.running:  # a chunk outlived an engine killed outright: serve what it makes
                    self._spawn(self._outlived(community, state.running["pid"]))
                await self._serve(community)
            except MascotError as exc:
                log.warning("community %s: %s", name, exc)

    async def _outlived(self, community: Community, pid: int) -> None:
        while _alive(pid):  # noqa: ASYNC110  (not our child: nothing to await but its pid)
            await asyncio.sleep(5.0)
        if community.exists():
            await self._serve(community)

    async def cleanup(self, app: web.Application) -> None:
        if self.training_now is not None:
            _, process = self.training_now
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)  # the chunk saves its resume point and records itself
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
        for task in list(self.tasks):
            task.cancel()


def _files(body: api.PicturesRequest) -> list[tuple[str, bytes]]:
    files = []
    for i, item in enumerate(body.files):
        try:
            files.append((item.name, base64.b64decode(item.data, validate=True)))
        except (binascii.Error, ValueError):
            raise ApiError(
                400, "invalid_files", f"files[{i}] ({shown(item.name)}): data is not base64"
            ) from None
    return files


def _status(community: Community, limits: Limits) -> dict[str, Any]:
    state = community.state()
    pictures = intake.stored_pictures(community)
    store = training.versions(community)
    recipe = training.preset(state.preset)
    return {
        "community": community.id,
        "pictures": len(pictures),
        "disk_bytes": community.disk_bytes(),
        "cpu_minutes_spent": state.cpu_minutes_spent,
        "cpu_minutes_budget": state.cpu_minutes_budget,
        "preset": state.preset,
        "built": state.built,
        "chunks": state.chunks,
        "chunks_planned": training.planned_chunks(state, recipe),
        "version": store.current() if (store.live / "model.json").is_file() else None,
        "limits": intake.limits_json(limits),
    }


def _start_over(community: Community) -> None:
    """A data set with other attributes or classes cannot continue the old model's training."""
    import shutil

    for folder in (community.run, community.folder / "resume", community.folder / "models"):
        shutil.rmtree(folder, ignore_errors=True)
    state = community.state()
    state.chunks = []
    community.save(state)


def _record_interrupted(community: Community, why: str) -> None:
    state = community.state()
    running = state.running
    minutes = min(
        float(running.get("minutes") or 0), (time.time() - float(running.get("started", time.time()))) / 60
    )
    state.chunks.append(
        {
            "n": len(state.chunks) + 1,
            "started": running.get("started"),
            "finished": time.time(),
            "minutes": round(minutes, 2),
            "cpu_minutes": round(minutes, 2),  # not measured: the wall time stands in
            "outcome": "interrupted",
            "error": why,
            "gate": None,
            "passed": False,
            "version": training.versions(community).current(),
            "grid": "",
        }
    )
    state.cpu_minutes_spent = round(state.cpu_minutes_spent + minutes, 2)
    state.running = {}
    community.save(state)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
