#!/usr/bin/env bash
# bootstorm.sh: a boot storm (issue 9; Skype, August 2007: a mass reboot
# melted its P2P core). N storage daemons and one client daemon run as
# separate processes on 127.0.0.1; the client puts a few files; then every
# storage daemon is killed with SIGKILL at once and all are started again
# within one second, with default settings. The network must recover on
# its own: every daemon sees its storage peers again, the client reads
# every file back intact, and no repair storm follows.
#
#   flock /tmp/cairn-heavy.lock bench/bootstorm.sh          # 50 + 1 daemons
#   N=12 FILES=4 MIB=4 SETTLE=30 bench/bootstorm.sh          # a quick look
#
# Environment (defaults in brackets):
#   N [50]          storage daemons; the first is the bootstrap node, on a
#                   fixed port (BOOT_PORT, a free one); the others listen on
#                   /ip4/127.0.0.1/tcp/0, a new port at every start, as a
#                   daemon with no --listen does, and find each other again
#                   through the bootstrap node and the DHT
#   FILES [12]      files the client puts (sizes log-uniform, fixed seed)
#   MIB [20]        their total size in MiB
#   CLIENT_AUDIT [5s]  the client's audit_every and audit_pass (config.json),
#                   so that its audit loop runs through the storm; "" keeps
#                   the defaults (a round a minute, a pass a day: a storm
#                   after the first pass would see no audit at all). The
#                   storage daemons always run the defaults.
#   SETTLE [150]    seconds to keep watching after the files read back, for
#                   repair lines and the repair queue
#   WORK [mktemp]   scratch directory (removed at exit; KEEP=1 keeps it)
#   CAIRN [unset]   a prebuilt cairn binary (built with -tags cairn_insecure_kdf)
#
# The client is not killed: it is the user whose laptop stayed up while
# the storage network rebooted, and whose audits see every holder vanish
# (the case where a repair storm would start). Measured:
#   recovery   seconds from the first restart until every storage daemon
#              sees >= 16 storage peers (k+m of the default 10+6 code),
#              until every one sees all N others (the client included), and
#              until the client's `cairn get` of every file succeeds with
#              the same sha256 (it is retried every 0.5 s from the restart)
#   conn/s     new TCP connections to the bootstrap node's port per second,
#              peak and total: `ss -tan` sampled every 100 ms on both ends
#              of the loopback connections; a connection is counted once,
#              the first time its client port is seen (the side that closes
#              first keeps the socket in TIME-WAIT for 60 s, so even a
#              connection refused right after accept is seen). Dials while
#              the bootstrap node was down are refused by the kernel and
#              leave no socket: not counted. The node's own count of
#              connections its accept cap refused is grepped from its log
#   latency    `cairn status --json` and `cairn id` against the bootstrap
#              node every 0.25 s throughout: max and p99 once it answers
#   repair     the client's "repair:" log lines and its status's
#              repair_queue, sampled every 2 s until SETTLE has passed
#   CPU, RSS   user+system seconds of all daemons before and after the
#              storm; RSS total at the end and the bootstrap node's peak
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-50}
FILES=${FILES:-12}
MIB=${MIB:-20}
CLIENT_AUDIT=${CLIENT_AUDIT-5s}
SETTLE=${SETTLE:-150}
WORK=${WORK:-$(mktemp -d /tmp/cairn-storm.XXXXXX)}
mkdir -p "$WORK"
export CAIRN_PASSPHRASE=bench-pass CAIRN_INSECURE_TEST_KDF=1

PIDS=()      # storage daemons, by index
C_PID=""     # client daemon
BG=()        # samplers
cleanup() {
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}" $C_PID; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n ${KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_all() { local s=0 p; for p in "$@"; do s=$(awk -v a="$s" -v b="$(cpu "$p")" 'BEGIN { print a + b }'); done; echo "$s"; }
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

if [[ -n ${CAIRN:-} ]]; then
	BIN=$CAIRN
else
	BIN=$WORK/cairn
	log "building cairn"
	go build -tags cairn_insecure_kdf -o "$BIN" ./cmd/cairn
