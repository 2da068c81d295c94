# One image for both console scripts, statsd-proxy and statsd-operator.
#
#   docker build -t statsd-proxy:dev .
#   docker run --rm --read-only -p 8125:8125/udp statsd-proxy:dev run --backend a=HOST:8125
#
# The entrypoint is statsd-proxy; the chart runs the operator with the
# command statsd-operator. The image runs as UID/GID 10001 and writes nothing
# to its root filesystem, so it works with readOnlyRootFilesystem (the chart
# mounts an emptyDir on /tmp for Python's temporary files).

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package goes into a virtualenv with a plain pip install of the source
# tree, as scripts/install-test-deps installs it, only not editable and
# without the test extras.
RUN python -m venv /opt/statsd-proxy
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY operator ./operator
RUN /opt/statsd-proxy/bin/pip install --upgrade pip \
    && /opt/statsd-proxy/bin/pip install . \
    && /opt/statsd-proxy/bin/pip uninstall --yes pip

FROM python:3.11-slim

ENV PATH=/opt/statsd-proxy/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 statsd \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin statsd

# The virtualenv's python links to /usr/local/bin/python3.11, which the
# runtime stage has from the same base image.
COPY --from=build /opt/statsd-proxy /opt/statsd-proxy

# A numeric user, so that Kubernetes can check runAsNonRoot.
USER 10001:10001
WORKDIR /tmp

# StatsD over UDP (and TCP with --tcp); /metrics, /healthz and /readyz.
EXPOSE 8125/udp 8125/tcp 9102/tcp

ENTRYPOINT ["statsd-proxy"]
CMD ["--help"]
