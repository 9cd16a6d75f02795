#!/usr/bin/env bash
# A queue of 4 runs through a real one-node Slurm (tests/slurm/cluster.sh): submitted as one job array, one
# task requeued mid-run (SIGTERM → checkpoint → requeue → resume), merged back and compared with the same
# runs trained here; and the faults: no sbatch, sbatch refusing, an unwritable shards folder, truncated /
# corrupt / foreign shards, a task that fails. Exit 77 (ctest: skipped) where no cluster can start here.
#   test_slurm.sh PEFTWB
set -uo pipefail
peftwb=$(realpath "${1:?path of peftwb}")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/peftwb-slurm.XXXXXX)
chmod 755 "$tmp"
started=0
cleanup() {
    [ "$started" = 1 ] && "$here/cluster.sh" stop "$tmp/cluster"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0)) s] $*"; }
fail() {
    echo "FAIL: $*"
    for f in "$tmp"/shards/logs/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    [ -f "$tmp/cluster/log/slurmctld.log" ] && { echo "--- slurmctld.log"; tail -n 20 "$tmp/cluster/log/slurmctld.log"; }
    exit 1
}
expect_fail() {  # expect_fail "what" PATTERN command…: non-zero exit and PATTERN in its output
    local what=$1 pattern=$2; shift 2
    local out
    if out=$("$@" 2>&1); then fail "$what: succeeded, expected a refusal"; fi
    echo "$out" | grep -q -- "$pattern" || fail "$what: expected '$pattern' in: $out"
    say "refused as expected ($what): $(echo "$out" | grep -m1 -- "$pattern")"
}
statuses() { "$peftwb" project runs "$1" --json | grep -o '"status":"[a-z]*"' | cut -d'"' -f4 | sort | uniq -c | tr -s ' ' | tr '\n' ';'; }

if ! env_line=$("$here/cluster.sh" start "$tmp/cluster" 2>"$tmp/cluster.err"); then
    rc=$?
    if [ $rc -eq 77 ]; then
        echo "SKIPPED: $(cat "$tmp/cluster.err")"
        exit 77
    fi
    cat "$tmp/cluster.err"
    fail "cluster.sh start failed ($rc)"
fi
started=1
export "$env_line"
export PATH="$PATH:/usr/sbin"
say "one-node Slurm up ($env_line)"

cd "$tmp"
p=$tmp/p.peftproj
"$peftwb" project new "$p" >/dev/null || fail "project new"
"$peftwb" project queue "$p" --preset lora,bitfit,prefix,pa-ffn --task sentiment --steps 160 --seed 7 >/dev/null ||
    fail "project queue"
cp "$p" "$tmp/local.peftproj"
before=$(statuses "$p")

# --- faults at submission: each refused, the project unchanged, nothing left behind ---------------------
expect_fail "no sbatch" "not found on PATH" env PEFTWB_SBATCH=no-such-sbatch "$peftwb" slurm submit --project "$p" --shards "$tmp/s1"
expect_fail "sbatch refusing a partition" "refused the job" "$peftwb" slurm submit --project "$p" --shards "$tmp/s2" --partition nosuchpartition
expect_fail "a bad time limit" "--time" "$peftwb" slurm submit --project "$p" --shards "$tmp/s3" --time 1:2:3:4
touch "$tmp/afile"
expect_fail "an unwritable shards folder" "cannot create the folder" "$peftwb" slurm submit --project "$p" --shards "$tmp/afile/shards"
[ "$(statuses "$p")" = "$before" ] || fail "a refused submission changed the project: $(statuses "$p")"
for d in s1 s2 s3; do [ -e "$tmp/$d" ] && fail "a refused submission left $tmp/$d behind"; done

# --- submit ---------------------------------------------------------------------------------------------
out=$("$peftwb" slurm submit --project "$p" --shards "$tmp/shards" --cpus-per-task 1 2>&1) || fail "submit: $out"
job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
say "submitted job $job"
[ "$(statuses "$p")" = " 4 submitted;" ] || fail "runs not submitted: $(statuses "$p")"

# --- preempt task 1 mid-run: requeue it (Slurm sends SIGTERM), then let it start again at once -------------
shard1=$tmp/shards/task-1.peftproj
step=0
for _ in $(seq 600); do
    step=$("$peftwb" project runs "$shard1" --json 2>/dev/null | grep -o '"steps_done":[0-9]*' | cut -d: -f2)
    [ "${step:-0}" -ge 40 ] && break
    sleep 0.2
done
[ "${step:-0}" -ge 40 ] || fail "task 1 did not reach step 40"
[ "$step" -lt 160 ] || fail "task 1 finished before it could be preempted"
scontrol requeue "${job}_1" || fail "scontrol requeue"
say "requeued task ${job}_1 at step $step"
for _ in $(seq 300); do
    st=$(squeue -h -j "${job}_1" -o %T 2>/dev/null)
    [ "$st" = PENDING ] && break
    sleep 0.2
done
scontrol update JobId="${job}_1" StartTime=now >/dev/null 2>&1 || true  # requeued tasks wait ~2 min otherwise

# --- wait for the array ------------------------------------------------------------------------------------
for _ in $(seq 900); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
    sleep 0.5
