# One image for both roles:
#   API:    docker run IMAGE                       (directo-gateway serve on :8000)
#   worker: docker run IMAGE directo-gateway worker
#   migrations (once per deploy): docker run IMAGE directo-gateway migrate
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/srv \
    GATEWAY_ENVIRONMENT=production \
    GATEWAY_LOG__FORMAT=json
RUN useradd --system --uid 10001 --home-dir /srv gateway
COPY --from=build /install /usr/local
WORKDIR /srv
# PYTHONPATH=/srv makes /srv/app the imported package, so it finds alembic.ini and
# migrations/ beside it (the site-packages copy only brought the dependencies).
COPY --chown=gateway:gateway app ./app
COPY --chown=gateway:gateway alembic.ini ./
COPY --chown=gateway:gateway migrations ./migrations
USER gateway
EXPOSE 8000
# Workers: override with  --health-cmd "directo-gateway healthcheck --role worker"
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["directo-gateway", "healthcheck", "--role", "api"]
CMD ["directo-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
