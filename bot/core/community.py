"""A server's own model, from the chat: /train, /forget, and its nightly chunks' progress.

Discord and the web chat both call these. A server is a Discord guild (``discord-<guild id>``)
or the local web chat (``web-chat``); that name is the community's id on the engine and the
name of the model it serves (``/v1/communities/...``, engine/serve/communities.py). Pictures,
data set, model and versions live on the engine, one folder per community; the bot keeps
which server trains what, where its progress goes, and the mascots its model drew.

Only the server's own members see its model, unless its managers share it (/settings share:):
``visible`` hides other servers' unshared models from /mascot, the model lists and /settings.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.engine_client import EngineClient, EngineError, Job, VersionChange
from bot.core.reply import Attachment, Caller, Reply, oops
from bot.store import Store

log = logging.getLogger("mascot.bot.community")
WEB_SERVER = "web"  # the web chat is one server: its store key
PREFIXES = ("discord-", "web-")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".svg")
KINDS = "PNG, JPEG, WebP, GIF or SVG"
MAX_ZIP_ENTRIES = 3000
MAX_ZIP_BYTES = 200 * 2**20  # unpacked, all entries of one zip
UPLOAD_BATCH_BYTES = 24 * 2**20  # per request to the engine (base64 makes it a third larger)
SHOWN_REFUSALS = 10
ProgressPost = Callable[[dict[str, Any], Reply], Awaitable[None]]


def server_of(caller: Caller) -> str | None:
    """The server a caller speaks in: the guild on Discord (None in DMs), the web chat as one."""
    return WEB_SERVER if caller.platform == "web" else caller.guild


def community_of(server: str) -> str:
    return "web-chat" if server == WEB_SERVER else f"discord-{server}"


def is_community_model(name: str) -> bool:
    return name.startswith(PREFIXES)


def visible(name: str, caller: Caller, shared: frozenset[str] = frozenset()) -> bool:
    """Whether ``caller`` may use model ``name``: the project's models and those their servers
    shared (``shared``) everywhere, a server's own only there."""
    server = server_of(caller)
    return (
        not is_community_model(name)
        or name in shared
        or (server is not None and name == community_of(server))
    )


@dataclass(frozen=True)
class CommunityConfig:
    cpu_minutes: float = 240.0  # the engine's budget decides; this is what /train says until it answers
    chunk_minutes: float = 0.0  # 0: the engine's preset
    poll_s: float = 5.0  # how often a running chunk is asked about
    chunk_timeout_s: float = 6 * 3600.0


