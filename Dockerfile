# funnel's image: built FROM debian:bookworm with the same install step as the README, run FROM
# debian:bookworm-slim with only the runtime libraries, as a non-root user.
#   docker build -t funnel .
#   docker run --rm -p 9000:9000 funnel --listen 0.0.0.0:9000 --target backend:9000
# Every option can also come from FUNNEL_* variables instead (docker run -e FUNNEL_LISTEN=0.0.0.0:9000
# -e FUNNEL_TARGET=backend:9000 funnel): with neither, funnel says what is missing and exits 2.

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DFUNNEL_BUILD_TESTS=OFF -DFUNNEL_BUILD_BENCHMARKS=OFF \
    && cmake --build /build --target funnel funnel-load funnel-sink \
    && strip /build/app/funnel /build/app/funnel-load /build/app/funnel-sink

FROM debian:bookworm-slim
# /var/lib/funnel/spool is the place for --spool-dir: owned by funnel's user, so that a fresh
# named volume mounted there (it takes the ownership of what it covers) is writable too.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
        libboost-program-options1.81.0 libspdlog1.10 libfmt9 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin funnel \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/funnel/spool
# funnel-load and funnel-sink come along for load tests between containers.
COPY --from=build /build/app/funnel /build/app/funnel-load /build/app/funnel-sink /usr/local/bin/
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001
# Metrics and probes on by default in the image: the HEALTHCHECK needs them. Set
# FUNNEL_METRICS_LISTEN (not the flag) to move them, so that the health check follows.
ENV FUNNEL_METRICS_LISTEN=0.0.0.0:9180
EXPOSE 9000 9180
# funnel itself GETs /healthz from FUNNEL_METRICS_LISTEN: no curl or wget in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["funnel", "--health-check"]
ENTRYPOINT ["funnel"]
