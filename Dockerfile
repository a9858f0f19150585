# syntax=docker/dockerfile:1

# Shiming as one static binary in a distroless image, run as a non-root
# user. The same image serves the gateway (serve), its built-in plugins
# (the gateway re-runs /shiming plugin NAME) and the vendor sandbox.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t shiming .
#   docker run --rm -p 8080:8080 shiming
#
# docker-compose.yml runs the multi-replica topology from this image.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules in their own layer: downloaded again only when go.mod or go.sum
# change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/shiming ./gateway/cmd/shiming
# The data folder exists in the image, owned by the runtime user, so a
# fresh named volume mounted on it inherits that owner.
RUN install -d -m 0700 /out/data

# distroless/static: CA certificates (vendor APIs over HTTPS), tzdata
# (Asia/Shanghai registration windows), /tmp (plugin sockets), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="shiming" \
      org.opencontainers.image.description="Plugin-based identity gateway for public exam registration"
COPY --from=build /out/shiming /shiming
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SHIMING_DATA=/data
VOLUME ["/data"]
# 8080: the public listener; 9464: the ops listener (/metrics, /healthz,
# /readyz), to keep on a private network.
EXPOSE 8080 9464
# Exec form and the binary itself: the image has no shell and no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/shiming", "healthcheck", "--url", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["/shiming"]
# Without a configuration file: the embedded default, listening on every
# interface of the container. docker-compose.yml replaces this command.
CMD ["serve", "--listen", "0.0.0.0:8080", "--ops-listen", "0.0.0.0:9464"]
