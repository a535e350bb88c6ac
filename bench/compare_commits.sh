#!/usr/bin/env bash
# Before/after comparison of two commits: callgrind instructions per item for the one-thread
# lines (ring, pool, spsc, jitter, cache, rtp) and, optionally, interleaved wall-time rounds of
# the Google Benchmark binaries. Prints markdown tables (line | base | new | new/base).
#
#   bench/compare_commits.sh <base-commit> [<new-commit>=HEAD] [options]
#
#   --lines REGEX   only lines whose name matches REGEX (grep -E), e.g. 'ring|pool|spsc'
#   --wall ROUNDS   also ROUNDS wall-time rounds, interleaved base, new, base, new ... (default 0)
#   --min-time S    Google Benchmark min time per line and round (default 0.2)
#   --scale F       multiply every callgrind item count by F (default 1; 0.5 halves the time)
#   --workdir DIR   export and build there and keep it; a re-run reuses the builds of a commit
#   --annotate DIR  keep the callgrind files of the larger runs there (callgrind_annotate them)
#   --jobs N        build jobs and concurrent callgrind runs (default 2)
#   --out FILE      also write the tables to FILE
#
# Each commit is exported with `git archive` and configured Release with g++ (no preset;
# benchmarks on, tests, examples and fuzzers off); only the drivers the selected lines need are
# built. A driver a commit lacks comes from bench/compare/v<major>_<minor>/ of this checkout when
# one is there for that commit's version (the same loops written against that version's API).
# Instructions per item = (Ir at 2N - Ir at N) / (N * unit), so set-up and teardown cancel out.
# A line that fails to build or run on one side is reported as such; nothing here is fatal.
set -u

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

base_ref='' new_ref='' lines_re='' wall_rounds=0 min_time=0.2 scale=1 workdir='' annotate='' jobs=2
out=''
while [ $# -gt 0 ]; do
  case $1 in
    --lines) lines_re=$2; shift 2 ;;
    --wall) wall_rounds=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --annotate) annotate=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) if [ -z "$base_ref" ]; then base_ref=$1; elif [ -z "$new_ref" ]; then new_ref=$1; else usage; fi
       shift ;;
  esac
done
[ -n "$base_ref" ] || usage
new_ref=${new_ref:-HEAD}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel) || exit 1
base_sha=$(git -C "$repo" rev-parse --verify "$base_ref^{commit}") || exit 1
new_sha=$(git -C "$repo" rev-parse --verify "$new_ref^{commit}") || exit 1
command -v valgrind >/dev/null || { echo "valgrind not found (Debian: apt-get install valgrind)" >&2; exit 1; }

if [ -z "$workdir" ]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/streamiso-compare.XXXXXX")
  trap 'rm -rf "$workdir"' EXIT
