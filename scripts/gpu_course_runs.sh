#!/usr/bin/env bash
# The course recipe, uncut, on one lent GPU: the table (vanilla, synthesizer, Perceiver), vanilla with
# another seed, and vanilla with salient span masking, all five pretrainings side by side. A device call
# lasts at most 10 minutes, so `start` detaches the runs (setsid) and later calls look in on them.
#
#   bash scripts/gpu_course_runs.sh start DATA_DIR   # launch (returns at once)
#   bash scripts/gpu_course_runs.sh status           # each pretraining's last logged step
#   bash scripts/gpu_course_runs.sh collect OUT      # tables, run records, vanilla models -> OUT/*.tar
#
# Each run is `scripts/reproduce_cs224n.py --recipe cs224n --pretrain_minutes 0 --finetune_minutes 0`
# (the course's 650 epochs, then its finetuning and dev evaluation) and writes its own table:
# cs224n_gpu (the three variants), cs224n_gpu_seed1, cs224n_gpu_salient, under runs/gpu/results/.
# Not under results/: each device call re-sends the working tree, which puts the committed
# results/ files back over the new ones (it did, once); ignored folders such as runs/ stay.
# Copy the collected tables into results/ on this machine. EXTRA="--max_steps 3": a dry run.
set -euo pipefail
W=runs/gpu
what=${1:?start, status or collect}

run() {  # name, then reproduce_cs224n.py flags
    local name=$1
    shift
    setsid nohup python3 scripts/reproduce_cs224n.py --data_dir "$DATA" --recipe cs224n \
        --pretrain_minutes 0 --finetune_minutes 0 --work_dir "$W/$name" "$@" \
        >"$W/$name.log" 2>&1 </dev/null &
}

case $what in
start)
    DATA=${2:?data directory}
    mkdir -p "$W/results"
    export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
    run table --jobs 3 --output "$W/results/cs224n_gpu" -- ${EXTRA:-}
    run seed1 --variants vanilla --output "$W/results/cs224n_gpu_seed1" -- --seed 1 ${EXTRA:-}
    run salient --variants vanilla --output "$W/results/cs224n_gpu_salient" -- --salient_spans 1.0 ${EXTRA:-}
    sleep 2
    echo "started: $(ls "$W"/*.log | tr '\n' ' ')"
    ;;
status)
    for f in "$W"/*/*_pretrain/metrics.jsonl; do
        [ -f "$f" ] && echo "$f $(tail -n 1 "$f")"
    done
    for f in "$W"/*.log; do
        echo "== $f"
        tail -c 400 "$f" | tr '\r' '\n' | tail -n 3
    done
    ;;
collect)
    OUT=${2:?output folder}
    mkdir -p "$OUT"
    # tables, logs and run records (no weights) in one archive
    tar -cf "$OUT/records.tar" "$W"/results "$W"/*.log \
        $(find "$W" -name run_info.json -o -name metrics.jsonl -o -name '*.log' \
            -o -name dev_predictions.txt -o -name eval_results.json | grep -v '^runs/gpu/[a-z0-9]*\.log$')
    # the pretrained vanilla models, for storage probes on the CPU machine (one archive each)
    for d in "$W"/*/vanilla_pretrain/model; do
        name=$(echo "$d" | cut -d/ -f3)
        [ -d "$d" ] && tar -cf "$OUT/${name}_vanilla_pretrain_model.tar" "$d"
    done
    ls -la "$OUT"
    ;;
*)
    echo "unknown: $what" >&2
    exit 2
    ;;
esac
