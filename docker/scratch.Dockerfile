# The image `make image` builds (scripts/image.sh), with no registry: FROM
# scratch, one layer. Its build context is a directory scripts/image.sh
# stages: this file and rootfs.tar, whose owners and modes ADD keeps:
#
#   /usr/local/bin/fltk             the static fltk binary (CGO_ENABLED=0)
#   /fltk/data/{mnist,fashion-mnist} the data sets of `make data`
#   /fltk/configs/*.toml            the shipped configs
#   /fltk/results                   writable, owned by 65532:65532: a named
#                                   volume mounted here inherits that owner
#   /tmp                            1777
#   /etc/passwd, /etc/group         root and nonroot (65532)
#
# Relative data.path ("data") and output.dir ("results") resolve in
# /fltk, the working directory.
FROM scratch
ADD rootfs.tar /
USER 65532:65532
WORKDIR /fltk
ENV HOME=/tmp TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/fltk"]
CMD ["help"]
ARG VERSION=dev
LABEL org.opencontainers.image.title="fltk" \
      org.opencontainers.image.description="fltk: federated learning over NATS collectives, with MNIST and Fashion-MNIST" \
      org.opencontainers.image.version="${VERSION}"