fi
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
[ -z "$annotate" ] || { mkdir -p "$annotate" && annotate=$(cd "$annotate" && pwd); }
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# ---- the lines ----
# name | driver | base args | new args | N | unit
# Args: the driver's command line, the word N standing for the item count; "-" = the line does not exist on
# that side. A renamed line gets its two command lines here. unit: items per N (a number) or
# out:<word> to read it from the driver's output ("<word> <count>").
# The drivers take the same arguments at 0.1 (bench/compare/v0_1) and at 0.2, so most rows
# carry the same command line twice.
LINES='
ring/write|ring|write N|write N|200000|1
ring/push_pop|ring|push_pop N|push_pop N|200000|1
ring/read_latest|ring|read_latest N|read_latest N|200000|1
ring/waits_write|ring|-|waits_write N|200000|1
ring/waits_push_pop|ring|-|waits_push_pop N|200000|1
pool/scrub_none|ring|pool_none N|pool_none N|100000|1
pool/scrub_on_release|ring|pool_on_release N|pool_on_release N|100000|1
pool/scrub_none_padding0|ring|-|pool_none_padding0 N|100000|1
spsc/streamiso/item|spsc|streamiso item N|streamiso item N|200000|1
spsc/streamiso/burst|spsc|streamiso burst N|streamiso burst N|200704|1
spsc/streamiso_checked_each_call/item|spsc|streamiso_checked_each_call item N|streamiso_checked_each_call item N|200000|1
spsc/streamiso_checked_each_call/burst|spsc|streamiso_checked_each_call burst N|streamiso_checked_each_call burst N|200704|1
spsc/streamiso_strict/item|spsc|-|streamiso_strict item N|200000|1
spsc/streamiso_self/item|spsc|-|streamiso_self item N|200000|1
spsc/streamiso_waits/item|spsc|-|streamiso_waits item N|200000|1
spsc/boost/item (control)|spsc|boost item N|boost item N|200000|1
jitter/reorder0|jitter|0 N|0 N|2|65536
jitter/reorder5|jitter|5 N|5 N|2|65536
jitter/reorder20|jitter|20 N|20 N|2|65536
cache/zipf_readthrough|cache|concurrent N|concurrent N|200000|1
cache/zipf_readthrough_visit|cache|visit N|visit N|200000|1
cache/zipf_readthrough_single_threaded_form|cache|single_threaded N|single_threaded N|200000|1
rtp/copy/in_order|rtp|in_order copy N|in_order copy N|2|out:datagrams_per_pass
rtp/copy/reorder5_loss2|rtp|reorder5_loss2 copy N|reorder5_loss2 copy N|2|out:datagrams_per_pass
rtp/staged/in_order|rtp|in_order staged N|in_order staged N|2|out:datagrams_per_pass
rtp/staged/reorder5_loss2|rtp|reorder5_loss2 staged N|reorder5_loss2 staged N|2|out:datagrams_per_pass
'
# Wall-time lines (Google Benchmark): binary | filter. Renamed lines: RENAMES below, base=new.
WALL='
ring_bench|^(spsc/(streamiso|streamiso_checked_each_call|boost)/1thread_|broadcast/streamiso/(write_0readers|read_latest)|pool/streamiso/)
jitter_bench|^jitter/(streamiso|baseline)/
cache_bench|^cache/(streamiso|lru)/zipf_readthrough[a-z_]*/real_time/threads:1$
'
RENAMES='
'

selected() { [ -z "$lines_re" ] || printf '%s\n' "$1" | grep -Eq -- "$lines_re"; }

# ---- export, overlay, configure, build ----
version_of() {  # <src dir> -> major_minor
  sed -n 's/^#define STREAMISO_VERSION_\(MAJOR\|MINOR\) \([0-9]*\).*/\2/p' \
    "$1/include/streamiso/version.hpp" | paste -sd_
}

prepare() {  # <side> <sha>: exports and configures; sets up $workdir/<sha>/{src,build}
  local side=$1 sha=$2 dir=$workdir/$2
  if [ ! -f "$dir/exported" ]; then
    rm -rf "$dir" && mkdir -p "$dir/src"
    git -C "$repo" archive "$sha" | tar -x -C "$dir/src" || { log "$side: git archive failed"; return 1; }
    local v d overlay
    v=$(version_of "$dir/src")
    overlay=$here/compare/v$v
    : >"$dir/overlaid"
    for d in ring spsc jitter cache rtp; do
      if [ ! -f "$dir/src/bench/${d}_callgrind.cpp" ] && [ -f "$overlay/${d}_callgrind.cpp" ]; then
        cp "$overlay/${d}_callgrind.cpp" "$dir/src/bench/"
        printf '\nadd_executable(%s_callgrind %s_callgrind.cpp)\ntarget_link_libraries(%s_callgrind PRIVATE streamiso::streamiso streamiso_bench_baselines)\n' \
          "$d" "$d" "$d" >>"$dir/src/bench/CMakeLists.txt"
        echo "$d" >>"$dir/overlaid"
      fi
    done
    touch "$dir/exported"
  fi
  if [ ! -f "$dir/build/CMakeCache.txt" ]; then
    log "$side: configuring $(git -C "$repo" rev-parse --short "$sha")"
    cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
      -DSTREAMISO_BUILD_BENCHMARKS=ON -DSTREAMISO_BUILD_TESTS=OFF -DSTREAMISO_BUILD_EXAMPLES=OFF \
      -DSTREAMISO_BUILD_FUZZERS=OFF -DSTREAMISO_INSTALL=OFF >"$dir/configure.log" 2>&1 ||
      { log "$side: configure failed (see $dir/configure.log)"; return 1; }
  fi
}

