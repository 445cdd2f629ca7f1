# An env server image: `python -m servers <family>`; the family is the compose service's command.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The CPU build of torch first (the project depends on it; the CUDA build is GBs for nothing here).
# TORCH_INDEX_URL points pip at a mirror of the PyTorch CPU index where that one is out of reach.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL"
COPY pyproject.toml ./
# The dependencies from the project's metadata alone (no sources, an empty readme), so that a change
# of source or docs rebuilds only the layers below: seconds, where alfworld's build takes minutes.
RUN touch README.md && pip install --no-cache-dir --no-deps bfcl-eval==2026.3.23 \
    && pip install --no-cache-dir ".[alfworld,server,code,bfcl,webshop]" && rm -rf build *.egg-info
# The layers an env server stands on (sandbox <- envs <- servers); the training side stays out.
COPY README.md ./
COPY sandbox sandbox
COPY envs envs
COPY servers servers
COPY configs configs
RUN pip install --no-cache-dir --no-deps --force-reinstall . && rm -rf build *.egg-info
RUN useradd --create-home --uid 10001 envs && mkdir -p /cache && chown envs /cache
USER envs
ENV RESRL_GYM_CACHE=/cache PYTHONUNBUFFERED=1
