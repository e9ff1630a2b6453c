#!/bin/sh
# Client benchmark (issue 5): `cairn verify --offline` with a proof on a 1 GiB file against
# `openssl dgst -sha256` and against `sha256sum -c` + `gpg --verify`; `cairn install` from a local
# HTTP server against download-then-hash. Figures go to docs/performance.md ("Client").
#
# Usage: tests/bench/client.sh [SIZE_MIB] (default 1024). Needs a release build:
#   cargo build --release -p cairn-cli
# and openssl, sha256sum, gpg, curl, python3. Everything runs in a temporary directory on loopback.
set -eu

size_mib=${1:-1024}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cairn="$repo/target/release/cairn"
[ -x "$cairn" ] || { echo "build first: cargo build --release -p cairn-cli" >&2; exit 2; }
work=$(mktemp -d)
server_pid=
http_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    [ -n "$http_pid" ] && kill "$http_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cd "$work"

# Best wall-clock time of 3 runs, in seconds.
best() {
    b=
    for _ in 1 2 3; do
        s=$(date +%s.%N)
        "$@" > /dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
    done
    printf '%.3f' "$b"
}

echo "making a ${size_mib} MiB file" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > image.img

# A log with one root key and one release key, the image published.
"$cairn" keygen --name bench.example/root --out root.key > /dev/null 2>&1
"$cairn" keygen --name bench.example/release --out release.key > /dev/null 2>&1
"$cairn" key root --key root.key.pub --threshold 1 --reason genesis > genesis.event
"$cairn" key sign genesis.event --key root.key > /dev/null 2>&1
"$cairn" init --data log-data --origin bench.example --genesis genesis.event > log.vkey 2> /dev/null
"$cairn" serve --data log-data --listen 127.0.0.1:0 2> serve.err &
server_pid=$!
until grep -q 'listening on http://' serve.err; do sleep 0.1; done
log=$(grep -o 'http://[0-9.:]*' serve.err | head -n 1)
log_key=$(cat log.vkey)
"$cairn" key add --key release.key.pub --scope 'bench/*' --reason bench --log "$log" --log-key "$log_key" > add.event 2> /dev/null
"$cairn" key sign add.event --key root.key > /dev/null 2>&1
"$cairn" key submit add.event --log "$log" --log-key "$log_key" > /dev/null 2>&1
"$cairn" publish image.img --name bench/image --version 1.0 --key release.key --log "$log" --log-key "$log_key" > /dev/null 2>&1
"$cairn" trust init --state state --log "$log" --log-key "$log_key" --root-key root.key.pub --threshold 1 2> /dev/null
"$cairn" keylog export --state state --out keys.snapshot 2> /dev/null

# The usual ISO recipe: SHA256SUMS signed with a detached gpg signature.
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key bench@example.org ed25519 sign never 2> /dev/null
sha256sum image.img > SHA256SUMS
gpg --batch --quiet --detach-sign SHA256SUMS 2> /dev/null
iso_recipe() { sha256sum -c SHA256SUMS && gpg --batch --verify SHA256SUMS.sig SHA256SUMS; }

cat image.img > /dev/null # warm the page cache: every tool reads the same cached file
t_openssl=$(best openssl dgst -sha256 image.img)
t_sha256sum=$(best sha256sum image.img)
t_iso=$(best iso_recipe)
t_verify=$(best "$cairn" verify image.img --offline --state state --keylog keys.snapshot)
t_verify_online=$(best "$cairn" verify image.img --state state)

# Install from a local HTTP server, against download then hash in two steps.
mkdir www
ln image.img www/image.img
cp image.img.tlog-proof www/
(cd www && exec python3 -m http.server 0 --bind 127.0.0.1 > ../http.out 2>&1) &
http_pid=$!
until grep -q 'Serving HTTP' http.out; do sleep 0.1; done
port=$(grep -o 'port [0-9]*' http.out | head -n 1 | cut -d' ' -f2)
url="http://127.0.0.1:$port/image.img"
mkdir dest
two_steps() { curl -s -o dest/two.img "$url" && sha256sum dest/two.img; }
two_steps_openssl() { curl -s -o dest/two.img "$url" && openssl dgst -sha256 dest/two.img; }
t_curl=$(best curl -s -o dest/only.img "$url")
t_two=$(best two_steps)
t_two_openssl=$(best two_steps_openssl)
t_install=$(best "$cairn" install "$url" --to dest/installed.img --state state)

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
cpu=$(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
shani=$(grep -q -w sha_ni /proc/cpuinfo && echo yes || echo no)
cat <<EOF
file: ${size_mib} MiB, page cache warm; best of 3 runs; CPU: $cpu (SHA-NI: $shani), $(nproc) cores
| command | seconds | vs openssl |
|---|---|---|
| openssl dgst -sha256 | $t_openssl | 1.00 |
| sha256sum | $t_sha256sum | $(ratio "$t_sha256sum" "$t_openssl") |
| sha256sum -c SHA256SUMS && gpg --verify SHA256SUMS.sig | $t_iso | $(ratio "$t_iso" "$t_openssl") |
| cairn verify --offline (proof + key-log snapshot) | $t_verify | $(ratio "$t_verify" "$t_openssl") |
| cairn verify (online: key-log sync, latest checkpoint, consistency) | $t_verify_online | $(ratio "$t_verify_online" "$t_openssl") |

| install from a local HTTP server (python3 -m http.server) | seconds | vs curl + openssl |
|---|---|---|
| curl -o (download only) | $t_curl | $(ratio "$t_curl" "$t_two_openssl") |
| curl -o, then sha256sum (two steps) | $t_two | $(ratio "$t_two" "$t_two_openssl") |
| curl -o, then openssl dgst -sha256 (two steps) | $t_two_openssl | 1.00 |
| cairn install (download, hash while downloading, verify, rename) | $t_install | $(ratio "$t_install" "$t_two_openssl") |
EOF