build() {  # <sha> <target>: 0 when the binary is there
  local dir=$workdir/$1
  [ -f "$dir/build/CMakeCache.txt" ] || return 4
  grep -q "add_executable($2 " "$dir/src/bench/CMakeLists.txt" 2>/dev/null ||
    grep -q "streamiso_add_benchmark($2 " "$dir/src/bench/CMakeLists.txt" 2>/dev/null || return 3
  [ -f "$dir/failed.$2" ] && return 1
  log "building $2 at $(git -C "$repo" rev-parse --short "$1")"
  if cmake --build "$dir/build" --target "$2" -j"$jobs" >"$dir/build.$2.log" 2>&1; then
    return 0
  fi
  touch "$dir/failed.$2"
  log "build of $2 failed; the end of its log:"
  grep -E 'error|Error' "$dir/build.$2.log" | head -5 >&2
  return 1
}

bin_of() { echo "$workdir/$1/build/bench/$2"; }

prepare base "$base_sha"
prepare new "$new_sha"

# Which drivers the selected lines need.
need_drivers=$(printf '%s\n' "$LINES" | while IFS='|' read -r name drv _; do
  [ -n "$name" ] && selected "$name" && echo "$drv"; done | sort -u)

declare -A driver_state  # side:driver -> ok | absent | build failed
for side in base new; do
  sha=$base_sha; [ $side = new ] && sha=$new_sha
  for d in $need_drivers; do
    build "$sha" "${d}_callgrind"
    case $? in
      0) driver_state[$side:$d]=ok ;;
      3) driver_state[$side:$d]=absent ;;
      4) driver_state[$side:$d]="not configured" ;;
      *) driver_state[$side:$d]="build failed" ;;
    esac
  done
done

# ---- callgrind runs ----
results=$workdir/results.$$
mkdir -p "$results"
tasks=$results/tasks
: >"$tasks"
while IFS='|' read -r name drv base_args new_args n unit; do
  [ -n "$name" ] || continue
  selected "$name" || continue
  n=$(awk -v n="$n" -v s="$scale" 'BEGIN { v = int(n * s); print v < 1 ? 1 : v }')
  for side in base new; do
    args=$base_args; sha=$base_sha
    [ $side = new ] && args=$new_args && sha=$new_sha
    [ "$args" = - ] && continue
    [ "${driver_state[$side:$drv]}" = ok ] || continue
    key=$(printf '%s' "$name" | tr -c 'A-Za-z0-9_' '_')
    for k in 1 2; do
      words=
      for w in $args; do [ "$w" = N ] && w=$((k * n)); words="$words${words:+ }$w"; done
      printf '%s\t%s\t%s\t%s\n' "$side.$key.$k" "$(bin_of "$sha" "${drv}_callgrind")" \
        "$words" "$k" >>"$tasks"
    done
  done
done <<<"$LINES"

run_task() {  # <id> <binary> <args> <k>: writes <id>.out (program + valgrind output) and <id>.rc
  local id=$1 bin=$2 args=$3 k=$4 cgout=/dev/null
  [ -n "$ANNOTATE" ] && [ "$k" = 2 ] && cgout=$ANNOTATE/callgrind.${id%.2}
  # shellcheck disable=SC2086 # args is a word list
  valgrind --tool=callgrind --callgrind-out-file="$cgout" "$bin" $args >"$RESULTS/$id.out" 2>&1
  echo $? >"$RESULTS/$id.rc"
}
export -f run_task
export RESULTS=$results ANNOTATE=$annotate
ntasks=$(wc -l <"$tasks")
log "callgrind: $ntasks runs, $jobs at a time"
started=$(date +%s)
tr '\n' '\0' <"$tasks" | xargs -0 -P "$jobs" -I{} bash -c 'IFS=$'"'\t'"' read -r a b c d <<<"$1"; run_task "$a" "$b" "$c" "$d"' _ {}
log "callgrind: done in $(( $(date +%s) - started )) s"

