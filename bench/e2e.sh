#!/usr/bin/env bash
# e2e.sh: end-to-end put and get through a real daemon to a local testnet of
# storage peers over TCP+TLS with the default 10+6 code (issue 3).
#
#   bench/e2e.sh                       # from the repository root: everything, 3 runs
#   RUNS=1 BIG_MIB=256 TREE=0 RSS_GIB=0 bench/e2e.sh   # a quick look
#
# Its 16 peers share one process (`cairn testnet`). bench/e2e-procs.sh runs
# them as separate `cairn daemon` processes, as separate machines would be,
# and measures restic on the same file in the same run (issue 10).
#
# Environment (defaults in brackets):
#   RUNS [3]        repetitions; each gets a fresh testnet, daemon and data
#   PEERS [16]      storage peers in the testnet (one process)
#   BIG_MIB [1024]  size of the large file; 0 skips it
#   TREE [2000]     files in the tree (1 KiB–4 MiB, log-uniform sizes,
#                   fixed seed, fresh random contents); 0 skips it
#   GETS [1]        0 skips the gets (and their checks): put-only profiles
#   RSS_GIB [4]     after the runs, put this many GiB from stdin once and
#                   report the daemon's peak RSS; 0 skips it
#   PROFILE [unset] a directory: the testnet and the daemon of every run
#                   write CPU profiles there (CAIRN_CPUPROFILE)
#   KEEPLOG [unset] a file: the daemon's log of the last run is copied there
#   WORK [mktemp]   scratch directory (removed at exit)
#   CAIRN [unset]   a prebuilt cairn binary instead of building one
#
# MB/s is 10^6 bytes of file data per second; a put is timed from the
# command's start to its exit (the file is then stored and recorded), a get
# likewise, and the got bytes are compared with the originals afterwards.
# Targets: 150 MB/s each way for the large file, 80 MB/s put and 100 MB/s
# get for the tree, peak daemon RSS < 256 MiB for the 4 GiB put, idle RSS
# < 100 MiB. BOUND [270] is the CPU bound of docs/PERFORMANCE.md at 1.6×;
# cpu-bound is this run's own: nproc cores divided by the CPU seconds per
# MB that the testnet, the daemon and the command used in the phase.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
PEERS=${PEERS:-16}
BIG_MIB=${BIG_MIB:-1024}
TREE=${TREE:-2000}
RSS_GIB=${RSS_GIB:-4}
GETS=${GETS:-1}
BOUND=${BOUND:-270}
WORK=${WORK:-$(mktemp -d /tmp/cairn-e2e.XXXXXX)}
mkdir -p "$WORK"
[[ -n ${PROFILE:-} ]] && mkdir -p "$PROFILE" && PROFILE=$(cd "$PROFILE" && pwd)

export CAIRN_PASSPHRASE=bench-pass CAIRN_INSECURE_TEST_KDF=1
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do stop "$pid"; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
# cpu PID: user+system seconds the process has used.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# mem PID FIELD: a /proc/PID/status field in MiB.
mem() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

if [[ -n ${CAIRN:-} ]]; then
	BIN=$CAIRN
else
	BIN=$WORK/cairn
	log "building cairn"
	go build -tags cairn_insecure_kdf -o "$BIN" ./cmd/cairn
fi

# start_net RUN: a fresh testnet and client daemon; sets TN_PID, D_PID, HOME_C.
start_net() {
	local r=$1 boot
	rm -rf "$WORK/net"
	mkdir -p "$WORK/net/tn"
	local prof_tn="" prof_d=""
	if [[ -n ${PROFILE:-} ]]; then
		prof_tn=$PROFILE/testnet-$r.pprof
		prof_d=$PROFILE/daemon-$r.pprof
	fi
	CAIRN_CPUPROFILE=$prof_tn "$BIN" testnet --peers "$PEERS" --dir "$WORK/net/tn" --json \
		>"$WORK/net/tn.out" 2>"$WORK/net/tn.log" &
	TN_PID=$!
	PIDS+=("$TN_PID")
	for _ in $(seq 600); do
		boot=$(jq -r '.bootstrap // empty' "$WORK/net/tn.out" 2>/dev/null || true)
		[[ -n $boot ]] && break
		kill -0 "$TN_PID" || { cat "$WORK/net/tn.log" >&2; exit 1; }
		sleep 0.1
	done
	[[ -n $boot ]] || { log "testnet did not start"; exit 1; }
	HOME_C=$WORK/net/client
	"$BIN" --home "$HOME_C" init --json >/dev/null
	CAIRN_CPUPROFILE=$prof_d "$BIN" --home "$HOME_C" daemon --listen /ip4/127.0.0.1/tcp/0 --mdns=false \
		--bootstrap "$boot" >"$WORK/net/daemon.log" 2>&1 &
	D_PID=$!
	PIDS+=("$D_PID")
	local n=0
	for _ in $(seq 600); do
		n=$("$BIN" --home "$HOME_C" status --json 2>/dev/null | jq -r '.storage_peers // 0' 2>/dev/null || echo 0)
		((n >= PEERS)) && break
		kill -0 "$D_PID" || { cat "$WORK/net/daemon.log" >&2; exit 1; }
		sleep 0.2
	done
	((n >= PEERS)) || { log "daemon sees $n storage peers, want $PEERS"; exit 1; }
}

