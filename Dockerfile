# syntax=docker/dockerfile:1
#
# mm2go as a container: a static binary on distroless, as a non-root user.
#
#   docker build -t mm2go \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run --rm -p 8083:8083 -e MM2GO_HTTP_TOKEN="$(openssl rand -hex 24)" \
#     -v "$PWD/flows.yaml:/etc/mm2go/flows.yaml:ro" mm2go
#
# The image runs `mm2go worker --config /etc/mm2go/flows.yaml --http-addr
# :8083`; pass other arguments to run another command (`version`,
# `validate --config ...`). The REST API listens on every address of the
# container, so it needs a bearer token (MM2GO_HTTP_TOKEN, or
# --http-token-file) or TLS client certificates: without either the worker
# refuses to start and says so. The flow file and any PEM files are mounted
# read-only (examples/kubernetes uses a ConfigMap and a Secret).

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION and COMMIT end up in `mm2go version` and the REST API; the build
# context has no .git, so they are passed in.
ARG VERSION=
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/mm2go ./cmd/mm2go \
 && /out/mm2go version

# distroless/static: CA certificates, time zones, /etc/passwd with the
# nonroot user (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mm2go /usr/local/bin/mm2go
USER 65532:65532
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/mm2go"]
CMD ["worker", "--config", "/etc/mm2go/flows.yaml", "--http-addr", ":8083"]
