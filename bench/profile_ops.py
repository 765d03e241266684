#!/usr/bin/env python3
"""Where a training run's time goes, operator by operator.

Reads the trace of `kdstudio-bench-train --mode train --profile FILE` or of
`bench/reference_train.py --profile FILE` and prints, per ATen operator, its self time (its
duration less that of the operators it called) per training step, and its calls per step:

    bench/profile_ops.py ours.json --steps 33 [--top 25] [--shapes aten::convolution_backward]

--steps is warm-up plus measured steps (the profile covers the whole run). Profiling slows both
sides, and unevenly: compare operators, not the total, with bench/run_benchmarks.sh's figures.
"""
import argparse
import collections
import json


def load(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def self_times(events):
    """{name: (self microseconds, calls)}; nesting found per thread from start and duration."""
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e.get("tid")].append(e)
    own = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        children = collections.Counter()
        for i, e in enumerate(evs):
            while stack and evs[stack[-1]]["ts"] + evs[stack[-1]]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                children[stack[-1]] += e["dur"]
            stack.append(i)
        for i, e in enumerate(evs):
            own[e["name"]] += e["dur"] - children[i]
            calls[e["name"]] += 1
    return own, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=float, required=True, help="training steps the trace covers")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--shapes", help="break this operator down by input shapes (ours only)")
    args = ap.parse_args()
    events = load(args.trace)
    if args.shapes:
        total = collections.Counter()
        count = collections.Counter()
        for e in events:
            if e["name"] == args.shapes:
                total[e.get("shapes", "")] += e["dur"]
                count[e.get("shapes", "")] += 1
        for key, us in total.most_common(args.top):
            print(f"{us / 1000 / args.steps:8.2f} ms/step {count[key] / args.steps:5.1f}/step  {key}")
        return
    own, calls = self_times(events)
    print(f"{'operator':<50} {'ms/step':>8} {'calls/step':>10}")
    for name, us in own.most_common(args.top):
        print(f"{name[:50]:<50} {us / 1000 / args.steps:8.2f} {calls[name] / args.steps:10.1f}")


if __name__ == "__main__":
    main()