done
[ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && say "job $job done" || fail "job $job still in the queue after 450 s"
grep -q "resuming from its checkpoint of step" "$tmp/shards/logs/task-${job}_1.log" ||
    fail "the requeued task did not resume from a checkpoint"
resumed=$(sed -n 's/.*resuming from its checkpoint of step \([0-9]*\).*/\1/p' "$tmp/shards/logs/task-${job}_1.log")
[ "$resumed" -gt 0 ] || fail "resumed from step 0"
say "task 1 resumed from its checkpoint of step $resumed"

# --- merge, twice ------------------------------------------------------------------------------------------
"$peftwb" project merge "$p" --shards "$tmp/shards" || fail "merge"
again=$("$peftwb" project merge "$p" --shards "$tmp/shards") || fail "merge again"
echo "$again" | grep -q "merged [1-9]" && fail "a second merge changed runs: $again"
[ "$(statuses "$p")" = " 4 finished;" ] || fail "not every run finished: $(statuses "$p")"

# --- the same runs here, one thread each as the tasks had ---------------------------------------------------
"$peftwb" project run "$tmp/local.peftproj" --parallel 2 --threads 2 >/dev/null || fail "local runs"
for run in 1 2 3 4; do
    a=$("$peftwb" project show "$p" --run $run --json | grep -o '"best_metric":[^,}]*')
    b=$("$peftwb" project show "$tmp/local.peftproj" --run $run --json | grep -o '"best_metric":[^,}]*')
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "run $run: cluster $a, here $b"
done
say "every run's best dev metric equals the same run trained here"
# The requeued run's curve: one point per logged step, in order, equal to the uninterrupted run's.
"$peftwb" project metrics "$p" --run 2 --name loss > "$tmp/cluster-loss.txt"
"$peftwb" project metrics "$tmp/local.peftproj" --run 2 --name loss > "$tmp/local-loss.txt"
cmp -s "$tmp/cluster-loss.txt" "$tmp/local-loss.txt" || {
    diff "$tmp/cluster-loss.txt" "$tmp/local-loss.txt" | head
    fail "the requeued run's loss curve differs from the uninterrupted one"
}
say "the requeued run's loss curve ($(wc -l < "$tmp/cluster-loss.txt") lines) equals the uninterrupted run's"

# --- hostile shards: merge skips each with the reason, merges the rest, the project stays whole ------------
head -c 9000 "$tmp/shards/task-0.peftproj" > "$tmp/truncated.peftproj"
cp "$tmp/shards/task-2.peftproj" "$tmp/corrupt.peftproj"
size=$(stat -c %s "$tmp/corrupt.peftproj")
dd if=/dev/urandom of="$tmp/corrupt.peftproj" bs=1 seek=$((size / 2)) count=4096 conv=notrunc status=none
q=$tmp/other.peftproj
"$peftwb" project new "$q" >/dev/null && "$peftwb" project queue "$q" --preset bitfit --task sentiment --steps 5 >/dev/null
"$peftwb" slurm submit --project "$q" --shards "$tmp/other-shards" --cpus-per-task 1 >/dev/null || fail "submit other"
out=$("$peftwb" project merge "$p" "$tmp/truncated.peftproj" "$tmp/corrupt.peftproj" \
    "$tmp/other-shards/task-0.peftproj" "$tmp/shards/task-3.peftproj" 2>&1) && fail "merge of bad shards succeeded: $out"
echo "$out"
[ "$(echo "$out" | grep -c '^skipped ')" = 3 ] || fail "expected 3 shards skipped"
echo "$out" | grep -q "another project" || fail "the foreign shard was not named as such"
echo "$out" | grep -q "task-3.peftproj: merged 0, unchanged 1" || fail "the good shard was not read"
[ "$(statuses "$p")" = " 4 finished;" ] || fail "bad shards changed the project: $(statuses "$p")"

# --- a task that fails: its data file is gone when it runs --------------------------------------------------
printf 'sentence\tlabel\n' > "$tmp/data.tsv"
for i in $(seq 40); do printf 'the film was good %d\t1\nthe film was bad %d\t0\n' "$i" "$i" >> "$tmp/data.tsv"; done
"$peftwb" project import "$p" --data "$tmp/data.tsv" >/dev/null || fail "import"
ds=$("$peftwb" project info "$p" --json | grep -o '"datasets":[0-9]*' | cut -d: -f2)
"$peftwb" project queue "$p" --preset bitfit --dataset "$ds" --steps 5 >/dev/null || fail "queue on the file"
mv "$tmp/data.tsv" "$tmp/data-moved.tsv"
"$peftwb" slurm submit --project "$p" --shards "$tmp/shards-fail" --cpus-per-task 1 >/dev/null || fail "submit failing"
for _ in $(seq 300); do
    [ -z "$(squeue -h -u root -n peftwb-p 2>/dev/null)" ] && break
    sleep 0.2
done
"$peftwb" project merge "$p" --shards "$tmp/shards-fail" >/dev/null
row=$("$peftwb" project show "$p" --run 5 --json)
echo "$row" | grep -q '"status":"failed"' || fail "the failed task's run is not failed: $row"
echo "$row" | grep -q "its log: $tmp/shards-fail/logs/task-" || fail "the failed run does not name its log: $row"
say "a failed task's run is failed, with its log"

"$peftwb" slurm status --project "$p" || fail "status"
say "passed"
