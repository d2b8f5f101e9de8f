# Multi-stage build: compile with the Rust toolchain, run on a small Debian image as non-root.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse && strip target/release/gatehouse

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /app gatehouse && mkdir -p /app/data && chown gatehouse /app/data
WORKDIR /app
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY config ./config
USER gatehouse
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
