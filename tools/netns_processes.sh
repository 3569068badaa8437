#!/usr/bin/env bash
# Training over two "machines" joined by a real network stack, on one Linux host: two network namespaces
# (gasa_a 10.77.0.1, gasa_b 10.77.0.2) joined by a veth pair, each rank in its own namespace with its own
# host name, Open MPI's launcher reaching the second one through an agent script (as it would through ssh)
# and the ranks talking TCP only (btl tcp,self: no shared memory between them). Trains K (3 x 300,
# dropout 0.4) for some iterations that way, then the same run in one process with 2 threads, and compares the
# losses and weights; prints the bytes that crossed the veth pair and the all-reduce time per step. With a
# rate (for example 1gbit) the link is shaped by tc first, to check the all-reduce cost model README uses.
# Needs root (CAP_NET_ADMIN); removes the namespaces on exit.
# Usage: bash tools/netns_processes.sh [iterations] [rate]   (default 30, unshaped)
# Environment: CORPUS (default ../shared/corpora/lyrics_ballad.txt, else the shipped constitution),
# GASA (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-30}"
rate="${2:-}"
corpus="${CORPUS:-../shared/corpora/lyrics_ballad.txt}"
[ -f "$corpus" ] || corpus=data/constitution_ko/constitution_ko.txt
command -v mpirun >/dev/null || { echo "netns_processes: mpirun not found (bash tools/setup.sh release mpi)" >&2; exit 1; }
if [ -z "${GASA:-}" ]; then
    swift build -c release --static-swift-stdlib >/dev/null
    GASA=.build/release/gasa
fi
GASA=$(realpath "$GASA")
work=$(mktemp -d "${TMPDIR:-/tmp}/gasa-netns.XXXXXX")
cleanup() { ip netns del gasa_a 2>/dev/null || true; ip netns del gasa_b 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cleanup; mkdir -p "$work"

ip netns add gasa_a
ip netns add gasa_b
ip link add gasa_va type veth peer name gasa_vb
ip link set gasa_va netns gasa_a
ip link set gasa_vb netns gasa_b
ip -n gasa_a addr add 10.77.0.1/24 dev gasa_va
ip -n gasa_b addr add 10.77.0.2/24 dev gasa_vb
for ns in gasa_a gasa_b; do ip -n "$ns" link set lo up; done
ip -n gasa_a link set gasa_va up
ip -n gasa_b link set gasa_vb up
if [ -n "$rate" ]; then
    ip netns exec gasa_a tc qdisc add dev gasa_va root tbf rate "$rate" burst 1mbit latency 50ms
    ip netns exec gasa_b tc qdisc add dev gasa_vb root tbf rate "$rate" burst 1mbit latency 50ms
fi

# The launcher's "ssh": run the command in the second namespace under its own host name.
cat > "$work/agent.sh" <<'EOF'
#!/bin/sh
host=$1; shift
[ "$host" = 10.77.0.2 ] || { echo "agent: unknown host $host" >&2; exit 1; }
exec ip netns exec gasa_b unshare --uts sh -c "hostname gasa-b; $*"
EOF
chmod +x "$work/agent.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$work/hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # containers run as root

echo "CPU: $(lscpu | awk -F': *' '/^Vendor ID/{v=$2} /^Model name/{n=$2} /^CPU family/{f=$2} /^Model:/{m=$2} END{printf "%s %s, family %s, model %s", v, n, f, m}'); $(mpirun --version | head -1); link: veth ${rate:-unshaped}"
"$GASA" prepare "$corpus" --out "$work/prep" --granularity char --batch-size 50 --seq-length 50 --split 0.95,0.05,0 -q
args=(train "$work/prep" --max-iters "$iters" --eval-every 10 --max-epochs 0 --layers 3 --rnn-size 300 --dropout 0.4 --seed 5)

bytes() { ip netns exec gasa_a cat /sys/class/net/gasa_va/statistics/tx_bytes /sys/class/net/gasa_va/statistics/rx_bytes | paste -sd' '; }
read -r tx0 rx0 <<<"$(bytes)"
ip netns exec gasa_a mpirun --hostfile "$work/hosts" -np 2 \
    --mca plm_rsh_agent "$work/agent.sh" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    "$GASA" "${args[@]}" --out "$work/net" --threads 1 2>&1 | grep -E '^(kernels|iter|stopped|processes|steady)' || true
read -r tx1 rx1 <<<"$(bytes)"
awk -v t=$((tx1 - tx0)) -v r=$((rx1 - rx0)) -v n="$iters" 'BEGIN {
    printf "veth gasa_va: sent %.1f MB, received %.1f MB (%.2f MB per iteration each way)\n", t/1e6, r/1e6, (t+r)/2/n/1e6 }'
echo "the same run in one process x 2 threads:"
"$GASA" "${args[@]}" --out "$work/one" --threads 2 2>&1 | grep -E '^(iter|steady)' || true
python3 - "$work/net/latest/model.safetensors" "$work/one/latest/model.safetensors" <<'EOF' || true
# Largest weight difference between the two runs (safetensors read by hand: 8-byte header length, JSON, data).
import json, struct, sys, array
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__": continue
        a, b = t["data_offsets"]
        out[name] = array.array("f", data[8 + n + a: 8 + n + b])
    return out
x, y = load(sys.argv[1]), load(sys.argv[2])
worst = max((max(abs(p - q) for p, q in zip(x[k], y[k])), k) for k in x)
print(f"weights: 2 namespaces over TCP vs 1 process x 2 threads, largest difference {worst[0]:.2e} (in {worst[1]})")
EOF