fi
BOOT_PORT=${BOOT_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
home() { printf '%s/s%02d' "$WORK" "$1"; }
C_HOME=$WORK/client

# run_daemon I [BOOT]: execs storage daemon I (the caller backgrounds it).
run_daemon() {
	local i=$1 listen=/ip4/127.0.0.1/tcp/0 args=()
	((i == 0)) && listen=/ip4/127.0.0.1/tcp/$BOOT_PORT
	[[ -n ${2:-} ]] && args=(--bootstrap "$2")
	exec "$BIN" --home "$(home "$i")" daemon --listen "$listen" --mdns=false "${args[@]}" >>"$(home "$i").log" 2>&1
}
# peers HOME: "storage_peers peers" from its status, or "-1 -1".
peers() { "$BIN" --home "$1" status --json 2>/dev/null | jq -r '"\(.storage_peers) \(.peers)"' 2>/dev/null || echo "-1 -1"; }
# sweep SINCE: one status of every storage daemon that has not answered
# with all N others since SINCE, 8 at a time; appends "time home
# storage_peers peers" lines (-1 -1: no answer) to sweeps.txt and prints
# how many are left that have not.
sweep() {
	local since=$1
	for i in $(seq 0 $((N - 1))); do home "$i"; echo; done |
		awk -v t="$since" -v n="$N" -v f="$WORK/sweeps.txt" 'BEGIN { while ((getline l < f) > 0) { split(l, a, " "); if (a[1] >= t && a[3] >= n) done[a[2]] = 1 } } !($0 in done)' |
		xargs -r -P 8 -I{} sh -c 'r=$(timeout 15 "$0" --home {} status --json 2>/dev/null | jq -r "\"\(.storage_peers) \(.peers)\"" 2>/dev/null); echo "$(date +%s.%N) {} ${r:--1 -1}"' "$BIN" |
		tee -a "$WORK/sweeps.txt" | awk -v n="$N" '$3 < n { k++ } END { print k + 0 }'
}
# first_all MIN: seconds after the restart when the last storage daemon
# first answered with >= MIN storage peers ("never" if one never did).
first_all() {
	awk -v m="$1" -v tu="$T_UP" -v n="$N" '$1 >= tu && $3 >= m && !($2 in f) { f[$2] = $1; k++; if ($1 > last) last = $1 }
		END { if (k < n) print "never"; else printf "%.1f", last - tu }' "$WORK/sweeps.txt"
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg); $N storage daemons + 1 client; bootstrap port $BOOT_PORT"
for i in $(seq 0 $((N - 1))); do home "$i"; echo; done | xargs -P 4 -I{} "$BIN" --home {} init --json >/dev/null
"$BIN" --home "$C_HOME" init --json >/dev/null
if [[ -n $CLIENT_AUDIT ]]; then
	jq --arg d "$CLIENT_AUDIT" '.audit_every = $d | .audit_pass = $d' "$C_HOME/config.json" >"$WORK/c.json"
	mv "$WORK/c.json" "$C_HOME/config.json"
fi

# The network before the storm.
run_daemon 0 &
PIDS[0]=$!
for _ in $(seq 300); do
	BOOT=$("$BIN" --home "$(home 0)" id --addrs 2>/dev/null | tr ' ' '\n' | grep "/ip4/127.0.0.1/tcp/$BOOT_PORT/" | head -1 || true)
	[[ -n $BOOT ]] && break
	sleep 0.1
done
[[ -n $BOOT ]] || { log "the bootstrap node did not start"; cat "$(home 0).log" >&2; exit 1; }
for i in $(seq 1 $((N - 1))); do
	run_daemon "$i" "$BOOT" &
	PIDS[i]=$!
	sleep 0.05
done
"$BIN" --home "$C_HOME" daemon --listen /ip4/127.0.0.1/tcp/0 --mdns=false --bootstrap "$BOOT" >"$WORK/client.log" 2>&1 &
C_PID=$!
t0=$(now)
for _ in $(seq 300); do
	read -r sp _ <<<"$(peers "$C_HOME")"
	((sp >= N)) && break
	sleep 1
done
((sp >= N)) || { log "the client sees $sp storage peers, want $N"; exit 1; }
log "network up: the client sees $sp storage peers after $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"

mkdir -p "$WORK/files"
awk -v n="$FILES" -v total="$((MIB << 20))" 'BEGIN { srand(9); for (i = 0; i < n; i++) { w[i] = exp(rand() * log(64)); s += w[i] }
	for (i = 0; i < n; i++) printf "%d %d\n", i, int(w[i] / s * total) }' |
	while read -r i size; do head -c "$size" /dev/urandom >"$WORK/files/f$i"; done
