#!/usr/bin/env bash
# What a session lent one GPU runs, as it is, from the repository root, in about 8 minutes:
#
#   bash benchmarks/gpu.sh                     # on the GPU machine (python3 there has torch, pytest)
#   GPU_DRY_RUN=1 bash benchmarks/gpu.sh       # on a CPU: tiny runs, short limits (tests the script)
#
# 1. the speed benchmarks (ratios against the plain loop, timed on this GPU), each with a limit;
# 2. as many chapters' `full` profile as fit, each through the CLI with a limit, then that
#    chapter's acceptance tests on the very run (EMERGENCE_AUDIT_RUN: see tests/acceptance.py);
# 3. every chapter it tried gets a record (machine, date, wall time, status, acceptance) in
#    full_runs.json; `profile="auto"` picks `full` only where the status is "passed".
# It ends by printing what it could not finish.  Everything lands in $GPU_OUT (default: the
# device tool's $OUT, else _build/gpu): report.md, full_runs.json, logs.tar.gz.  Copy
# full_runs.json to emergence/experiments/ and the benchmark rows into benchmarks/README.md.
#
# Knobs: GPU_BUDGET_S (all chapters, default 330), GPU_BENCH_S (all benchmarks, default 150),
# GPU_CHAPTER_S (one chapter's run, default 240), GPU_CHAPTERS (names, in order), PYTHON.
set -u
cd "$(dirname "$0")/.."

DRY=${GPU_DRY_RUN:-0}
if [ "$DRY" = 1 ]; then
    PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
    BUDGET=${GPU_BUDGET_S:-60}; BENCH_BUDGET=${GPU_BENCH_S:-4}; CHAPTER_LIMIT=${GPU_CHAPTER_S:-20}
else
    PY=${PYTHON:-python3}
    BUDGET=${GPU_BUDGET_S:-330}; BENCH_BUDGET=${GPU_BENCH_S:-150}; CHAPTER_LIMIT=${GPU_CHAPTER_S:-240}
fi
# cheapest first (a guess: none has run on a GPU yet); mirage reads scaling_laws' full run
CHAPTERS=${GPU_CHAPTERS:-llc_validation grokking silent_alignment emergent_misalignment sparse_parity induction_heads scaling_laws mirage ghost_points icl_competition}
OUTDIR=${GPU_OUT:-${OUT:-_build/gpu}}
WORK=$(mktemp -d)
RECORDS=$OUTDIR/full_runs.json
export EMERGENCE_CACHE_DIR=$WORK/cache EMERGENCE_CACHE=1 EMERGENCE_PROGRESS=0 PYTHONUNBUFFERED=1
unset EMERGENCE_PROFILE
mkdir -p "$OUTDIR" "$WORK/logs" "$WORK/runs"
cp emergence/experiments/full_runs.json "$RECORDS"
UNFINISHED=()

# --- the machine ----------------------------------------------------------------------------
MACHINE=$($PY -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')")
if [ "$MACHINE" = cpu ] && [ "$DRY" != 1 ]; then
    echo "no CUDA GPU here: run with GPU_DRY_RUN=1 to test the script on a CPU"; exit 1
fi
[ "$DRY" = 1 ] && MACHINE="$MACHINE (dry run)"
echo "machine: $MACHINE; $($PY -c 'import torch; print("torch", torch.__version__)'); budget: benchmarks ${BENCH_BUDGET} s, chapters ${BUDGET} s"

# limited SECONDS CMD...: run CMD, killed after SECONDS; its exit status (124: out of time)
limited() { local s=$1; shift; timeout --kill-after=10 "$s" "$@"; }

# --- 1. benchmarks ----------------------------------------------------------------------------
bench() {   # bench NAME CAP ARGS...: one benchmark, within its cap and what is left of the budget
    local name=$1 cap=$2; shift 2
    local left=$((BENCH_BUDGET - SECONDS))
    if [ "$left" -lt 3 ]; then UNFINISHED+=("benchmark $name: not started, out of time"); return; fi
    local limit=$((cap < left ? cap : left))
    echo "== benchmark $name (limit ${limit} s)"
    limited "$limit" $PY "benchmarks/$name.py" "$@" >"$WORK/logs/bench-$name.log" 2>&1
    local rc=$?
    tail -n 12 "$WORK/logs/bench-$name.log"
    case $rc in
        0) ;;
        124|137) UNFINISHED+=("benchmark $name: out of time after ${limit} s") ;;
        *) UNFINISHED+=("benchmark $name: failed (exit $rc)") ;;
    esac
}
SECONDS=0
bench grokking_speed 60 --size both --ensembles 1 8 64 --seconds 3
bench llc_speed 90 --no-devinterp --threads 1
bench sparse_parity_speed 30 --steps 300
bench silent_alignment_speed 30
bench scaling_laws_speed 30 --seeds 2
bench emergent_misalignment_speed 30

# --- 2. full chapters -------------------------------------------------------------------------
tiny_sets() {   # the dry run's --set arguments: the chapter's tiny size from the smoke tests
    PYTHONPATH=tests $PY -c "
import sys; from test_full_profiles import TINY
for k, v in {**TINY.get(sys.argv[1], {}), 'device': 'cpu', 'threads': 1}.items():
    print('--set', k + '=' + (','.join(map(str, v)) if isinstance(v, tuple) else str(v)))" "$1"
}

