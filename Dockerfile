# tokpost: one binary (serve, worker, migrate, token-key, …) in a slim Debian image.
#
#   docker build -t tokpost .
#   docker run -p 8080:8080 -v tokpost-data:/var/lib/tokpost tokpost          # serve, SQLite
#   docker run … tokpost worker                                               # a worker process
#
# Configuration comes from TOKPOST_… variables (see tokpost.example.toml) or a file mounted at
# /etc/tokpost/tokpost.toml. Secrets belong in the environment (an env file, a secret store),
# never in the image. docs/DEPLOYMENT.md describes single-machine and multi-machine setups.

# ---- build ----------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Everything is compiled by rustc and gcc (bundled SQLite, aws-lc): no other system library is
# linked.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ make pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# --locked: exactly the dependency versions of Cargo.lock, as CI builds them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tokpost \
    && install -D -m 0755 target/release/tokpost /out/tokpost

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: reqwest uses the OS trust store and cannot build a client without one (even
# for plain http); curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tokpost \
    && useradd --system --uid 10001 --gid tokpost --home-dir /var/lib/tokpost --shell /usr/sbin/nologin tokpost \
    && install -d -o tokpost -g tokpost -m 0700 /var/lib/tokpost \
    && install -d -m 0755 /etc/tokpost
COPY --from=build /out/tokpost /usr/local/bin/tokpost

# The data directory holds the SQLite database, the generated key files (token.key,
# media-signing.key) and, with the local media backend, the uploads: keep it on a volume and
# back it up as a whole.
ENV TOKPOST_DATA_DIR=/var/lib/tokpost \
    TOKPOST_HTTP__LISTEN=0.0.0.0:8080 \
    TOKPOST_LOG=info
VOLUME ["/var/lib/tokpost"]
WORKDIR /var/lib/tokpost
USER tokpost:tokpost
EXPOSE 8080

# Only `serve` answers HTTP; run worker containers with `--no-healthcheck` or their own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 4 http://127.0.0.1:8080/healthz > /dev/null || exit 1

# tini forwards SIGTERM so that tokpost stops gracefully (running jobs end at their next step).
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/tokpost"]
CMD ["serve"]
