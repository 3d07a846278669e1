# Build stage: compile the release binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pingpost

# Run stage: the binary and the example contracts, nothing else.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/pingpost /usr/local/bin/pingpost
COPY contracts /etc/pingpost/contracts
# The engine needs no privilege: it only listens on unprivileged ports and reads its files.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin pingpost
USER pingpost
ENV PINGPOST_LISTEN=0.0.0.0:8080 PINGPOST_CONTRACTS=/etc/pingpost/contracts PINGPOST_STORE=memory
EXPOSE 8080 9464
ENTRYPOINT ["pingpost"]
CMD ["serve"]
