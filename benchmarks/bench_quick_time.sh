#!/bin/bash
# Wall time of `aioh5saver bench --quick` with two source trees, interleaved (A/B):
#   benchmarks/bench_quick_time.sh BEFORE_SRC AFTER_SRC [ROUNDS] [FOLDER]
# Each run's output goes to FOLDER/bq-{before,after}-ROUND.txt; one line per run on stdout,
# with the load average just before it (the machine may be shared).
set -u
before=$(realpath "$1"); after=$(realpath "$2"); rounds=${3:-3}; folder=${4:-tmp}
mkdir -p "$folder" && cd "$folder" || exit 1
for round in $(seq "$rounds"); do
  for side in before after; do
    if [ "$side" = before ]; then src=$before; else src=$after; fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    PYTHONPATH=$src python -m aioh5saver bench --quick --out "bq-$side" > "bq-$side-$round.txt" 2>&1
    status=$?
    end=$(date +%s.%N)
    echo "round $round $side status=$status wall=$(echo "$end - $start" | bc) s load=$load"
  done
done
