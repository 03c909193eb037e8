#!/usr/bin/env bash
# image.sh — build the fltk container image without a registry.
#
# Usage: scripts/image.sh [DATA_DIR]     (default: data/ in the repository root)
#
# Environment: VERSION (default: git describe), IMAGE (default: fltk),
# DOCKER (default: docker).
#
# Builds the static fltk binary (CGO_ENABLED=0), stages a small build
# context in a temporary directory (docker/scratch.Dockerfile and
# rootfs.tar: the binary, DATA_DIR/mnist and DATA_DIR/fashion-mnist, the
# shipped configs, /etc/passwd and /etc/group with the user 65532, a
# results directory owned by 65532 and a 1777 /tmp) and builds it FROM
# scratch, tagged IMAGE:latest and IMAGE:VERSION. The tar carries the
# owners and modes, so neither BuildKit nor a base image is needed.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
data_dir=${1:-$repo_root/data}
image=${IMAGE:-fltk}
docker=${DOCKER:-docker}
version=${VERSION:-$(git -C "$repo_root" describe --tags --always --dirty 2>/dev/null || echo dev)}
# A tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
tag=$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
uid=65532

die() { echo "image: $*" >&2; exit 1; }

for d in mnist fashion-mnist; do
    for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
        [[ -s $data_dir/$d/$f ]] || die "$data_dir/$d/$f is missing: run make data"
    done
done
command -v "$docker" >/dev/null || die "$docker not found"

stage=$(mktemp -d "${TMPDIR:-/tmp}/fltk-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/fltk/data" "$root/fltk/configs" "$root/fltk/results" "$root/tmp"

# No -trimpath: it is a compile flag, so it would recompile every package
# (3–4 min on 2 shared cores); without it only the ~30 that depend on net
# differ from `make build`'s cached ones under CGO_ENABLED=0 (about 25 s).
(cd "$repo_root" && CGO_ENABLED=0 go build -ldflags "-s -w -X main.version=$version" -o "$root/usr/local/bin/fltk" ./cmd/fltk)
for d in mnist fashion-mnist; do
    mkdir -p "$root/fltk/data/$d"
    cp -L "$data_dir/$d"/*-ubyte.gz "$root/fltk/data/$d/"
done
cp "$repo_root"/configs/*.toml "$root/fltk/configs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/tmp:/sbin/nologin\n' $uid $uid >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:%d:\n' $uid >"$root/etc/group"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/local/bin/fltk"
chmod 1777 "$root/tmp"

# Everything belongs to root but the results directory, appended with its
# own owner. Fixed order and times: the same inputs give the same layer.
tarflags=(--numeric-owner --sort=name --mtime=@0 --format=gnu)
tar -C "$root" "${tarflags[@]}" --owner=0 --group=0 --exclude=./fltk/results -cf "$stage/rootfs.tar" .
tar -C "$root" "${tarflags[@]}" --owner=$uid --group=$uid -rf "$stage/rootfs.tar" ./fltk/results
cp "$repo_root/docker/scratch.Dockerfile" "$stage/Dockerfile"

"$docker" build -t "$image:latest" -t "$image:$tag" --build-arg VERSION="$version" "$stage"
size=$("$docker" image inspect -f '{{.Size}}' "$image:latest")
echo "image: built $image:latest and $image:$tag ($((size / 1024 / 1024)) MiB; context $(du -sh "$stage/rootfs.tar" | cut -f1))"