class CommunityClient:
    """The engine's /v1/communities routes (admin: the bot's ENGINE_ADMIN_TOKEN)."""

    def __init__(self, engine: EngineClient) -> None:
        self.engine = engine

    async def upload(self, community: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        kept, refused, last = [], [], {}
        for batch in _batches(files, UPLOAD_BATCH_BYTES):
            body = {"files": [{"name": n, "data": base64.b64encode(d).decode()} for n, d in batch]}
            last = await self.engine.call("POST", f"/v1/communities/{community}/pictures", body)
            kept += last.get("kept", [])
            refused += last.get("refused", [])
        return {**last, "kept": kept, "refused": refused}

    async def build(self, community: str) -> dict[str, Any]:
        return await self.engine.call("POST", f"/v1/communities/{community}/build", {})

    async def start_chunk(self, community: str, minutes: float = 0.0) -> dict[str, Any]:
        return await self.engine.call("POST", f"/v1/communities/{community}/chunk", {"minutes": minutes})

    async def status(self, community: str) -> dict[str, Any]:
        return await self.engine.call("GET", f"/v1/communities/{community}")

    async def grid(self, community: str) -> bytes:
        data = await self.engine.call("GET", f"/v1/communities/{community}/grid")
        return base64.b64decode(data["image"])

    async def forget(self, community: str) -> dict[str, Any]:
        return await self.engine.call("POST", f"/v1/communities/{community}/forget")


class Communities:
    def __init__(self, client: CommunityClient, store: Store, cfg: CommunityConfig | None = None) -> None:
        self.client, self.store, self.cfg = client, store, cfg or CommunityConfig()
        self.on_served: Callable[[], Awaitable[Any]] | None = None  # a new version serves

    # --- /train ------------------------------------------------------------------------
    async def train(
        self, caller: Caller, files: list[tuple[str, bytes]], channel: str | None = None
    ) -> Reply:
        """Take ``files`` (pictures, or zips of them) as the server's pictures, build the data set,
        and answer with what the model will have and a contact sheet of what was taken."""
        server = server_of(caller)
        if server is None:
            return oops("A server trains its own model: use /train in a server.")
        if not caller.admin:
            return oops(_admins_only(caller, "train"))
        pictures, refused = unpack(files)
        if not pictures:
            return oops(
                f"No pictures to train on: attach {KINDS} files or a zip of them, or name a channel "
                f"whose attachments to take.{_refusals(refused)}"
            )
        community = community_of(server)
        try:
            taken = await self.client.upload(community, pictures)
            built = await self.client.build(community)
            status = await self.client.status(community)
        except EngineError as exc:
            return oops(f"{exc}{_refusals(refused)}")
        refused += taken["refused"]
        self.store.set_community_model(
            server,
            community,
            state="built",
            channel=channel or caller.channel,
            cpu_minutes_budget=float(status.get("cpu_minutes_budget", self.cfg.cpu_minutes)),
            details={"attributes": built["attributes"], "labels": built["labels"]},
        )
        sheet = base64.b64decode(built["contact_sheet"])
        text = self._built_text(taken, built, status, refused)
        return Reply(text, (Attachment("contact_sheet.png", sheet),))

    def _built_text(self, taken: dict, built: dict, status: dict, refused: list[dict[str, str]]) -> str:
        attrs = built["attributes"]
        if built["labels"] == "classes":
            values = ", ".join(f"class:{v}" for v in attrs["class"])
            has = f"{len(attrs['class'])} classes of look-alike pictures ({values})"
        else:
            has = "the attributes " + ", ".join(f"{a} ({len(v)} values)" for a, v in attrs.items())
        planned = status.get("chunks_planned") or "its"
        budget = status.get("cpu_minutes_budget", self.cfg.cpu_minutes)
        return (
            f"Took {built['pictures']} pictures ({len(taken['kept'])} new this time, "
            f"{len(refused)} refused).{_refusals(refused)}\n"
            f"The model will have {has}: {built['why']}.\n"
            f"It trains in the nightly window, {planned} chunks within {budget:g} CPU minutes; "
            "each chunk posts its progress here. /mascot in this server draws from it once its "
            "first chunk passes its gate."
        )

    # --- /forget -----------------------------------------------------------------------
    async def forget(self, caller: Caller) -> Reply:
        server = server_of(caller)
        if server is None:
            return oops("/forget forgets a server's model: use it in that server.")
        if not caller.admin:
            return oops(_admins_only(caller, "forget"))
        community = community_of(server)
        try:
            gone = await self.client.forget(community)
        except EngineError as exc:
            return oops(f"Nothing was forgotten: {exc}")
        drawn = self.store.forget_community_model(server)
        if self.store.community_model(server) is None and gone.get("forgotten"):
            freed = gone.get("freed_bytes", 0) / 2**20
            return Reply(
                f"Forgotten: this server's pictures, data set, model and its versions on the engine "
                f"({freed:.1f} MiB), and the {drawn} mascots it drew with their votes here.",
                ephemeral=True,
            )
        return oops("The engine forgot the model, but the bot's record could not be removed; try again.")

    # --- the nightly window --------------------------------------------------------------
    async def nightly(self, post: ProgressPost, deadline: float | None = None) -> list[str]:
        """One chunk per server that has budget left, one after another, each followed by its
        progress post; chunks finished but not posted (a restart in between) are posted first.
        Returns a line per server."""
        lines = []
        for row in self.store.community_models():
            if deadline is not None and asyncio.get_running_loop().time() >= deadline:
                lines.append(f"{row['community']}: the window closed; it continues tomorrow")
                continue
            try:
                lines.append(await self._night(row, post))
            except EngineError as exc:
                lines.append(f"{row['community']}: {exc}")
        return lines

    async def _night(self, row: dict[str, Any], post: ProgressPost) -> str:
        community = row["community"]
        status = await self.client.status(community)
        await self._post_unposted(row, status, post)
        if status["running"]:
            return f"{community}: a chunk is already running"
        left = status["cpu_minutes_budget"] - status["cpu_minutes_spent"]
        try:
            await self.client.start_chunk(community, self.cfg.chunk_minutes)
        except EngineError as exc:
            if exc.code == "budget_spent":
                self.store.set_community_model(row["guild"], community, state="spent")
                return f"{community}: its budget is spent ({left:.1f} CPU minutes left)"
            raise
        self.store.set_community_model(row["guild"], community, state="training")
        status = await self._wait(community, len(status["chunks"]) + 1)
        await self._post_unposted(self.store.community_model(row["guild"]) or row, status, post)
        if status["chunks"][-1]["passed"] and self.on_served is not None:
            await self.on_served()
        return f"{community}: chunk {len(status['chunks'])} {status['chunks'][-1]['outcome']}"

    async def _wait(self, community: str, n: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.chunk_timeout_s
        while True:
            status = await self.client.status(community)
            if len(status["chunks"]) >= n and not status["running"]:
                return status
            if loop.time() > deadline:
                raise EngineError(f"chunk {n} of {community} did not finish within its time")
            await asyncio.sleep(self.cfg.poll_s)

    async def _post_unposted(self, row: dict[str, Any], status: dict[str, Any], post: ProgressPost) -> None:
        posted = int(row["chunks_posted"])
        for chunk in status["chunks"][posted:]:
            reply = await self._progress(row, status, chunk)
            await post(row, reply)
            posted = chunk["n"]
            self.store.set_community_model(
                row["guild"], row["community"], state=row["state"], chunks_posted=posted
            )
        if status.get("version"):
            self._serve_by_default(row)

    async def _progress(self, row: dict[str, Any], status: dict[str, Any], chunk: dict[str, Any]) -> Reply:
        total = max(chunk["n"], status["chunks_planned"])
        head = f"Training this server's mascot model: chunk {chunk['n']} of {total}"
        spent = f"{status['cpu_minutes_spent']:.1f} of {status['cpu_minutes_budget']:g} CPU minutes spent"
        lines = [f"{head} ({chunk['outcome']}, {chunk['minutes']:.1f} min; {spent})."]
        gate = chunk.get("gate")
        if gate:
            c = gate["candidate"]
            lines.append(
                f"Measured: precision {c['precision']:.3f}, recall {c['recall']:.3f}, "
                f"attribute precision {c['attr_precision']:.3f}, KID {c['kid']:.4f}"
                + (f" (serving: precision {gate['shipped']['precision']:.3f})" if gate.get("shipped") else "")
            )
            lines.append(
                f"Gate passed: now serving {chunk['version']}."
                if chunk["passed"]
                else "Gate not passed: the model that served keeps serving."
            )
        elif chunk.get("error"):
            lines.append(f"No candidate: {chunk['error']}")
        files: tuple[Attachment, ...] = ()
        if chunk.get("grid") and chunk is status["chunks"][-1]:
            try:
                files = (Attachment("seeds-1-16.png", await self.client.grid(row["community"])),)
                lines.append("Seeds 1-16 of this chunk's candidate attached.")
            except EngineError:
                pass
        return Reply("\n".join(lines), files)

    def _serve_by_default(self, row: dict[str, Any]) -> None:
        """Once the server's model serves, /mascot there draws from it unless the server chose another."""
        channels, model = self.store.guild_settings(row["guild"])
        if model is None and not row["details"].get("default_set"):
            self.store.set_guild_settings(row["guild"], channels, row["community"])
            details = {**row["details"], "default_set": True}
            self.store.set_community_model(
                row["guild"], row["community"], state=row["state"], details=details
            )


def _admins_only(caller: Caller, what: str) -> str:
    if caller.platform == "web":
        return f"Only the chat's admins (with its WEB_ADMIN_TOKEN) can {what} its own model."
    return f"Only server managers can {what} this server's model."


def unpack(files: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], list[dict[str, str]]]:
    """Pictures from attachments and zips; everything else is refused by name with the reason."""
    pictures, refused = [], []
    for name, data in files:
        if name.lower().endswith(".zip"):
            got, bad = _zip_pictures(name, data)
            pictures += got
            refused += bad
        elif name.lower().endswith(PICTURE_SUFFIXES):
            pictures.append((name, data))
        else:
            refused.append({"file": name, "reason": f"is not a picture ({KINDS}) or a zip of them"})
    return pictures, refused


def _zip_pictures(name: str, data: bytes) -> tuple[list[tuple[str, bytes]], list[dict[str, str]]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError):
        return [], [{"file": name, "reason": "is not a zip file that can be read"}]
    unpacked = sum(i.file_size for i in entries)  # as the zip declares it; reads are capped too
    if len(entries) > MAX_ZIP_ENTRIES or unpacked > MAX_ZIP_BYTES:
        reason = (
            f"holds {len(entries)} files of {unpacked / 2**20:.0f} MiB unpacked; "
            f"at most {MAX_ZIP_ENTRIES} files and {MAX_ZIP_BYTES / 2**20:.0f} MiB"
        )
        return [], [{"file": name, "reason": reason}]
    pictures, refused = [], []
    for info in entries:
        base = info.filename.rsplit("/", 1)[-1]
        if base.startswith(".") or info.filename.startswith("__MACOSX/"):
            continue
        if not base.lower().endswith(PICTURE_SUFFIXES):
            refused.append({"file": f"{name}/{info.filename}", "reason": f"is not a picture ({KINDS})"})
            continue
        try:
            pictures.append((base, archive.read(info)))
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            refused.append({"file": f"{name}/{info.filename}", "reason": "could not be unpacked"})
    return pictures, refused


def _batches(files: list[tuple[str, bytes]], limit: int):
    batch, size = [], 0
    for name, data in files:
        if batch and size + len(data) > limit:
            yield batch
            batch, size = [], 0
        batch.append((name, data))
        size += len(data)
    if batch:
        yield batch


def _refusals(refused: list[dict[str, str]]) -> str:
    if not refused:
        return ""
    shown = [f"{r['file']} {r['reason']}" for r in refused[:SHOWN_REFUSALS]]
    more = f"; and {len(refused) - SHOWN_REFUSALS} more" if len(refused) > SHOWN_REFUSALS else ""
    return "\nRefused: " + "; ".join(shown) + more + "."


class ServerEngine:
    """The engine as the nightly vote loop sees it, for one server's model: its fine-tune jobs
    and promotions go to the community's routes (its own data set and version store); the rest
    is the plain client's."""

    def __init__(self, engine: EngineClient, community: str) -> None:
        self._engine, self.community = engine, community

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    async def start_finetune(self, body: dict[str, Any]) -> Job:
        body = {**body, "kind": "finetune", "model": self.community}
        return Job.from_json(await self._engine.call("POST", f"/v1/communities/{self.community}/jobs", body))

    async def promote(self, model: str, checkpoint: str, reason: str) -> VersionChange:
        body = {"checkpoint": checkpoint, "reason": reason}
        data = await self._engine.call("POST", f"/v1/communities/{self.community}/promote", body)
        return VersionChange.from_json(data)

    async def rollback(self, model: str, reason: str) -> VersionChange:
        data = await self._engine.call(
            "POST", f"/v1/communities/{self.community}/rollback", {"reason": reason}
        )
        return VersionChange.from_json(data)
