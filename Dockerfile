# hgsync as a container: the daemon (and the webhook receiver, when config has receiver:).
# Build: docker build -t hgsync .   Run: see README, "Deployment".
# BASE: any image with Python 3.11+ and its venv module (scripts/test-deploy can pass a local one)
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine engine
COPY connectors connectors
RUN python3 -m venv /opt/hgsync \
 && /opt/hgsync/bin/pip install --no-cache-dir --quiet '.[postgres,mysql]'

FROM ${BASE}
RUN useradd --system --uid 10001 --home-dir /srv/hgsync --create-home hgsync
COPY --from=build /opt/hgsync /opt/hgsync
# the example project: config/, pipelines/ and the empty drop folders of demo/ (mount your own
# over them); the state store goes in .hgsync/ (a volume)
WORKDIR /srv/hgsync
COPY --chown=hgsync:hgsync config config
COPY --chown=hgsync:hgsync pipelines pipelines
COPY --chown=hgsync:hgsync demo demo
USER hgsync
ENV PATH=/opt/hgsync/bin:$PATH HGSYNC_HOME=/srv/hgsync PYTHONUNBUFFERED=1
# the status page (daemon.http_port) and the webhook receiver (receiver.port)
EXPOSE 8790 8780
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["python3", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8790/healthz', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hgsync"]
CMD ["daemon"]
