# The engine on a GPU (and the bot, from the same image).
#   docker build -t mascotbot .
#   docker run --gpus all -p 8700:8700 mascotbot                      # engine
#   docker run -e DISCORD_TOKEN=... mascotbot mascot-bot run          # bot
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

RUN useradd --create-home --uid 1000 mascot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine engine
COPY bot bot
RUN pip install torch --index-url https://download.pytorch.org/whl/cu124 && pip install .
COPY config.toml ./
COPY checkpoints checkpoints
RUN chown -R mascot:mascot /app
USER mascot

EXPOSE 8700 8080
ENTRYPOINT []
CMD ["mascot-engine", "serve", "--host", "0.0.0.0"]
