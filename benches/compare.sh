#!/usr/bin/env bash
# Measure tpdb's real work against the reference a user would reach for, in the same run.
#
#   bash benches/compare.sh [--scales "1 10 40"] [--runs 5] [--out DIR]
#
# rates: `tpdb rates preview --format csv` end to end (process start, config, permission
# checks on every node, the EDW GROUP BY, GP and current rates, decimal finishing, CSV out)
# against the sqlite3 CLI running the very same aggregate statement on the same EDW file
# (printed by `tpdb rates preview --print-query`), CSV to /dev/null. Scale 1 = 100,000
# labor rows. Each figure is the median of --runs runs, alternating the two commands.
# Peak memory (max RSS) comes from /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

scales="1 10 40"
runs=5
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --scales) scales="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown argument $1; see the header of $0" >&2; exit 2 ;;
  esac
done

for tool in sqlite3 /usr/bin/time; do  # tmux is optional (startup to first frame)
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool is needed as the reference; install it (Debian: apt-get install sqlite3 time), then run again" >&2
    exit 2
  fi
done

cargo build --release --quiet
tpdb="$PWD/target/release/tpdb"
work="${out:-$(mktemp -d)}"
mkdir -p "$work"

now_ns() { date +%s%N; }

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-8s %10s %12s %12s %8s %12s %12s\n' scale rows "tpdb ms" "sqlite3 ms" ratio "tpdb MiB" "sqlite3 MiB"
for scale in $scales; do
  dir="$work/scale-$scale"
  "$tpdb" demo --dir "$dir" --scale "$scale" --setup-only 2>/dev/null
  cfg="$dir/tpdb.toml"
  sql="$("$tpdb" --config "$cfg" rates preview --print-query)"
  rows=$(sqlite3 "$dir/edw.db" 'SELECT COUNT(*) FROM "dbo.LaborHours"')
  # warm the page cache for both
  "$tpdb" --config "$cfg" rates preview --format csv >/dev/null 2>&1
  sqlite3 -csv "$dir/edw.db" "$sql" >/dev/null
  t_tpdb=(); t_ref=()
  for _ in $(seq "$runs"); do
    s=$(now_ns); "$tpdb" --config "$cfg" rates preview --format csv >/dev/null 2>&1; e=$(now_ns)
    t_tpdb+=($(( (e - s) / 1000 )))
    s=$(now_ns); sqlite3 -csv "$dir/edw.db" "$sql" >/dev/null; e=$(now_ns)
    t_ref+=($(( (e - s) / 1000 )))
  done
  mt=$(printf '%s\n' "${t_tpdb[@]}" | median)
  mr=$(printf '%s\n' "${t_ref[@]}" | median)
  rss_t=$(/usr/bin/time -f %M "$tpdb" --config "$cfg" rates preview --format csv 2>&1 >/dev/null | tail -1)
  rss_r=$(/usr/bin/time -f %M sqlite3 -csv "$dir/edw.db" "$sql" 2>&1 >/dev/null | tail -1)
  awk -v sc="$scale" -v n="$rows" -v t="$mt" -v r="$mr" -v mt="$rss_t" -v mr="$rss_r" 'BEGIN {
    printf "%-8s %10d %12.1f %12.1f %8.2f %12.1f %12.1f\n", sc, n, t/1000, r/1000, t/r, mt/1024, mr/1024 }'
done

