#!/usr/bin/env bash
# e2e-procs.sh: put and get of one large random file through a client
# daemon to PEERS storage peers that are SEPARATE `cairn daemon` processes
# (each with its own home, as separate machines would be), next to
# `restic backup` and `restic restore` of the same file to a local
# repository, in the same run (issue 10).
#
#   flock /tmp/cairn-heavy.lock bench/e2e-procs.sh          # 1 run, 512 MiB
#   RUNS=3 BIG_MIB=512 flock /tmp/cairn-heavy.lock bench/e2e-procs.sh
#
# Environment (defaults in brackets):
#   RUNS [1]        repetitions; each gets fresh daemons, data and repository
#   PEERS [16]      storage daemons
#   BIG_MIB [512]   size of the file; 0 skips it
#   TREE [0]        also a tree of this many files (1 KiB–4 MiB, log-uniform,
#                   seed 42, as bench/e2e.sh; 2000 is ~1 GB): phases tree-*
#   RESTIC [1]      0 skips restic (installed with apt-get when missing)
#   PROFILE [unset] a directory: every daemon writes a CPU profile there
#                   (CAIRN_CPUPROFILE): client-put-R.pprof and peerNN-put-R
#                   .pprof for the put of run R; every daemon is then
#                   restarted on its home, so that client-get-R and
#                   peerNN-get-R profile the get alone (merge the peers'
#                   with `go tool pprof -top BIN PROFILE/peer*-get-1.pprof`)
#   CAIRN [unset]   a prebuilt cairn binary (built with -tags
#                   cairn_insecure_kdf) instead of building one
#   BASE [unset]    a second such binary, measured the same way in every
#                   run just before CAIRN (phases base-put, base-get), for
#                   before/after ratios taken in the same run
#   WORK [mktemp]   scratch directory (removed at exit)
#
# For each phase it prints wall MB/s (10^6 bytes of file data per second),
# the client's CPU-seconds per GB (the client daemon plus the CLI command,
# user+system from /proc and time(1)), the peers' CPU-seconds per GB (all
# storage daemons together, from /proc/PID/stat before and after), and for
# restic the CPU-seconds per GB of its one process; then cairn ÷ restic.
# GB is 10^9 bytes of file data.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
PEERS=${PEERS:-16}
BIG_MIB=${BIG_MIB:-512}
TREE=${TREE:-0}
RESTIC=${RESTIC:-1}
WORK=${WORK:-$(mktemp -d /tmp/cairn-e2e-procs.XXXXXX)}
mkdir -p "$WORK"
[[ -n ${PROFILE:-} ]] && mkdir -p "$PROFILE" && PROFILE=$(cd "$PROFILE" && pwd)

export CAIRN_PASSPHRASE=bench-pass CAIRN_INSECURE_TEST_KDF=1
PIDS=()

# stop PID: SIGINT (profiles are flushed), SIGKILL after 30 s.
stop() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -INT "$pid" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do stop "$pid"; done
	PIDS=()
}
cleanup() {
	stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
HZ=$(getconf CLK_TCK)
# cpu PID...: user+system seconds the processes have used, together.
cpu() {
	local s=0 p
	for p in "$@"; do
		s=$(awk -v hz="$HZ" -v s="$s" '{ print s + ($14 + $15) / hz }' "/proc/$p/stat" 2>/dev/null || echo "$s")
	done
	echo "$s"
}
stolen() { awk -v hz="$HZ" '$1 == "cpu" { print $9 / hz }' /proc/stat; }

if [[ -n ${CAIRN:-} ]]; then
	BIN=$CAIRN
else
	BIN=$WORK/cairn
	log "building cairn"
	go build -tags cairn_insecure_kdf -o "$BIN" ./cmd/cairn
fi
if ((RESTIC)) && ! command -v restic >/dev/null; then
	log "installing restic"
	apt-get install -y restic >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y restic >/dev/null 2>&1; }
fi

# daemon HOME PROF ARGS...: starts `cairn daemon` for HOME, waits until it
# answers with a loopback address; sets DPID.
daemon() {
	local home=$1 prof=$2
	shift 2
	CAIRN_CPUPROFILE=$prof "$BIN" --home "$home" daemon --listen /ip4/127.0.0.1/tcp/0 --mdns=false "$@" \
		>"$home.log" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
	for _ in $(seq 600); do
		"$BIN" --home "$home" id --addrs 2>/dev/null | grep -q /ip4/127.0.0.1/ && return 0
		kill -0 "$DPID" 2>/dev/null || { cat "$home.log" >&2; exit 1; }
		sleep 0.1
	done
	log "daemon $home did not answer"
	exit 1
}

