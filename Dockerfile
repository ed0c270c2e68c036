# mascotbot's two images, one per process, from one file (docs/deploy.md):
#   docker build --target engine -t mascotbot-engine .   the HTTP API, training, fine-tunes, data
#   docker build --target bot -t mascotbot-bot .         Discord, the web chat, votes, the nightly loop
# Both install the versions the tests pass with (constraints.txt) and run as uid 1000. The bot's
# image has no torch: it reaches the engine only over HTTP.
# PyPI's Linux torch wheel brings its own CUDA libraries, so a plain Python base serves a GPU
# (the host needs only the NVIDIA driver and container toolkit). For a CPU-only engine image:
#   --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu
FROM python:3.11-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 1000 mascot
WORKDIR /app
COPY --chown=mascot:mascot pyproject.toml README.md constraints.txt ./


FROM base AS bot
# /app/state (the SQLite store) is the user's, so a named volume mounted there is writable.
RUN mkdir -p /app/state && chown -R mascot:mascot /app
COPY --chown=mascot:mascot bot bot
RUN pip install -c constraints.txt '.[bot]' && ! python -c "import torch" 2>/dev/null
COPY --chown=mascot:mascot config.toml ./
USER mascot
EXPOSE 8080
VOLUME ["/app/state"]
CMD ["mascot-bot", "web", "--host", "0.0.0.0", "--db", "/app/state/mascotbot.db"]


FROM base AS engine
# Node.js >= 18 and npm build the DiceBear and emoji data sets (bookworm ships Node 18).
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)'
ARG TORCH=torch==2.13.0
ARG TORCH_INDEX=
RUN pip install "$TORCH" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
# The folders it writes exist in the image owned by its user, so a named volume mounted there
# starts out writable (Docker copies the folder's owner and contents into it).
RUN mkdir -p /app/checkpoints /app/runs /app/data /app/state /home/mascot/.cache/mascotbot \
    && chown -R mascot:mascot /app /home/mascot/.cache
COPY --chown=mascot:mascot engine engine
RUN pip install -c constraints.txt '.[engine]'
COPY --chown=mascot:mascot config.toml ./
COPY --chown=mascot:mascot checkpoints checkpoints
USER mascot
EXPOSE 8700
VOLUME ["/app/checkpoints", "/app/runs", "/app/data", "/app/state", "/home/mascot/.cache/mascotbot"]
HEALTHCHECK --interval=10s --retries=30 CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/readyz')"
CMD ["mascot-engine", "serve", "--host", "0.0.0.0"]