stop_net() {
	stop "$D_PID"
	stop "$TN_PID"
	if [[ -n ${KEEPLOG:-} ]]; then cp "$WORK/net/daemon.log" "$KEEPLOG" || true; fi
	rm -rf "$WORK/net"
}

# timed NAME BYTES CMD...: runs CMD, appends "NAME MB/s seconds cpu_tn cpu_d
# cpu_cmd" to results (CPU seconds of testnet, daemon and the command).
timed() {
	local name=$1 bytes=$2
	shift 2
	local t0 c0 d0 t1 ccmd
	c0=$(cpu "$TN_PID")
	d0=$(cpu "$D_PID")
	t0=$(now)
	/usr/bin/time -o "$WORK/cmd.time" -f '%U %S' "$@" >/dev/null 2>"$WORK/cmd.err" || {
		cat "$WORK/cmd.err" >&2
		exit 1
	}
	t1=$(now)
	ccmd=$(awk '{ print $1 + $2 }' "$WORK/cmd.time")
	awk -v n="$name" -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$(cpu "$TN_PID")" \
		-v d0="$d0" -v d1="$(cpu "$D_PID")" -v cc="$ccmd" \
		'BEGIN { s = t1 - t0; printf "%s %.1f %.2f %.1f %.1f %.1f\n", n, b / s / 1e6, s, c1 - c0, d1 - d0, cc }' |
		tee -a "$WORK/results" >&2
}

# make_tree DIR: TREE files of 1 KiB–4 MiB (log-uniform, seed 42) in 20
# folders, fresh random bytes; prints the total size.
make_tree() {
	local dir=$1
	awk -v n="$TREE" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "%d %d\n", i, int(exp(log(1024) + rand() * (log(4194304) - log(1024)))) }' |
		while read -r i size; do
			mkdir -p "$dir/d$((i % 20))"
			head -c "$size" /dev/urandom >"$dir/d$((i % 20))/f$i"
		done
	du -sb --apparent-size "$dir" | awk '{ print $1 }'
}

