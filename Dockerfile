# gatebench image: release binary + scenarios/ on Debian bookworm-slim.
# Used by the `gatebench` service in docker-compose.yml; also usable alone:
#   docker build -t gatebench:local .
#   docker run --rm -e RGW_ENDPOINT=... -e RGW_ACCESS_KEY=... -e RGW_SECRET_KEY=... \
#       -v "$PWD/results:/app/results" gatebench:local run scenarios/rgw-mixed.toml

# ---- builder ---------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Fetch dependencies in their own layer, so editing src/ does not re-download them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs \
    && cargo fetch --locked \
    && rm -rf src

COPY . .
# build.rs records the git commit; .git is not in the build context (.dockerignore),
# so the image's binary reports no commit.
RUN cargo build --release --locked \
    && cp target/release/gatebench /usr/local/bin/gatebench

# ---- runtime ---------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=builder /usr/local/bin/gatebench /usr/local/bin/gatebench
COPY scenarios/ /app/scenarios/
COPY deploy/apim/ /app/deploy/apim/
# Results go to /app/results (bind-mount it). Runs as root so that a bind-mounted
# host folder is writable whatever its owner.
RUN mkdir -p /app/results
ENTRYPOINT ["gatebench"]
CMD ["run", "scenarios/rgw-mixed.toml"]
