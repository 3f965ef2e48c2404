# The collector's image: small, non-root, pure Python. Every dependency installs from wheels on
# linux/amd64, linux/arm64 and linux/arm/v7 (scripts/check-wheels checks it), so no compiler is
# needed, and the final image has no pip and no setuptools.
#
# What only the simulators need stays out (trustme, for the simulated SENEC's HTTPS certificate:
# its cryptography needs cffi, which has no armv7 wheel): the image's simulators serve the SENEC
# over plain HTTP (--http), which is how compose's demo profile runs them.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY collector ./collector
# The project's own wheel first, then it and its dependencies from wheels only, into a venv
# without pip (pip runs from outside it).
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
        --only-binary=:all: /wheels/energy_collector-*.whl \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM python:3.12-slim AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="energy-collector" \
      org.opencontainers.image.description="SENEC and SMA readings to InfluxDB" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data
# No pip, no setuptools: nothing is installed at run time (the venv has none either).
RUN rm -rf /usr/local/lib/python3*/site-packages/pip /usr/local/lib/python3*/site-packages/pip-* \
        /usr/local/lib/python3*/site-packages/setuptools* /usr/local/bin/pip* \
    && useradd --system --uid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin collector \
    && mkdir /data \
    && chown collector /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["collector", "healthcheck"]
ENTRYPOINT ["collector"]
CMD ["run"]

FROM runtime AS collector
COPY --from=build /opt/venv /opt/venv