# per_item <side> <key> <n> <unit>: prints instructions per item or a reason (prefixed !)
per_item() {
  local side=$1 key=$2 n=$3 unit=$4 f1=$results/$1.$2.1 f2=$results/$1.$2.2 a b u rc
  [ -f "$f1.rc" ] || { echo "!not run"; return; }
  for f in "$f1" "$f2"; do
    rc=$(cat "$f.rc")
    if [ "$rc" = 2 ]; then echo "!not in driver"; return; fi
    if [ "$rc" != 0 ]; then echo "!failed (exit $rc)"; return; fi
  done
  a=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$f1.out")
  b=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$f2.out")
  case $unit in
    out:*) u=$(sed -n "s/^${unit#out:} \([0-9]*\).*/\1/p" "$f1.out" | head -1) ;;
    *) u=$unit ;;
  esac
  [ -n "$a" ] && [ -n "$b" ] && [ -n "$u" ] || { echo "!no count"; return; }
  awk -v a="$a" -v b="$b" -v n="$n" -v u="$u" 'BEGIN { printf "%.2f\n", (b - a) / (n * u) }'
}

short() { git -C "$repo" log -1 --format='%h (%ad, %s)' --date=short "$1" | cut -c1-100; }
{
  echo "Base: $(short "$base_sha")"
  echo "New: $(short "$new_sha")"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs;" \
    "$(g++ --version | head -1), $(valgrind --version), Release (-O3 -DNDEBUG)."
  for side in base new; do
    sha=$base_sha; [ $side = new ] && sha=$new_sha
    if [ -s "$workdir/$sha/overlaid" ]; then
      echo "Drivers written for the $side's API (bench/compare/v$(version_of "$workdir/$sha/src")):" \
        "$(paste -sd, "$workdir/$sha/overlaid" | sed 's/,/, /g')."
    fi
  done
  echo
  echo "### Instructions per item (callgrind: (Ir(2N) - Ir(N)) / N)"
  echo
  echo "| line | base | new | new/base |"
  echo "|---|---|---|---|"
  while IFS='|' read -r name drv base_args new_args n unit; do
    [ -n "$name" ] || continue
    selected "$name" || continue
    n=$(awk -v n="$n" -v s="$scale" 'BEGIN { v = int(n * s); print v < 1 ? 1 : v }')
    key=$(printf '%s' "$name" | tr -c 'A-Za-z0-9_' '_')
    vals=()
    for side in base new; do
      args=$base_args; [ $side = new ] && args=$new_args
      if [ "$args" = - ]; then vals+=("!only in $( [ $side = base ] && echo new || echo base )")
      elif [ "${driver_state[$side:$drv]:-}" != ok ]; then vals+=("!driver ${driver_state[$side:$drv]:-not built}")
      else vals+=("$(per_item $side "$key" "$n" "$unit")"); fi
    done
    ratio=—
    case ${vals[0]}${vals[1]} in
      *!*) ;;
      *) ratio=$(awk -v a="${vals[0]}" -v b="${vals[1]}" 'BEGIN {
           r = b / a; printf(r > 1.03 ? "**%.3f**" : "%.3f", r) }') ;;
    esac
    printf '| %s | %s | %s | %s |\n' "$name" "${vals[0]#!}" "${vals[1]#!}" "$ratio"
  done <<<"$LINES"
} >"$results/report.md"

