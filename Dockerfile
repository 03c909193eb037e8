# syntax=docker/dockerfile:1
#
# Multi-stage build of the fltk image, for machines that can pull from a
# registry (golang and distroless). `make image` builds the same image
# without any registry (FROM scratch, docker/scratch.Dockerfile). Run
# `make data` first: the data sets come from ./data.
#
#   make data
#   docker build -t fltk:latest --build-arg VERSION=$(git describe --tags --always) .
#
# The runtime stage is distroless/static:nonroot: user 65532, /tmp, CA
# certificates, no shell. /fltk/results is writable by that user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/fltk ./cmd/fltk \
 && mkdir -p /out/results

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fltk /usr/local/bin/fltk
COPY data/mnist /fltk/data/mnist
COPY data/fashion-mnist /fltk/data/fashion-mnist
COPY configs/*.toml /fltk/configs/
COPY --from=build --chown=65532:65532 /out/results /fltk/results
USER 65532:65532
WORKDIR /fltk
ENTRYPOINT ["/usr/local/bin/fltk"]
CMD ["help"]
ARG VERSION=dev
LABEL org.opencontainers.image.title="fltk" \
      org.opencontainers.image.version="${VERSION}"