# init_net: fresh homes for PEERS storage daemons and the client; sets
# HOME_C.
init_net() {
	local i
	rm -rf "$WORK/net"
	mkdir -p "$WORK/net"
	for i in $(seq -f '%02g' 0 $((PEERS - 1))); do
		"$BIN" --home "$WORK/net/peer$i" init --json >/dev/null &
	done
	wait
	HOME_C=$WORK/net/client
	"$BIN" --home "$HOME_C" init --json >/dev/null
}

# start_net NAME: the storage daemons and the client daemon (profiles
# named NAME); sets PEER_PIDS and C_PID.
start_net() {
	local r=$1 i prof boot
	PEER_PIDS=()
	prof=""
	[[ -n ${PROFILE:-} ]] && prof=$PROFILE/peer00-$r.pprof
	daemon "$WORK/net/peer00" "$prof"
	PEER_PIDS+=("$DPID")
	boot=$("$BIN" --home "$WORK/net/peer00" id --addrs | grep /ip4/127.0.0.1/ | head -1)
	for i in $(seq -f '%02g' 1 $((PEERS - 1))); do
		[[ -n ${PROFILE:-} ]] && prof=$PROFILE/peer$i-$r.pprof
		daemon "$WORK/net/peer$i" "$prof" --bootstrap "$boot"
		PEER_PIDS+=("$DPID")
	done
	prof=""
	[[ -n ${PROFILE:-} ]] && prof=$PROFILE/client-$r.pprof
	daemon "$HOME_C" "$prof" --bootstrap "$boot"
	C_PID=$DPID
	local n=0
	for _ in $(seq 600); do
		n=$("$BIN" --home "$HOME_C" status --json 2>/dev/null | jq -r '.storage_peers // 0' 2>/dev/null || echo 0)
		((n >= PEERS)) && break
		sleep 0.2
	done
	((n >= PEERS)) || { log "client daemon sees $n storage peers, want $PEERS"; exit 1; }
}

# timed NAME CMD...: runs CMD; appends "NAME bytes seconds client_cpu
# peers_cpu" to results. client_cpu is the client daemon's (if any) plus
# the command's own.
timed() {
	local name=$1
	shift
	local t0 t1 c0 c1 p0 p1 ccmd
	c0=0 c1=0 p0=0 p1=0
	if [[ $name != *restic-* ]]; then
		c0=$(cpu "$C_PID")
		p0=$(cpu "${PEER_PIDS[@]}")
	fi
	t0=$(now)
	/usr/bin/time -o "$WORK/cmd.time" -f '%U %S' "$@" >/dev/null 2>"$WORK/cmd.err" || {
		cat "$WORK/cmd.err" >&2
		exit 1
	}
	t1=$(now)
	if [[ $name != *restic-* ]]; then
		c1=$(cpu "$C_PID")
		p1=$(cpu "${PEER_PIDS[@]}")
	fi
	ccmd=$(awk '{ print $1 + $2 }' "$WORK/cmd.time")
	awk -v n="$name" -v b="$BYTES" -v t0="$t0" -v t1="$t1" -v c="$(awk -v a="$c0" -v b="$c1" -v x="$ccmd" 'BEGIN { print b - a + x }')" \
		-v p="$(awk -v a="$p0" -v b="$p1" 'BEGIN { print b - a }')" \
		-v x="$ccmd" 'BEGIN { s = t1 - t0; printf "%s %d %.3f %.2f %.2f %.2f\n", n, b, s, c, p, x }' >>"$WORK/results"
	tail -1 "$WORK/results" | awk '{ printf "  %-20s %7.1f MB/s  client %5.2f cpu-s/GB (of which the command %4.2f)  peers %5.2f cpu-s/GB\n", $1, $2 / $3 / 1e6, $4 / ($2 / 1e9), $6 / ($2 / 1e9), $5 / ($2 / 1e9) }' >&2
}

