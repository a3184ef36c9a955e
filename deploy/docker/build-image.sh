#!/usr/bin/env bash
# Builds the rill container image without pulling anything: the root
# filesystem is assembled here from the host (the rill binary, the shared
# libraries `ldd` lists and the dynamic loader, dash as /bin/sh, passwd/group
# for uid 1000, nsswitch.conf, /tmp) and the Dockerfile is `FROM scratch`.
#
#   deploy/docker/build-image.sh                   # cargo build --release -p rill, then the image
#   deploy/docker/build-image.sh --binary PATH     # reuse an existing rill binary (no cargo)
#   deploy/docker/build-image.sh --tag rill:test   # image name (default: $RILL_IMAGE or rill:latest)
#
# The image carries the host's glibc, so it runs wherever that glibc's
# kernel requirements hold (any Linux of the last decade); rebuild it on the
# oldest distribution you target if you ship it elsewhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

tag="${RILL_IMAGE:-rill:latest}"
binary=""
while (($#)); do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -z "$binary" ]]; then
  (cd "$repo" && cargo build --release -p rill)
  binary="$repo/target/release/rill"
fi
[[ -x "$binary" ]] || { echo "build-image.sh: $binary is not an executable" >&2; exit 1; }

context="$repo/target/docker-context"
rm -rf "$context"
rootfs="$context/rootfs"
owned="$context/rootfs-rill"   # copied with uid 1000 (the volumes' mount points)
mkdir -p "$rootfs"/{usr/bin,bin,etc,conf} "$owned"/{data,datalog}
install -m 1777 -d "$rootfs/tmp"

# The binary without its DWARF sections (symbols stay, so panics still name
# functions); a debug build shrinks from hundreds of MB to tens.
strip --strip-debug -o "$rootfs/usr/bin/rill" "$binary"
cp -L /bin/dash "$rootfs/bin/sh"

# Every shared object the two programs load, at the path the loader expects.
copy_libs() {
  ldd "$1" | awk '/=> \// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do cp -L --parents "$lib" "$rootfs"; done
}
copy_libs "$binary"
copy_libs /bin/dash
# glibc >= 2.34 has files/dns lookups built in; older ones load these.
for nss in /lib/*-linux-gnu/libnss_{files,dns}.so.2; do
  [[ -e "$nss" ]] && cp -L --parents "$nss" "$rootfs"
done

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
rill:x:1000:1000:rill:/data:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
rill:x:1000:
nogroup:x:65534:
EOF
echo "hosts: files dns" >"$rootfs/etc/nsswitch.conf"
cp "$here/conf/zoo.cfg" "$here/conf/server.properties" "$rootfs/conf/"
cp "$here/Dockerfile" "$context/"

# The legacy builder when BuildKit's buildx plugin is not installed.
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)"
docker build -q -t "$tag" --label "org.opencontainers.image.version=$version" "$context" >/dev/null
echo "built $tag ($(du -sh "$rootfs" | cut -f1) root filesystem, rill $version)"