# ---- wall-time rounds ----
if [ "$wall_rounds" -gt 0 ]; then
  declare -A wall_ok
  for side in base new; do
    sha=$base_sha; [ $side = new ] && sha=$new_sha
    while IFS='|' read -r b _; do
      [ -n "$b" ] || continue
      build "$sha" "$b" && wall_ok[$side:$b]=1
    done <<<"$WALL"
  done
  for ((round = 1; round <= wall_rounds; ++round)); do
    for side in base new; do
      sha=$base_sha; [ $side = new ] && sha=$new_sha
      while IFS='|' read -r b filter; do
        [ -n "$b" ] && [ -n "${wall_ok[$side:$b]:-}" ] || continue
        log "wall round $round/$wall_rounds: $side $b"
        "$(bin_of "$sha" "$b")" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
          --benchmark_format=json >"$results/wall.$side.$b.$round.json" 2>/dev/null ||
          log "$side $b round $round failed"
      done <<<"$WALL"
    done
  done
  # name side round items_per_second, base names mapped to new ones
  for f in "$results"/wall.*.json; do
    [ -f "$f" ] || continue
    side=$(basename "$f" | cut -d. -f2); round=$(basename "$f" | cut -d. -f4)
    jq -r --arg s "$side" --arg r "$round" \
      '.benchmarks[]? | select(.run_type == "iteration" and (.error_occurred | not)) |
       "\(.name)\t\($s)\t\($r)\t\(.items_per_second // 0)"' "$f" 2>/dev/null
  done | awk -F'\t' -v renames="$RENAMES" -v lines_re="$lines_re" -v rounds="$wall_rounds" '
    BEGIN {
      n = split(renames, rows, "\n")
      for (i = 1; i <= n; ++i) if (split(rows[i], p, "=") == 2) map[p[1]] = p[2]
      OFS = " | "
    }
    function median(s, k,    v, m, i, j, t) {
      m = split(s, v, " ")
      for (i = 2; i <= m; ++i) for (j = i; j > 1 && v[j - 1] > v[j]; --j) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return m == 0 ? "" : (m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2)
    }
    function si(x) { return x >= 1e9 ? sprintf("%.2f G", x / 1e9) : x >= 1e6 ? sprintf("%.2f M", x / 1e6) : sprintf("%.0f k", x / 1e3) }
    {
      name = ($2 == "base" && ($1 in map)) ? map[$1] : $1
      if (lines_re != "" && name !~ lines_re) next
      if (!(name in seen)) { seen[name] = 1; order[++count] = name }
      v[name, $2, $3] = $4
    }
    END {
      print "### Wall time: items per second, median of " rounds " interleaved rounds (min..max), and the median of the per-round new/base ratios"
      print ""
      print "| line | base | new | new/base (min..max) |"
      print "|---|---|---|---|"
      for (i = 1; i <= count; ++i) {
        name = order[i]; bs = ""; ns = ""; rs = ""; bmin = bmax = nmin = nmax = rmin = rmax = ""
        for (r = 1; r <= rounds; ++r) {
          b = v[name, "base", r]; x = v[name, "new", r]
          if (b != "") { bs = bs " " b; if (bmin == "" || b < bmin) bmin = b; if (bmax == "" || b > bmax) bmax = b }
          if (x != "") { ns = ns " " x; if (nmin == "" || x < nmin) nmin = x; if (nmax == "" || x > nmax) nmax = x }
          if (b != "" && x != "" && b > 0) { q = x / b; rs = rs " " q; if (rmin == "" || q < rmin) rmin = q; if (rmax == "" || q > rmax) rmax = q }
        }
        bcol = bs == "" ? "only in new" : si(median(bs)) " (" si(bmin) ".." si(bmax) ")"
        ncol = ns == "" ? "only in base" : si(median(ns)) " (" si(nmin) ".." si(nmax) ")"
        rcol = rs == "" ? "—" : sprintf("%.3f (%.2f..%.2f)", median(rs), rmin, rmax)
        print "| " name, bcol, ncol, rcol " |"
      }
    }' >>"$results/report.md.wall"
  { echo; cat "$results/report.md.wall"; } >>"$results/report.md"
fi

echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)." >>"$results/report.md"
cat "$results/report.md"
[ -z "$out" ] || cp "$results/report.md" "$out"
