# The one streamlab binary in a minimal image; docker-compose runs it as the
# producer, processor, dispatcher and the one-shot setup jobs.
#
# Build stage: the same static build as `make build` (CGO off, -trimpath, the
# Makefile's ldflags). The tag pins the Go patch release the repo is tested
# with; bump it together with the toolchain.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so editing code does not re-download them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/streamlab/streamlab/cli.Version=${VERSION}" \
      -o /out/streamlab .

# Runtime: distroless static, no shell, no package manager, non-root. The
# binary is the only thing in it, which is why healthchecks call
# `/streamlab healthcheck` instead of curl or wget.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/streamlab /streamlab
USER nonroot:nonroot
# /metrics and /healthz of the producer, processor and dispatcher.
EXPOSE 9101 9102 9103
ENTRYPOINT ["/streamlab"]
CMD ["--help"]