# cairn_run PREFIX RUN: a fresh network of $BIN daemons, put and get of
# $SRC (a file or a folder); phases PREFIX$T"put" and PREFIX$T"get".
cairn_run() {
	local pre=$1 r=$2
	init_net
	start_net "${pre}put-$r"
	sleep 3
	timed "${pre}${T}put" "$BIN" --home "$HOME_C" put "$SRC" /data
	if [[ -n ${PROFILE:-} ]]; then
		# Profiles of the get alone: the same homes, new processes.
		stop_all
		start_net "${pre}get-$r"
		sleep 3
	fi
	# What the daemons use doing nothing (DHT, audits, keep-alives), to
	# compare with what the get costs them.
	local c0 p0 t0
	c0=$(cpu "$C_PID") p0=$(cpu "${PEER_PIDS[@]}") t0=$(now)
	sleep 3
	awk -v n="${pre}${T}idle" -v c0="$c0" -v c1="$(cpu "$C_PID")" -v p0="$p0" -v p1="$(cpu "${PEER_PIDS[@]}")" -v t0="$t0" -v t1="$(now)" \
		'BEGIN { printf "%s %d %.3f %.2f %.2f\n", n, 0, t1 - t0, c1 - c0, p1 - p0 }' >>"$WORK/results"
	tail -1 "$WORK/results" | awk '{ printf "  %s: client %.3f, peers %.3f cores\n", $1, $4 / $3, $5 / $3 }' >&2
	timed "${pre}${T}get" "$BIN" --home "$HOME_C" get /data "$WORK/got"
	if [[ -d $SRC ]]; then
		diff -r "$SRC" "$WORK/got" >/dev/null || { log "cairn: got files differ"; exit 1; }
	else
		cmp "$SRC" "$WORK/got" || { log "cairn: got bytes differ"; exit 1; }
	fi
	rm -rf "$WORK/got"
	log "  ${pre}client daemon VmHWM $(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$C_PID/status") MiB"
	stop_all
	rm -rf "$WORK/net"
}

: >"$WORK/results"
STEAL0=$(stolen)
log "load before: $(cut -d' ' -f1-3 /proc/loadavg); $PEERS peer processes, $RUNS runs, ${BIG_MIB} MiB, tree of $TREE files; $(git rev-parse --short HEAD 2>/dev/null || true)"
# make_tree DIR: TREE files of 1 KiB–4 MiB (log-uniform, seed 42, as
# bench/e2e.sh) in 20 folders, fresh random bytes; sets BYTES.
make_tree() {
	local dir=$1
	rm -rf "$dir"
	awk -v n="$TREE" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "%d %d\n", i, int(exp(log(1024) + rand() * (log(4194304) - log(1024)))) }' |
		while read -r i size; do
			mkdir -p "$dir/d$((i % 20))"
			head -c "$size" /dev/urandom >"$dir/d$((i % 20))/f$i"
		done
	BYTES=$(find "$dir" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
}

# measure RUN: restic and cairn (and BASE) on $SRC.
measure() {
	local r=$1
	if ((RESTIC)); then
		rm -rf "$WORK/restic" "$WORK/restored"
		export RESTIC_PASSWORD=bench-pass RESTIC_REPOSITORY=$WORK/restic
		restic init >/dev/null 2>&1
		timed "${T}restic-backup" restic backup --no-cache "$SRC"
		timed "${T}restic-restore" restic restore latest --no-cache --target "$WORK/restored"
		if [[ -d $SRC ]]; then
			diff -r "$SRC" "$WORK/restored/$SRC" >/dev/null || { log "restic: restored files differ"; exit 1; }
		else
			cmp "$SRC" "$WORK/restored/$SRC" || { log "restic: restored bytes differ"; exit 1; }
		fi
		rm -rf "$WORK/restic" "$WORK/restored"
	fi
	# With BASE, odd runs measure it first, even runs second: whatever
	# the order does (the disk freeing the previous network's files, the
	# load of others) falls on both alike.
	if [[ -n ${BASE:-} ]] && ((r % 2)); then
		BIN=$BASE cairn_run base- "$r"
	fi
	cairn_run "" "$r"
	if [[ -n ${BASE:-} ]] && ((r % 2 == 0)); then
		BIN=$BASE cairn_run base- "$r"
	fi
}

for r in $(seq "$RUNS"); do
	if ((BIG_MIB > 0)); then
		BYTES=$((BIG_MIB << 20)) SRC=$WORK/big T=""
		head -c "$BYTES" /dev/urandom >"$SRC"
		measure "$r"
		rm -f "$SRC"
	fi
	if ((TREE > 0)); then
		SRC=$WORK/tree T=tree-
		make_tree "$SRC"
		measure "$r"
		rm -rf "$SRC"
	fi
	log "run $r done; load $(cut -d' ' -f1-3 /proc/loadavg)"
done

