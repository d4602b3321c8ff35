#!/usr/bin/env bash
# pipeline.sh: the encode and decode paths on one core, next to the bound
# computed from the primitives measured in the same run (issue 2).
#
#   bench/pipeline.sh            # from the repository root
#   COUNT=3 bench/pipeline.sh    # repetitions of each benchmark (default 3)
#
# Prints medians (and min–max) in MB/s of file data, the serial bound of
# each path (one core runs every stage in turn, so the times per byte add
# up), the ratio, and the peak heap of TestStreamingMemory (1 GiB).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  go: $(go env GOVERSION)  count: $COUNT"
go test ./bench -run '^$' -bench 'BenchmarkPrimitives' -cpu 1 -count "$COUNT" >"$out/prim.txt"
go test ./storage/blob -run '^$' -bench 'BenchmarkPipeline(Decode)?$' -cpu 1 -count "$COUNT" >"$out/pipe.txt"
go test ./storage/blob -run 'TestStreamingMemory$' -v -count 1 >"$out/mem.txt" 2>&1 || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# median, min and max MB/s per benchmark name.
awk '
/^Benchmark/ && / MB\/s/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") v = $i
	n[name]++; x[name, n[name]] = v
}
END {
	for (name in n) {
		c = n[name]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++)
			if (x[name, j] < x[name, i]) { t = x[name, i]; x[name, i] = x[name, j]; x[name, j] = t }
		med = (c % 2) ? x[name, (c + 1) / 2] : (x[name, c / 2] + x[name, c / 2 + 1]) / 2
		printf "%s %.1f %.1f %.1f\n", name, med, x[name, 1], x[name, c]
	}
}' "$out/prim.txt" "$out/pipe.txt" | sort >"$out/med.txt"

awk '
{ med[$1] = $2; lo[$1] = $3; hi[$1] = $4; order[++n] = $1 }
function inv(name) { return (name in med && med[name] > 0) ? 1 / med[name] : 0 }
END {
	printf "%-40s %10s %21s\n", "benchmark (one core)", "median", "min–max MB/s"
	for (i = 1; i <= n; i++) printf "%-40s %10.1f %10.1f–%-10.1f\n", order[i], med[order[i]], lo[order[i]], hi[order[i]]
	p = "BenchmarkPrimitives/"
	enc = 1 / (inv(p "chunker") + inv(p "derive") + inv(p "seal") + inv(p "rs-encode") + inv(p "root-encoded"))
	dec = 1 / (inv(p "root-decode") + inv(p "rs-reconstruct") + inv(p "open"))
	e = med["BenchmarkPipeline"]; d = med["BenchmarkPipelineDecode"]
	printf "\nencode bound (chunker+derive+seal+rs-encode+root-encoded): %.0f MB/s\n", enc
	printf "encode path: %.0f MB/s = %.0f %% of this run'\''s bound, %.0f %% of the shared ~810 MB/s (target >= 60 %%)\n", e, 100 * e / enc, 100 * e / 810
	printf "decode bound (root-decode+rs-reconstruct+open): %.0f MB/s\n", dec
	printf "decode path: %.0f MB/s = %.0f %% of this run'\''s bound\n", d, 100 * d / dec
}' "$out/med.txt"
echo
grep -h "peak heap" "$out/mem.txt" | sed 's/^ *//' || { echo "TestStreamingMemory:"; tail -5 "$out/mem.txt"; }
