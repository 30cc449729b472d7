# The dialer service. Build: docker build -t dialer .   Run: docker run -p 8000:8000 dialer
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Metadata first, so a code-only change reuses nothing less than it must.
COPY pyproject.toml README.md ./
COPY dialer ./dialer
COPY pacing ./pacing
COPY simulator ./simulator
COPY api ./api
COPY migrations ./migrations
RUN pip install . && rm -rf /src/build

# Run unprivileged; /data is the working directory, where an embedded SQLite
# database can be written (mount a volume there to keep it).
RUN useradd --system --create-home --uid 10001 dialer \
    && mkdir -p /data && chown dialer:dialer /data
USER dialer
WORKDIR /data

EXPOSE 8000
CMD ["dialer", "serve", "--host", "0.0.0.0"]