awk '
function median(a, c,   i, j, t) {
	for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
function stat(k, col,   c, i, a, lo, hi) {
	c = n[k]
	for (i = 1; i <= c; i++) a[i] = v[k, col, i]
	lo = a[1]; hi = a[1]
	for (i = 1; i <= c; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
	med[k, col] = median(a, c)
	return sprintf("%7.1f (%.1f–%.1f)", med[k, col], lo, hi)
}
$1 ~ /idle$/ { k = $1; ni[k]++; icl[k, ni[k]] = $4 / $3; ipe[k, ni[k]] = $5 / $3; next }
{ k = $1; n[k]++; gb = $2 / 1e9
  v[k, "mbs", n[k]] = $2 / $3 / 1e6; v[k, "c", n[k]] = $4 / gb; v[k, "p", n[k]] = $5 / gb }
END {
	printf "\n%-20s %24s %24s %24s\n", "phase", "MB/s", "client cpu-s/GB", "peers cpu-s/GB"
	no = split("base-put base-get put get restic-backup restic-restore base-tree-put base-tree-get tree-put tree-get tree-restic-backup tree-restic-restore", order, " ")
	for (o = 1; o <= no; o++) {
		k = order[o]
		if (!(k in n)) continue
		printf "%-20s %24s %24s %24s\n", k, stat(k, "mbs"), stat(k, "c"), stat(k, "p")
	}
	for (k in ni) {
		delete a; for (i = 1; i <= ni[k]; i++) a[i] = icl[k, i]; ic = median(a, ni[k])
		delete a; for (i = 1; i <= ni[k]; i++) a[i] = ipe[k, i]
		printf "%s daemons (3 s before the get): client %.3f, peers together %.3f cores (median)\n", k, ic, median(a, ni[k])
	}
	if (("base-get" in n) && ("get" in n)) {
		printf "\nafter ÷ before (BASE), medians: put %.2f× speed, %.2f× client CPU, %.2f× peers CPU; get %.2f× speed, %.2f× client CPU, %.2f× peers CPU\n",
			med["put", "mbs"] / med["base-put", "mbs"], med["put", "c"] / med["base-put", "c"], med["put", "p"] / med["base-put", "p"],
			med["get", "mbs"] / med["base-get", "mbs"], med["get", "c"] / med["base-get", "c"], med["get", "p"] / med["base-get", "p"]
		if ("restic-restore" in n)
			printf "before ÷ restic, medians: put/backup %.2f× speed %.2f× client CPU; get/restore %.2f× speed %.2f× client CPU\n",
				med["base-put", "mbs"] / med["restic-backup", "mbs"], med["base-put", "c"] / med["restic-backup", "c"],
				med["base-get", "mbs"] / med["restic-restore", "mbs"], med["base-get", "c"] / med["restic-restore", "c"]
	}
	if (("tree-restic-backup" in n) && ("tree-put" in n)) {
		printf "\ntree ÷ restic (medians): put/backup %.2f× speed, %.2f× client CPU; get/restore %.2f× speed, %.2f× client CPU\n",
			med["tree-put", "mbs"] / med["tree-restic-backup", "mbs"], med["tree-put", "c"] / med["tree-restic-backup", "c"],
			med["tree-get", "mbs"] / med["tree-restic-restore", "mbs"], med["tree-get", "c"] / med["tree-restic-restore", "c"]
	}
	if (("base-tree-get" in n) && ("tree-get" in n)) {
		printf "tree after ÷ before (BASE): put %.2f× speed, %.2f× client CPU; get %.2f× speed, %.2f× client CPU, %.2f× peers CPU\n",
			med["tree-put", "mbs"] / med["base-tree-put", "mbs"], med["tree-put", "c"] / med["base-tree-put", "c"],
			med["tree-get", "mbs"] / med["base-tree-get", "mbs"], med["tree-get", "c"] / med["base-tree-get", "c"], med["tree-get", "p"] / med["base-tree-get", "p"]
	}
	if (("restic-backup" in n) && ("put" in n)) {
		printf "\nratios to restic (medians): put/backup %.2f× speed, %.2f× client CPU; get/restore %.2f× speed, %.2f× client CPU\n",
			med["put", "mbs"] / med["restic-backup", "mbs"], med["put", "c"] / med["restic-backup", "c"],
			med["get", "mbs"] / med["restic-restore", "mbs"], med["get", "c"] / med["restic-restore", "c"]
		for (i = 1; i <= n["put"]; i++)
			printf "run %d: put/backup %.2f× speed %.2f× cpu; get/restore %.2f× speed %.2f× cpu\n", i,
				v["put", "mbs", i] / v["restic-backup", "mbs", i], v["put", "c", i] / v["restic-backup", "c", i],
				v["get", "mbs", i] / v["restic-restore", "mbs", i], v["get", "c", i] / v["restic-restore", "c", i]
	}
}' "$WORK/results"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg); CPU stolen by other guests meanwhile: $(awk -v a="$STEAL0" -v b="$(stolen)" 'BEGIN { printf "%.1f", b - a }') s"
