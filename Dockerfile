# syntax=docker/dockerfile:1
# The AI gateway: a slim, non-root image with the locked dependencies.
#   docker build -t ai-gateway .      (no registry: deploy/image/build-from-debian, as CI does)
#   docker run -p 8080:8080 -e OPENAI_API_KEY -e GATEWAY_JWT_SECRET ai-gateway
# Config comes from /app/config (mount your own over it); secrets only from the environment.
# Without OPENAI_API_KEY the container exits at start; Prometheus scrapes port 9464.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY gateway ./gateway
COPY fake_openai ./fake_openai
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm
# uid and gid 10001, as the Kubernetes manifests set them (runAsUser/runAsGroup).
RUN groupadd --gid 10001 gateway \
    && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin gateway
WORKDIR /app
COPY --from=build --chown=root:root /app/.venv /app/.venv
COPY --chown=root:root config /app/config
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    GATEWAY_CONFIG=/app/config/gateway.yaml \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_DATABASE_URL=sqlite:////data/gateway.db
RUN mkdir /data && chown 10001:10001 /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
