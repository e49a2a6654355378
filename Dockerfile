# hgsync as a container: the daemon (and the webhook receiver, when config has receiver:).
# Build: docker build -t hgsync .   Run: see README, "Deployment".
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine engine
COPY connectors connectors
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres,mysql]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/hgsync --create-home hgsync
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'hgsync[postgres,mysql]' && rm -rf /wheels
# the project: config/ and pipelines/ (mount your own over these), the state store in .hgsync/
WORKDIR /srv/hgsync
COPY --chown=hgsync:hgsync config config
COPY --chown=hgsync:hgsync pipelines pipelines
USER hgsync
ENV HGSYNC_HOME=/srv/hgsync PYTHONUNBUFFERED=1
# the status page (daemon.http_port) and the webhook receiver (receiver.port)
EXPOSE 8790 8780
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8790/healthz', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hgsync"]
CMD ["daemon"]
