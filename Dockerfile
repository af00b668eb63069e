# Glint: the same binary as `make build`, on Debian bookworm with Debian's FFmpeg 5.1.
# The Go toolchain is go.mod's exact version (cmd/glint's TestDockerfile checks it, the ports,
# the health check, the user and that the runtime packages hold every library the binary links).
FROM golang:1.26.8-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pkg-config make nodejs npm \
    libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libswscale-dev libswresample-dev libavdevice-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The watch page's LL-HLS player: hls.js from npm (pinned by web/package-lock.json) into
# web/static/vendor/, which the go build below embeds; always fresh, never the host's copy.
RUN rm -rf web/node_modules web/static/vendor/hls.min.js && make web
ARG VERSION=dev
RUN go build -ldflags "-X main.version=${VERSION}" -o /out/glint ./cmd/glint

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates fonts-dejavu-core \
    libavcodec59 libavformat59 libavutil57 libavfilter8 libswscale6 libswresample4 libavdevice59 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home /var/lib/glint --create-home glint
COPY --from=build /out/glint /usr/local/bin/glint
# Not root; numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /var/lib/glint
# DVR recordings (./data under the working directory, --data-dir): keep them on a volume.
VOLUME /var/lib/glint/data
# HTTP (WHIP, WHEP, pages, API, metrics); WebRTC media on one UDP port, ICE-TCP on the same number;
# RTMP ingest; SRT ingest (UDP).
EXPOSE 8080/tcp 8189/udp 8189/tcp 1935/tcp 9000/udp
# Liveness: `glint healthcheck` GETs /healthz on GLINT_HTTP_ADDR's port (the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["/usr/local/bin/glint", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/glint"]
CMD ["serve"]