# copy: `tpdb migrate run training --step copy` + `--step validate` of one table of N rows
# (sandbox → sandbox, checkpoints on) against the sqlite3 CLI doing ATTACH + INSERT INTO … SELECT
# of the same table into a fresh file. Throughput ratio = sqlite3 time / tpdb time. The table is
# clustered on its key (WITHOUT ROWID), as the sandbox keeps tables with a primary key.
# Reference 1 is the plain statement, which SQLite runs with its transfer optimisation (raw
# records, no decoding) because it has no WHERE, ORDER BY or LIMIT; reference 2 is the same copy
# in key order, as any keyset-batched copy must read it, which SQLite runs row by row.
# validate alone: a second `--step validate` against sqlite3 reading every column of both tables
# (one aggregate per table, so nothing is printed).
echo
printf '%-44s %10s %12s %12s %8s %10s\n' "migration (ratio = reference / tpdb)" rows "tpdb ms" "sqlite3 ms" ratio "tpdb MiB"
ddl='CREATE TABLE "dbo.Ledger" (entry_id INT NOT NULL PRIMARY KEY, site_id INT NOT NULL, memo NVARCHAR(100) NOT NULL, amount DECIMAL(12,2) NOT NULL) WITHOUT ROWID'
scan='SELECT COUNT(*), TOTAL(entry_id), TOTAL(site_id), TOTAL(LENGTH(memo)), TOTAL(amount) FROM "dbo.Ledger"'
for copy_rows in ${COPY_ROWS:-1000000 4000000}; do
  dir="$work/copy-$copy_rows"
  rm -rf "$dir"
  "$tpdb" demo --dir "$dir" --setup-only 2>/dev/null
  sqlite3 "$dir/node1.db" "$ddl; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $copy_rows)
    INSERT INTO \"dbo.Ledger\" SELECT i, i % 40 + 1, 'entry ' || i, (i % 997) + 0.25 FROM c;
    INSERT INTO \"sys.objects\" VALUES ('dbo', 'Ledger', 'U');"
  sed -i 's/^include = .*/include = ["dbo.Ledger"]/' "$dir/tpdb.toml"
  cfg="$dir/tpdb.toml"
  "$tpdb" --config "$cfg" migrate run training --step assessment >/dev/null
  s=$(now_ns)
  rss_copy=$(/usr/bin/time -f %M "$tpdb" --config "$cfg" migrate run training --step copy --yes 2>&1 >/dev/null | tail -1)
  rss_val=$(/usr/bin/time -f %M "$tpdb" --config "$cfg" migrate run training --step validate 2>&1 >/dev/null | tail -1)
  e=$(now_ns)
  t_copy=$(( (e - s) / 1000 ))
  ref_copy() {
    rm -f "$dir/ref.db"
    local s e
    s=$(now_ns)
    sqlite3 "$dir/ref.db" "ATTACH '$dir/node1.db' AS s; $ddl; INSERT INTO main.\"dbo.Ledger\" SELECT * FROM s.\"dbo.Ledger\"$1;"
    e=$(now_ns)
    echo $(( (e - s) / 1000 ))
  }
  t_ref=$(ref_copy "")
  t_ref_keyed=$(ref_copy " ORDER BY entry_id")
  t_val=(); t_scan=()
  for _ in $(seq "$runs"); do
    s=$(now_ns); "$tpdb" --config "$cfg" migrate run training --step validate >/dev/null 2>&1; e=$(now_ns)
    t_val+=($(( (e - s) / 1000 )))
    s=$(now_ns); sqlite3 "$dir/node1.db" "$scan" >/dev/null; sqlite3 "$dir/training.db" "$scan" >/dev/null; e=$(now_ns)
    t_scan+=($(( (e - s) / 1000 )))
  done
  mv=$(printf '%s\n' "${t_val[@]}" | median)
  ms=$(printf '%s\n' "${t_scan[@]}" | median)
  row() {
    awk -v what="$1" -v n="$copy_rows" -v t="$2" -v r="$3" -v m1="$rss_copy" -v m2="$rss_val" 'BEGIN {
      m = (m1 > m2 ? m1 : m2); printf "%-44s %10d %12.1f %12.1f %8.2f %10.1f\n", what, n, t/1000, r/1000, r/t, m/1024 }'
  }
  row "copy + validate vs INSERT … SELECT *" "$t_copy" "$t_ref"
  row "copy + validate vs … ORDER BY key" "$t_copy" "$t_ref_keyed"
  row "validate alone vs scanning both tables" "$mv" "$ms"
done

# startup to first frame: the TUI on the existing 100k demo in a 160×48 tmux window; the time is
# what tpdb logs when it has drawn its first frame (process start → frame on screen).
if command -v tmux >/dev/null 2>&1; then
  dir="$work/scale-$(echo "$scales" | awk '{print $1}')"
  frames=()
  for i in $(seq "$runs"); do
    rm -rf "$dir/logs"
    tmux new-session -d -s "tpdb-bench-$$" -x 160 -y 48 "$tpdb --config $dir/tpdb.toml"
    for _ in $(seq 100); do
      grep -qs "first frame drawn" "$dir"/logs/* && break
      sleep 0.05
    done
    tmux send-keys -t "tpdb-bench-$$" q
    sleep 0.3
    tmux kill-session -t "tpdb-bench-$$" 2>/dev/null || true
    frames+=("$(grep -hos 'first frame drawn ms=[0-9.]*' "$dir"/logs/* | head -1 | sed 's/.*ms=//')")
  done
  echo
  printf 'startup to first frame (median of %s): %s ms\n' "$runs" "$(printf '%s\n' "${frames[@]}" | median)"
else
  echo
  echo "startup to first frame: skipped, tmux is missing (Debian: apt-get install tmux)"
fi
if [ -z "$out" ]; then rm -rf "$work"; fi
