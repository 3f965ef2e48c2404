# The collector's image: small, non-root, pure Python (multi-arch: every dependency has wheels
# for amd64, arm64 and armv7).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.12-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="energy-collector" \
      org.opencontainers.image.description="SENEC and SMA readings to InfluxDB" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data
RUN useradd --system --uid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin collector \
    && mkdir /data \
    && chown collector /data
COPY --from=build /opt/venv /opt/venv
USER 10001
WORKDIR /data
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["collector", "healthcheck"]
ENTRYPOINT ["collector"]
CMD ["run"]