record() {   # record NAME STATUS WALL LIMIT ACCEPTANCE COMMAND: the chapter's record in $RECORDS
    $PY - "$RECORDS" "$@" "$MACHINE" <<'EOF'
import datetime, json, sys, torch
import emergence
from emergence.cache import code_fingerprint
path, name, status, wall, limit, acceptance, command, machine = sys.argv[1:]
records = json.load(open(path))
records[name] = {"status": status, "machine": machine, "date": datetime.date.today().isoformat(),
                 "wall_seconds": round(float(wall), 1), "time_limit_seconds": int(limit),
                 "acceptance": acceptance, "torch": torch.__version__,
                 "emergence": f"{emergence.__version__} (code {code_fingerprint(name)[:12]})", "command": command.strip()}
json.dump(records, open(path, "w"), indent=1)
EOF
}

acceptance() {   # acceptance NAME LIMIT: the chapter's criteria on its full run -> "STATUS|TEXT"
    local name=$1 limit=$2 log=$WORK/logs/criteria-$1.jsonl
    EMERGENCE_UNIT_ONLY=0 EMERGENCE_AUDIT_RUN=$WORK/runs/$name EMERGENCE_CRITERIA_LOG=$log limited "$limit" \
        $PY -m pytest "tests/test_$name.py" -q -p no:cacheprovider -o addopts= --no-header -rN \
        >"$WORK/logs/acceptance-$name.log" 2>&1
    local rc=$?
    $PY - "$log" "$rc" <<'EOF'
import json, os, sys
path, rc = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines() if os.path.exists(path) else []
checks = [json.loads(line) for line in lines if line.endswith("}")]   # a killed test may leave half a line
failed = sorted({c["criterion"] for c in checks if not c["passed"]})
if rc in (124, 137) or not checks:
    print("ran|not evaluated: " + ("the tests ran out of time" if rc in (124, 137) else "no criterion was checked"))
elif failed:
    print(f"acceptance failed|{len(failed)} criteria failed: " + "; ".join(failed)[:400])
else:
    print(f"passed|all {len(checks)} checks of {len({c['criterion'] for c in checks})} criteria passed")
EOF
}

SECONDS=0
for name in $CHAPTERS; do
    left=$((BUDGET - SECONDS))
    if [ "$left" -lt 30 ]; then UNFINISHED+=("$name: not started, out of time"); continue; fi
    limit=$((CHAPTER_LIMIT < left ? CHAPTER_LIMIT : left))
    sets=(); [ "$DRY" = 1 ] && mapfile -t sets < <(tiny_sets "$name" | tr ' ' '\n')
    echo "== $name --profile full (limit ${limit} s)"
    started=$SECONDS
    limited "$limit" $PY -m emergence run "$name" --profile full ${sets[@]+"${sets[@]}"} --out "$WORK/runs/$name" \
        >"$WORK/logs/run-$name.log" 2>&1
    rc=$? wall=$((SECONDS - started))
    if [ $rc -eq 0 ]; then
        left=$((BUDGET - SECONDS)); [ "$left" -lt 10 ] && left=10
        result=$(acceptance "$name" $((left < 180 ? left : 180)))
        status=${result%%|*} text=${result#*|}
        [ -n "$status" ] || { status=ran text="not evaluated: the acceptance step failed"; }
        [ "$status" = passed ] || UNFINISHED+=("$name: $status ($text)")
    elif [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ $wall -ge "$limit" ]; }; then   # 137: killed after the grace
        status="timed out" text="not evaluated: the run took longer than ${limit} s"
        UNFINISHED+=("$name: out of time after ${limit} s")
    else
        status=failed text="not evaluated: the run crashed (exit $rc), see logs/run-$name.log"
        UNFINISHED+=("$name: crashed (exit $rc)"); tail -n 5 "$WORK/logs/run-$name.log"
    fi
    record "$name" "$status" "$wall" "$limit" "$text" "python -m emergence run $name --profile full ${sets[*]:-}"
    echo "   $status in ${wall} s: $text"
done

# --- 3. what it did and did not do ----------------------------------------------------------
[ "$DRY" = 1 ] || cp "$RECORDS" emergence/experiments/full_runs.json
$PY - "$RECORDS" "$MACHINE" >"$OUTDIR/report.md" <<'EOF'
import json, sys
records, machine = json.load(open(sys.argv[1])), sys.argv[2]
print(f"## `full` runs on {machine}\n\n| chapter | status | wall | limit | acceptance |\n|---|---|---|---|---|")
for name, r in records.items():
    if isinstance(r, dict) and r.get("machine") == machine:
        acceptance = r["acceptance"].replace("|", "\\|")      # a criterion may name |W - W0|
        print(f"| {name} | {r['status']} | {r['wall_seconds']:.0f} s | {r['time_limit_seconds']} s | {acceptance} |")
EOF
cat "$OUTDIR/report.md"
for name in $CHAPTERS; do [ -f "$WORK/runs/$name/summary.json" ] && cp "$WORK/runs/$name/summary.json" "$WORK/logs/summary-$name.json"; done
tar -czf "$OUTDIR/logs.tar.gz" -C "$WORK" logs
echo
if [ ${#UNFINISHED[@]} -eq 0 ]; then echo "finished everything"; else
    echo "not finished:"; printf '  %s\n' "${UNFINISHED[@]}"; fi
echo "records: $RECORDS; logs: $OUTDIR/logs.tar.gz"
rm -rf "$WORK"
