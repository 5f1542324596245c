# Multistage build of the app (target `runtime`, the default) and of the bench image (target
# `bench`: siege + lab). Dependencies are compiled in their own layer by cargo-chef, so editing
# the sources rebuilds only the workspace crates.
#
#   docker build -t record-lab-app .
#   docker build --target bench -t record-lab-bench .
#
# No `# syntax=` line on purpose: it makes BuildKit pull a frontend image from a registry before
# building, which fails offline or behind a registry mirror; the engine's built-in frontend
# understands everything used here.

# Debian 12 builder to match the distroless/cc-debian12 runtime's glibc.
ARG RUST_IMAGE=rust:1-slim-bookworm

FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# Only the crates' sources enter the build stages: an edit to the README, a profile or a test
# does not invalidate the compiled layers.
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY app app
COPY contract contract
COPY lab lab
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: cached until Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY Cargo.toml Cargo.lock ./
COPY app app
COPY contract contract
COPY lab lab
# lab compiles in siege's default siegerc.
COPY siege/siegerc siege/siegerc
RUN cargo build --release --locked -p app -p lab

# Runtime: glibc, libgcc_s and CA certificates, no shell, no package manager, non-root (65532).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /src/target/release/app /app
USER 65532:65532
ENV APP_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]

# Bench: siege, nginx (lab measures siege's own ceiling against a trivial local nginx) and lab,
# run against the compose stack (compose.yaml's `bench` service). lab draws its plots with a
# font compiled in, so no font package is needed.
FROM debian:bookworm-slim AS bench
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends siege nginx-light ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/target/release/lab /usr/local/bin/lab
WORKDIR /work
# Profiles, nginx.conf and siege scenarios: lab finds its repository root by them (compose
# mounts the host's copies over these, so edits need no rebuild).
COPY profiles profiles
COPY siege siege
COPY nginx nginx
COPY nginx.conf ./
# Runs as root on purpose: it reads the Docker Engine API through the mounted socket (each
# container's CPU, throttling and memory) and writes into the bind-mounted ./results, whose
# owner on the host is unknown; lab gives every file it writes there the owner of ./results.
# It serves nothing.
ENTRYPOINT ["lab"]
CMD ["--help"]
