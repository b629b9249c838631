#!/usr/bin/env bash
# Every benchmark of the project, as BENCHMARKS.md reports them:
#   1. call overhead, go-grpc's stubs against the lazy ones, on bufconn and
#      loopback TCP (bench/), compared with benchstat;
#   2. the tracker and method begin/end microbenchmarks under -cpu 1,2,8;
#   3. the generators' wall time (hyperfine) and peak memory (GNU time) on
#      one large CodeGeneratorRequest;
#   4. the reconnect storm with 1,000 idle clients.
# Raw output goes to the folder given as the first argument (default
# bench/results). BENCH_COUNT and BENCH_TIME set -count and -benchtime.
# Needs Go; hyperfine and GNU time come from Debian when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da # golang.org/x/perf
count=${BENCH_COUNT:-6}
benchtime=${BENCH_TIME:-1s}
out=${1:-bench/results}
mkdir -p "$out"

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "== installing ${missing[*]} (Debian)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "missing: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
fi
source scripts/tools.sh
GOBIN="$bin" go install "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION"

echo "== machine"
{
	echo "commit: $(git rev-parse HEAD)$([ -z "$(git status --porcelain --untracked-files=no)" ] || echo ' with uncommitted changes')"
	echo "date: $(date -u +%FT%TZ)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	echo "cores: $(nproc)"
	echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "go: $(go version)"
	echo "kernel: $(uname -sr)"
	echo "open files: $(ulimit -n)"
} | tee "$out/machine.txt"

echo "== call overhead: $count interleaved runs of -benchtime=$benchtime"
# One test binary run $count times, rather than -count=$count, so that both
# stubs' samples are spread over the same stretch of time and share its noise.
go test -c -o "$out/bench.test" ./bench
: >"$out/calls.txt"
for i in $(seq "$count"); do
	echo "run $i of $count"
	"$out/bench.test" -test.run '^$' -test.bench . -test.benchmem -test.benchtime "$benchtime" -test.count 1 >>"$out/calls.txt"
done
rm "$out/bench.test"
benchstat -col /stub "$out/calls.txt" | tee "$out/calls.benchstat.txt"

echo "== tracker: -cpu 1,2,8"
go test ./runtime -run '^$' -bench . -benchmem -cpu 1,2,8 -count "$count" -benchtime 300ms >"$out/tracker.txt"
benchstat -col /gomaxprocs "$out/tracker.txt" | tee "$out/tracker.benchstat.txt"

echo "== generators: 100 files of 5 services of 8 methods"
go run ./bench/genrequest -files 100 -services 5 >"$out/request.bin"
generators=(protoc-gen-go-grpc protoc-gen-lazyclient)
hyperfine --warmup 3 --runs 20 --export-markdown "$out/generators.md" \
	-n protoc-gen-go-grpc "protoc-gen-go-grpc <$out/request.bin >/dev/null" \
	-n protoc-gen-lazyclient "protoc-gen-lazyclient <$out/request.bin >/dev/null"
{
	echo "generator peak_rss_kib(median of 10)"
	for g in "${generators[@]}"; do
		rss=$(for _ in $(seq 10); do /usr/bin/time -f '%M' "$g" <"$out/request.bin" 2>&1 >/dev/null; done | sort -n | sed -n 5,6p | awk '{s += $1} END {print s / 2}')
		echo "$g $rss"
	done
} | tee "$out/generators-rss.txt"
rm "$out/request.bin"

echo "== reconnect storm: 1,000 idle clients, server restart"
go test ./bench -run '^TestStorm$' -storm -count 1 -v -timeout 10m | tee "$out/storm.txt"