: >"$WORK/results"
# stolen: seconds of CPU the hypervisor gave to other guests (all cores).
stolen() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { print $9 / hz }' /proc/stat; }
STEAL0=$(stolen)
log "load before: $(cut -d' ' -f1-3 /proc/loadavg); $PEERS peers, $RUNS runs, big ${BIG_MIB} MiB, tree $TREE files"
for r in $(seq "$RUNS"); do
	start_net "$r"
	sleep 5
	echo "idle $(mem "$D_PID" VmRSS) $(mem "$D_PID" RssAnon)" >>"$WORK/results"
	log "run $r: idle daemon VmRSS $(mem "$D_PID" VmRSS) MiB (RssAnon $(mem "$D_PID" RssAnon))"
	if ((BIG_MIB > 0)); then
		head -c "$((BIG_MIB << 20))" /dev/urandom >"$WORK/big"
		du0=$(du -s --block-size=1 "$WORK/net/tn" | cut -f1)
		timed big-put "$((BIG_MIB << 20))" "$BIN" --home "$HOME_C" put "$WORK/big" /big
		# What the peers' disks took for it, as a multiple of the file.
		du1=$(du -s --block-size=1 "$WORK/net/tn" | cut -f1)
		echo "stored $(awk -v a="$du0" -v b="$du1" -v n="$((BIG_MIB << 20))" 'BEGIN { printf "%.3f", (b - a) / n }')" >>"$WORK/results"
		if ((GETS)); then
			timed big-get "$((BIG_MIB << 20))" "$BIN" --home "$HOME_C" get /big "$WORK/big.out"
			cmp "$WORK/big" "$WORK/big.out" || { log "big: got bytes differ"; exit 1; }
		fi
		rm -f "$WORK/big" "$WORK/big.out"
	fi
	if ((TREE > 0)); then
		rm -rf "$WORK/tree" "$WORK/tree.out"
		bytes=$(make_tree "$WORK/tree")
		# du counts the folders too: count file bytes only.
		bytes=$(find "$WORK/tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
		timed tree-put "$bytes" "$BIN" --home "$HOME_C" put "$WORK/tree" /tree
		if ((GETS)); then
			timed tree-get "$bytes" "$BIN" --home "$HOME_C" get /tree "$WORK/tree.out"
			diff -r "$WORK/tree" "$WORK/tree.out" >/dev/null || { log "tree: got files differ"; exit 1; }
		fi
		rm -rf "$WORK/tree" "$WORK/tree.out"
		log "run $r: tree of $TREE files, $bytes bytes"
	fi
	echo "hwm $(mem "$D_PID" VmHWM)" >>"$WORK/results"
	log "run $r: daemon VmHWM $(mem "$D_PID" VmHWM) MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
	stop_net
done

if ((RSS_GIB > 0)); then
	start_net rss
	peak_rss=0 peak_anon=0
	(
		set +e
		head -c "$((RSS_GIB << 30))" /dev/urandom | "$BIN" --home "$HOME_C" put - /huge >/dev/null 2>"$WORK/huge.err"
		echo $? >"$WORK/huge.rc"
	) &
	PUT_PID=$!
	while kill -0 "$PUT_PID" 2>/dev/null; do
		rss=$(mem "$D_PID" VmRSS) anon=$(mem "$D_PID" RssAnon)
		peak_rss=$(awk -v a="$peak_rss" -v b="$rss" 'BEGIN { print (b > a) ? b : a }')
		peak_anon=$(awk -v a="$peak_anon" -v b="$anon" 'BEGIN { print (b > a) ? b : a }')
		sleep 0.2
	done
	wait "$PUT_PID" || true
	[[ $(cat "$WORK/huge.rc") == 0 ]] || { cat "$WORK/huge.err" >&2; exit 1; }
	echo "huge $RSS_GIB $(mem "$D_PID" VmHWM) $peak_rss $peak_anon" >>"$WORK/results"
	stop_net
fi

# The report: medians over the runs, min–max, ratio to target and bound.
awk -v bound="$BOUND" -v cores="$(nproc)" '
function median(a, c,   i, j, t) {
	for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
$1 ~ /-(put|get)$/ { n[$1]++; v[$1, n[$1]] = $2; tn[$1] += $4; dd[$1] += $5; cc[$1] += $6; sec[$1] += $3; mb[$1] += $2 * $3 }
$1 == "idle" { ni++; idle[ni] = $2; anon[ni] = $3 }
$1 == "hwm" { nh++; hwm[nh] = $2 }
$1 == "stored" { ns++; stored[ns] = $2 }
$1 == "huge" { huge = $0 }
END {
	target["big-put"] = 150; target["big-get"] = 150; target["tree-put"] = 80; target["tree-get"] = 100
	printf "\n%-9s %8s %17s %7s %8s %8s %9s %8s   %s\n", "phase", "MB/s", "min–max", "target", "÷target", "÷bound", "cpu-bound", "÷cpu-b", "cores: testnet daemon cmd"
	split("big-put big-get tree-put tree-get", order, " ")
	for (o = 1; o <= 4; o++) {
		k = order[o]
		if (!(k in n)) continue
		c = n[k]; delete a
		for (i = 1; i <= c; i++) a[i] = v[k, i]
		lo = a[1]; hi = a[1]
		for (i = 1; i <= c; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		m = median(a, c)
		# cpu-bound: what all the cores would move at the CPU cost per MB
		# measured here (testnet + daemon + command), if nothing else ran.
		cb = cores * mb[k] / (tn[k] + dd[k] + cc[k])
		printf "%-9s %8.1f %8.1f–%-8.1f %7d %7.0f%% %7.0f%% %9.0f %7.0f%%   %.2f %.2f %.2f\n", k, m, lo, hi, target[k], 100 * m / target[k], 100 * m / bound, cb, 100 * m / cb, tn[k] / sec[k], dd[k] / sec[k], cc[k] / sec[k]
	}
	if (ni) {
		delete a; for (i = 1; i <= ni; i++) a[i] = idle[i]
		m = median(a, ni); delete a; for (i = 1; i <= ni; i++) a[i] = anon[i]
		printf "idle daemon VmRSS median %.1f MiB (RssAnon %.1f MiB), target < 100 MiB\n", m, median(a, ni)
	}
	if (ns) { delete a; for (i = 1; i <= ns; i++) a[i] = stored[i]; printf "disk taken by the peers for the large file: median %.3f× its size (the code stores 1.6×)\n", median(a, ns) }
	if (nh) { delete a; for (i = 1; i <= nh; i++) a[i] = hwm[i]; printf "daemon VmHWM after the runs: median %.1f MiB\n", median(a, nh) }
	if (huge != "") {
		split(huge, h, " ")
		printf "put of %d GiB from stdin: daemon VmHWM %.1f MiB, sampled peak VmRSS %.1f MiB, RssAnon %.1f MiB; target < 256 MiB\n", h[2], h[3], h[4], h[5]
	}
}' "$WORK/results"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg); CPU stolen by other guests meanwhile: $(awk -v a="$STEAL0" -v b="$(stolen)" 'BEGIN { printf "%.1f", b - a }') s"
