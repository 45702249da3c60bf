# logtally as a sidecar: a Rust build stage, then a minimal runtime image.
#
#   docker build -t logtally .
#   docker run -p 3904:3904 \
#     -v /path/to/rules:/etc/logtally/rules:ro \
#     -v proxy-logs:/var/log/proxy:ro \
#     -v logtally-state:/var/lib/logtally \
#     logtally
#
# The rules directory and the log volume are mounted read-only; only the positions file in
# /var/lib/logtally is written.

# The binary is linked statically against musl, so the runtime image needs no C library.
FROM rust:1-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl \
    && apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin logtally \
    && mkdir -p /out/var/lib/logtally

# distroless/static has CA certificates, time zones and nothing else: no shell, no package
# manager, no C library. Its nonroot user is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="logtally" \
      org.opencontainers.image.description="Turns proxy access logs into Prometheus metrics." \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/logtally /usr/local/bin/logtally
COPY rules /etc/logtally/rules
COPY --from=build --chown=65532:65532 /out/var/lib/logtally /var/lib/logtally
USER 65532:65532
EXPOSE 3904
VOLUME ["/var/lib/logtally"]
# The image has no shell or curl; logtally checks its own /healthz on port 3904. With TLS on,
# set LOGTALLY_WEB_CONFIG_FILE instead of --web.config.file: run and probe both read it, and the
# probe then checks https://127.0.0.1:3904/healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD ["/usr/local/bin/logtally", "probe"]
ENTRYPOINT ["/usr/local/bin/logtally"]
CMD ["run", "--rules", "/etc/logtally/rules", "--logs", "/var/log/proxy/*.log", "--positions", "/var/lib/logtally/positions.json", "--web.listen-address", ":3904"]
