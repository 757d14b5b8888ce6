#!/usr/bin/env bash
# 5 A/A pairs of bench profile on one commit (60 s of samples per run), then one run under CPU load.
cd "$(git rev-parse --show-toplevel)"
PY=${PY:-python}
OUT=${OUT:-/tmp/speed-ab3}
rm -rf $OUT
B="--device cpu --inputs synthetic --sizes 256x256 --input-size 256 --iters 20 --min-time 60"
git rev-parse HEAD > $OUT.commit
for k in 1 2 3 4 5; do
  uptime
  $PY -m bench profile $B --out $OUT/pair$k/base 2>&1 | tail -1
  $PY -m bench profile $B --out $OUT/pair$k/cand 2>&1 | tail -1
  $PY -m bench compare $OUT/pair$k/cand --baseline $OUT/pair$k/base/*.json --out $OUT/pair$k/cmp > $OUT/pair$k.md 2>/dev/null
  echo "pair $k exit $?"
done
$PY -c 'while True: pass' & L1=$!
$PY -c 'while True: pass' & L2=$!
$PY -m bench profile $B --out $OUT/loaded 2>&1 | tail -1
kill $L1 $L2
$PY -m bench compare $OUT/loaded --baseline $OUT/pair1/base/*.json --out $OUT/loaded-cmp > $OUT/loaded.md 2>/dev/null
echo "loaded exit $?"