(cd "$WORK/files" && sha256sum ./* | sort -k2) >"$WORK/files.sha"
"$BIN" --home "$C_HOME" put "$WORK/files" /files >/dev/null
log "put $FILES files, $(du -sb --apparent-size "$WORK/files" | cut -f1) bytes; waiting for every daemon to see all peers"
T_NET=$(now)
for _ in $(seq 120); do
	k=$(sweep "$T_NET")
	((k == 0)) && break
	sleep 1
done
log "before the storm: $((N - k)) of $N storage daemons see all $N others"
sleep 5

# Samplers, from before the storm to the end.
(while :; do ss -Htan "( sport = :$BOOT_PORT or dport = :$BOOT_PORT )" | awk -v t="$(now)" '{ print t, $1, $4, $5 }'; sleep 0.1; done) >"$WORK/ss.txt" 2>/dev/null &
BG+=($!)
(while :; do
	a=$(now)
	"$BIN" --home "$(home 0)" status --json >/dev/null 2>&1 && rs=0 || rs=1
	b=$(now)
	"$BIN" --home "$(home 0)" id >/dev/null 2>&1 && ri=0 || ri=1
	c=$(now)
	echo "$a $(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }') $rs $(awk -v b="$b" -v c="$c" 'BEGIN { print c - b }') $ri"
	sleep 0.25
done) >"$WORK/latency.txt" &
BG+=($!)
(while :; do
	echo "$(now) $("$BIN" --home "$C_HOME" status --json 2>/dev/null | jq -r '"\(.repair_queue) \(.storage_peers) \(.peers)"' 2>/dev/null || echo "- - -")"
	sleep 2
done) >"$WORK/client-status.txt" &
BG+=($!)
sleep 2

# The storm.
CPU_BEFORE=$(cpu_all "${PIDS[@]}")
RSS_BEFORE=0
for p in "${PIDS[@]}"; do RSS_BEFORE=$((RSS_BEFORE + $(kib "$p" VmRSS))); done
T_KILL=$(now)
{
	kill -KILL "${PIDS[@]}"
	wait "${PIDS[@]}" || true # reaped quietly
} 2>/dev/null
for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.01; done; done
log "killed $N storage daemons in $(awk -v a="$T_KILL" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s; restarting all within a second"
T_UP=$(now)
echo "$T_KILL $T_UP" >"$WORK/times"
order=$(seq 0 $((N - 1)) | shuf)
for i in $order; do
	# Each at its own random moment within the second.
	d=0.$(printf '%03d' $((RANDOM % 1000)))
	(
		sleep "$d"
		run_daemon "$i" "$BOOT"
	) &
	PIDS[i]=$!
	awk -v a="$T_UP" -v d="$d" 'BEGIN { printf "%.3f", a + d }' >"$WORK/up.$i"
done
log "restarting $N within a second (the bootstrap node as number $(echo "$order" | grep -nx 0 | cut -d: -f1) of $N)"

# Recovery: the client reads everything back; every daemon sees its peers.
(
	while :; do
		rm -rf "$WORK/got"
		if timeout 120 "$BIN" --home "$C_HOME" get /files "$WORK/got" >/dev/null 2>>"$WORK/get.err" &&
			(cd "$WORK/got" && sha256sum ./* | sort -k2) | cmp -s - "$WORK/files.sha"; then
			now >"$WORK/read.done"
			break
		fi
		echo "$(now) get failed" >>"$WORK/get.err"
		sleep 0.5
	done
) &
READER=$!
BG+=($READER)
T_SWEEPS=$(now)
SWEEPS=0
while awk -v a="$T_UP" -v b="$(now)" 'BEGIN { exit !(b - a < 600) }'; do
	k=$(sweep "$T_UP")
	SWEEPS=$((SWEEPS + 1))
	((k == 0)) && break
	sleep 0.5
done
SWEEP_S=$(awk -v a="$T_SWEEPS" -v b="$(now)" -v n="$SWEEPS" 'BEGIN { printf "%.1f", (b - a) / n }') # mean sweep, the slowest
T16=$(first_all 16)
TALL=$(first_all "$N")
for _ in $(seq 600); do [[ -f $WORK/read.done ]] && break; sleep 1; done
[[ -f $WORK/read.done ]] || { log "the client did not read the files back within 10 minutes"; tail "$WORK/get.err" >&2; exit 1; }
TREAD=$(cat "$WORK/read.done")
CPU_STORM=$(cpu_all "${PIDS[@]}")
log "recovered; watching for repair for $SETTLE s"
sleep "$SETTLE"
for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; done
BG=()
CPU_AFTER=$(cpu_all "${PIDS[@]}")
RSS_AFTER=0
for p in "${PIDS[@]}"; do RSS_AFTER=$((RSS_AFTER + $(kib "$p" VmRSS))); done

since() { awk -v a="$T_UP" -v b="$1" 'BEGIN { printf "%.1f", b - a }'; }
BOOT_UP=$(since "$(cat "$WORK/up.0")")
PEERS_JSON=$("$BIN" --home "$C_HOME" peers --json 2>/dev/null || echo '[]')
AUDITS=$(jq -r '"\(map(.audits_passed) | add // 0) passed, \(map(.audits_failed) | add // 0) failed, \(map(select(.excluded)) | length) peers excluded, \(map(select(.state == "warned")) | length) warned"' <<<"$PEERS_JSON")
# New connections at the bootstrap port: key = the client end of each.
CONN=$(awk -v p=":$BOOT_PORT" -v tk="$T_KILL" -v tu="$T_UP" '
	$2 == "LISTEN" { next }
	{ k = ""; if ($3 ~ p"$") k = $4; else if ($4 ~ p"$") k = $3; if (k == "" || (k in seen)) next
	  seen[k] = 1; if ($1 < tk) next
	  s = int($1 - tu); if (s < 0) s = -1; c[s]++; tot++; if (c[s] > peak) { peak = c[s]; at = s } }
	END { printf "%d %d %d\n", peak, at, tot }' "$WORK/ss.txt")
read -r PEAK PEAK_AT CONNS <<<"$CONN"
# Latencies once the restarted bootstrap node first answers.
awk -v tu="$T_UP" '$1 >= tu && $3 == 0 && !f { f = $1 } f' "$WORK/latency.txt" >"$WORK/latency.after"
LFIRST=$(awk -v tu="$T_UP" 'NR == 1 { printf "%.1f", $1 - tu }' "$WORK/latency.after")
LN=$(wc -l <"$WORK/latency.after")
LFAIL=$(awk '$3 != 0 || $5 != 0 { n++ } END { print n + 0 }' "$WORK/latency.after")
LMAX=$(sort -g -k2 "$WORK/latency.after" | tail -1 | awk '{ printf "%.3f", $2 }')
LP99=$(sort -g -k2 "$WORK/latency.after" | awk -v n="$LN" 'NR == int(n * 0.99) || (NR == 1 && n < 100) { v = $2 } END { printf "%.3f", v }')
IDMAX=$(sort -g -k4 "$WORK/latency.after" | tail -1 | awk '{ printf "%.3f", $4 }')
REPAIRS=$(grep -c 'repair:' "$WORK/client.log" || true)
QMAX=$(awk '$2 ~ /^[0-9]+$/ && $2 > m { m = $2 } END { print m + 0 }' "$WORK/client-status.txt")
REFUSED=$(grep -ho 'refused [0-9]* (\([0-9]*\) in all)' "$(home 0).log" | tail -1 || true)

cat <<EOF
boot storm: $N storage daemons (killed -9, all restarted within 1 s) + 1 client (stayed up), $FILES files, $MIB MiB
  every daemon sees >= 16 storage peers: $T16 s after the first restart
  every daemon sees all $N others:       $TALL s (polled until seen: $SWEEPS rounds, ~$SWEEP_S s each)
  the client reads every file back:    $(since "$TREAD") s (sha256 equal)
  bootstrap node: peak $PEAK new connections/s (in second $PEAK_AT after the first restart), $CONNS in all after the kill; accept cap: ${REFUSED:-no refusal logged}
  bootstrap node status --json: restarted at $BOOT_UP s, first answer at $LFIRST s, then max ${LMAX} s, p99 ${LP99} s over $LN samples, $LFAIL failed; id max ${IDMAX} s
  repair: $REPAIRS "repair:" lines in the client's log; repair_queue max $QMAX (every 2 s until $SETTLE s after recovery); the client's audits: $AUDITS
  CPU (user+sys, all storage daemons): $(awk -v a="$CPU_STORM" -v b="$CPU_AFTER" -v s="$SETTLE" 'BEGIN { printf "%.1f s from the restart to recovery, %.1f s in the %d s after", a, b - a, s }'); before the storm (start, put, idle) $CPU_BEFORE s; the client $(cpu "$C_PID") s in all
  RSS: storage daemons $((RSS_BEFORE >> 10)) MiB before the storm, $((RSS_AFTER >> 10)) MiB at the end; bootstrap node peak $(($(kib "${PIDS[0]}" VmHWM) >> 10)) MiB; client $(($(kib "$C_PID" VmRSS) >> 10)) MiB
  load at the end: $(cut -d' ' -f1-3 /proc/loadavg)
EOF
