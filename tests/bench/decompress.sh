#!/bin/sh
# Compressed-image benchmark (issue 16): `cairn install --decompress` and `cairn verify
# --decompress` of a 1 GiB raw image compressed with zstd (and xz), against `zstd -d` alone and
# `zstd -d | sha256sum` / `| openssl dgst -sha256`. Figures go to docs/performance.md
# ("Compressed images").
#
# Usage: tests/bench/decompress.sh [SIZE_MIB] (default 1024). Needs a release build:
#   cargo build --release -p cairn-cli
# and zstd, xz, openssl, sha256sum, bc. Everything runs in a temporary directory on loopback.
#
# The image is realistic rather than random: the first half is the concatenated contents of
# files under /usr (binaries, libraries, text), the second half zeros (free space), so it
# compresses about as an OS image does and has a large zero run for the sparse output.
set -eu

size_mib=${1:-1024}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cairn="$repo/target/release/cairn"
[ -x "$cairn" ] || { echo "build first: cargo build --release -p cairn-cli" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-bench.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
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

half=$((size_mib * 1024 * 1024 / 2))
echo "making ${size_mib} MiB images" >&2
find /usr -xdev -type f -size +16k 2>/dev/null | sort | xargs cat 2>/dev/null | head -c "$((half * 2))" > all.raw || true
[ "$(stat -c %s all.raw)" -eq "$((half * 2))" ] || { echo "not enough data under /usr" >&2; exit 1; }
# img: the first half data, the second half zeros (free space at the end of the disk).
head -c "$half" all.raw > img.raw
truncate -s "$((half * 2))" img.raw
# mixed: the same data in 1 MiB pieces, each followed by 1 MiB of zeros (free space spread out).
i=0
while [ "$i" -lt "$((size_mib / 2))" ]; do
    dd if=all.raw bs=1M skip="$i" count=1 status=none
    dd if=/dev/zero bs=1M count=1 status=none
    i=$((i + 1))
done > mixed.raw
# half: img's data half alone, to time its decompression (the floor, see docs/performance.md).
head -c "$half" all.raw > half.raw
echo "compressing (zstd -3 -T2, xz -1 -T2)" >&2
for f in img all mixed half; do zstd -q -3 -T2 -o "$f.raw.zst" "$f.raw"; done
xz -1 -T2 -k img.raw
rm img.raw all.raw mixed.raw half.raw

"$cairn" keygen --name bench.example/root --out root.key > /dev/null 2>&1
"$cairn" keygen --name bench.example/release --out release.key > /dev/null 2>&1
"$cairn" key root --root-key root.key.pub --threshold 1 --reason genesis > genesis.event
"$cairn" key sign genesis.event --key root.key > /dev/null 2>&1
"$cairn" init --data log-data --origin bench.example --genesis genesis.event > /dev/null 2>&1
"$cairn" serve --data log-data --print-vkey > log.vkeys
"$cairn" serve --data log-data --listen 127.0.0.1:0 2> serve.err &
server_pid=$!
until grep -q 'listening on http://' serve.err; do sleep 0.1; done
log=$(grep -o 'http://[0-9.:]*' serve.err | head -n 1)
log_key=log.vkeys
"$cairn" key add --release-key release.key.pub --scope 'bench/*' --reason bench --log "$log" --log-key "$log_key" > add.event 2> /dev/null
"$cairn" key sign add.event --key root.key > /dev/null 2>&1
"$cairn" key submit add.event --log "$log" --log-key "$log_key" > /dev/null 2>&1
s=$(date +%s.%N)
"$cairn" publish img.raw.zst img.raw.xz --name bench/image --version 1.0 --key release.key --log "$log" --log-key "$log_key" > /dev/null 2>&1
t_publish=$(printf '%.3f' "$(echo "$(date +%s.%N) - $s" | bc)")
"$cairn" publish all.raw.zst mixed.raw.zst --name bench/image --version 1.1 --key release.key --log "$log" --log-key "$log_key" > /dev/null 2>&1
"$cairn" trust init --state state --log "$log" --log-key "$log_key" --root-key root.key.pub --threshold 1 2> /dev/null

cat img.raw.zst img.raw.xz > /dev/null # page cache warm
mkdir dest
t_zstd=$(best zstd -d -q -c img.raw.zst)
t_zstd_sha=$(best sh -c 'zstd -d -q -c img.raw.zst | sha256sum')
t_zstd_ossl=$(best sh -c 'zstd -d -q -c img.raw.zst | openssl dgst -sha256')
t_zstd_file=$(best sh -c 'zstd -d -q -f -o dest/zstd.raw img.raw.zst && sync dest/zstd.raw')
t_verify=$(best "$cairn" verify img.raw.zst --decompress --state state)
t_install=$(best "$cairn" install img.raw.zst --to dest/cairn.raw --decompress --state state)
blocks=$(stat -c %b dest/cairn.raw)
allocated_mib=$((blocks * 512 / 1024 / 1024))
t_xz=$(best xz -d -c -T1 img.raw.xz)
t_xz_ossl=$(best sh -c 'xz -d -c -T1 img.raw.xz | openssl dgst -sha256')
t_xz_install=$(best "$cairn" install img.raw.xz --to dest/cairn-xz.raw --decompress --state state)

# The other layouts (zstd only): all data, and data and zeros interleaved per MiB.
t_all_zstd=$(best zstd -d -q -c all.raw.zst)
t_all_verify=$(best "$cairn" verify all.raw.zst --decompress --state state)
t_all_file=$(best sh -c 'zstd -d -q -f -o dest/zstd.raw all.raw.zst && sync dest/zstd.raw')
t_all_install=$(best "$cairn" install all.raw.zst --to dest/cairn-all.raw --decompress --state state)
t_mixed_zstd=$(best zstd -d -q -c mixed.raw.zst)
t_mixed_verify=$(best "$cairn" verify mixed.raw.zst --decompress --state state)
t_mixed_file=$(best sh -c 'zstd -d -q -f -o dest/zstd.raw mixed.raw.zst && sync dest/zstd.raw')
t_mixed_install=$(best "$cairn" install mixed.raw.zst --to dest/cairn-mixed.raw --decompress --state state)
# The floor for img: its data half decompressed, then SHA-256 of the zero half (which zstd
# expands far faster than SHA-256 can hash it, and which comes after all of the data).
t_half_zstd=$(best zstd -d -q -c half.raw.zst)
truncate -s "$half" zeros.raw
t_zero_sha=$(best openssl dgst -sha256 zeros.raw)

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
cpu=$(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
zst_mib=$(($(stat -c %s img.raw.zst) / 1024 / 1024))
xz_mib=$(($(stat -c %s img.raw.xz) / 1024 / 1024))
cat <<EOF
image: ${size_mib} MiB (half /usr file contents, half zeros); zstd -3: ${zst_mib} MiB, xz -1: ${xz_mib} MiB;
page cache warm; best of 3 runs; CPU: $cpu, $(nproc) cores; publish of both files (one run): ${t_publish} s
| command | seconds | vs zstd -d alone |
|---|---|---|
| zstd -d -c > /dev/null (decompression alone) | $t_zstd | 1.00 |
| zstd -d -c \| sha256sum | $t_zstd_sha | $(ratio "$t_zstd_sha" "$t_zstd") |
| zstd -d -c \| openssl dgst -sha256 | $t_zstd_ossl | $(ratio "$t_zstd_ossl" "$t_zstd") |
| zstd -d -o FILE && sync FILE | $t_zstd_file | $(ratio "$t_zstd_file" "$t_zstd") |
| cairn verify --decompress (both digests, nothing written) | $t_verify | $(ratio "$t_verify" "$t_zstd") |
| cairn install --decompress --to FILE (sparse: ${allocated_mib} MiB allocated, fsync, rename) | $t_install | $(ratio "$t_install" "$t_zstd") |

| zstd, other layouts | zstd -d alone | cairn verify --decompress | ratio | zstd -d -o FILE && sync | cairn install --decompress | ratio |
|---|---|---|---|---|---|---|
| all data | $t_all_zstd | $t_all_verify | $(ratio "$t_all_verify" "$t_all_zstd") | $t_all_file | $t_all_install | $(ratio "$t_all_install" "$t_all_file") |
| 1 MiB data, 1 MiB zeros | $t_mixed_zstd | $t_mixed_verify | $(ratio "$t_mixed_verify" "$t_mixed_zstd") | $t_mixed_file | $t_mixed_install | $(ratio "$t_mixed_install" "$t_mixed_file") |

img's floor: zstd -d of its data half alone $t_half_zstd s + SHA-256 (openssl) of its zero half $t_zero_sha s

| xz | seconds | vs xz -d alone |
|---|---|---|
| xz -d -c -T1 > /dev/null | $t_xz | 1.00 |
| xz -d -c -T1 \| openssl dgst -sha256 | $t_xz_ossl | $(ratio "$t_xz_ossl" "$t_xz") |
| cairn install --decompress --to FILE | $t_xz_install | $(ratio "$t_xz_install" "$t_xz") |
EOF
