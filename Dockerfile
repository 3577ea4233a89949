# syntax=docker/dockerfile:1
# isscr-news-bot in a container: the Python the CI tests, the lock file's exact versions, a
# user without privileges, the database on the volume /data. See docs/deploy.md.
#
#   docker build -t isscr-news-bot .
#   docker run --init --env-file .env -v isscr-news-data:/data -p 3000:3000 isscr-news-bot

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# The project alone, as a wheel: its dependencies come from the lock file below.
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Exactly the versions in requirements.lock, each checked against its hashes (a package missing
# from the lock fails the build), then the bot itself without dependencies.
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    python -m pip install --require-hashes -r /tmp/requirements.lock
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-deps /wheels/isscr_news_bot-*.whl

# A fixed UID, so that a folder mounted from the host can be given to it: chown 10001 DIR.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin isscr-news-bot \
    && mkdir /data && chown isscr-news-bot:isscr-news-bot /data
# The database remembers what was posted: it lives on a volume, kept across new images.
VOLUME /data
WORKDIR /data
ENV DATABASE_PATH=/data/isscr-news.db \
    PORT=3000
# By number, so that a platform can tell it is not root without reading /etc/passwd.
USER 10001:10001

# POST /slack/events in HTTP mode, GET /healthz in both modes: PORT is set above because in
# Socket Mode the bot serves /healthz only when PORT is set.
EXPOSE 3000
# /healthz answers 503 until the first poll has succeeded: the start period leaves room for a
# first poll that takes the feed's whole 90 s timeout. The slim image has no curl.
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["isscr-news-bot", "healthcheck"]

# Exec form: the bot itself receives `docker stop`'s SIGTERM (no shell in between), finishes
# or hands back the post in flight and exits within about 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["isscr-news-bot"]
CMD ["run"]
