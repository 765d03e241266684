#!/usr/bin/env python3
"""Turns the raw runs of bench/run_benchmarks.sh into bench/results.json and the table between
<!-- bench:begin --> and <!-- bench:end --> in docs/performance.md.

Raw input: one JSON object per line, {"entry", "side", "rep", "result"} where result is the
line a benchmark printed. Every entry of the output has name, ours, reference, unit, ratio (how
many times better ours is: reference/ours for times, ours/reference for rates), target, the
settings, and the individual runs. Medians over the repetitions.
"""
import argparse
import datetime
import json
import os
import platform
import statistics

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# name -> (what it measures, target ratio or None)
TRAIN = {
    "cifar_ours_online": ("KD training, paper's method, teacher online (resnet34 -> resnet9, 3x32x32)", 1.0),
    "cifar_ours_cached": ("KD training, paper's method, ours with cached teacher targets vs Python online", 1.4),
    "cifar_kd_online": ("vanilla KD (T = 4), teacher online", None),
    "cifar_kd_cached": ("vanilla KD, ours with cached teacher logits vs Python online", None),
    "cifar_student": ("student alone (CE), resnet9 3x32x32", None),
    "fmnist_ours_online": ("Fashion-MNIST demo case, paper's method, teacher online "
                           "(resnet18 w0.25 -> resnet9 w0.125, 1x28x28)", 1.0),
    "fmnist_ours_cached": ("Fashion-MNIST demo case as KD Studio runs it (targets cached, the "
                           "default without augmentation) vs the Python loop", 1.2),
    "fmnist_student": ("Fashion-MNIST student alone (resnet9 w0.125)", None),
    "fmnist_ours_online_1thread": ("scaling: Fashion-MNIST paper's method online, 1 thread", None),
    "cifar_ours_online_bf16": ("GPU, bf16 autocast: paper's method, teacher online", 1.0),
    "cifar_ours_cached_bf16": ("GPU, bf16 autocast: ours cached vs Python online", 1.3),
}
# On the GPU (issue 17): the paper's method at least 1.5x PyTorch eager, online and cached, fp32
# and bf16; and at least 1.0x torch.compile (COMPILE_TARGET, the rows "... vs torch.compile").
GPU_TARGETS = {"cifar_ours_online": 1.5, "cifar_ours_cached": 1.5,
               "cifar_ours_online_bf16": 1.5, "cifar_ours_cached_bf16": 1.5}
COMPILE_TARGET = 1.0
LOADER = {
    "loader_cifar": ("data loading with augmentation, 3x32x32, vs the fastest trainer at that size", "cifar_", 5.0),
    "loader_fmnist": ("data loading with augmentation, 1x28x28, vs the fastest trainer at that size", "fmnist_", 5.0),
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def runs_of(raw, entry, side):
    return [r["result"] for r in raw if r["entry"] == entry and r["side"] == side
            and "error" not in r["result"]]


def train_settings(runs):
    if not runs:
        return {}
    r = runs[0]
    keys = ("method", "teacher", "student", "batch", "cache", "augment", "threads", "device", "bf16", "images",
            "warmup_steps", "measured_steps", "teacher_layers", "student_layers")
    return {k: r[k] for k in keys if k in r}


def entry(name, what, ours, reference, unit, higher_better, target, settings, ours_runs, ref_runs):
    ratio = None
    if ours and reference:
        ratio = ours / reference if higher_better else reference / ours
    return {"name": name, "what": what, "ours": ours, "reference": reference, "unit": unit,
            "ratio": ratio, "target": target,
            "met": None if target is None or ratio is None else ratio >= target,
            "settings": settings, "ours_runs": ours_runs, "reference_runs": ref_runs}


def compiled_entries(raw, name, what, ours, settings, ours_runs):
    """The same step against PyTorch's torch.compile (sides "compile:MODE", bench/run_benchmarks.sh
    --device cuda): one row per mode, with the compilation time apart and both sides' GPU memory."""
    rows = []
    modes = sorted({r["side"].split(":", 1)[1] for r in raw
                    if r["entry"] == name and r["side"].startswith("compile:")})
    for mode in modes:
        c = runs_of(raw, name, "compile:" + mode)
        cv = [x["images_per_second"] for x in c]
        s = dict(settings, reference_is=f"PyTorch, torch.compile(mode='{mode}')",
                 compile_seconds=median([x.get("compile_seconds") for x in c]))
        e = entry(f"{name} vs compile {mode}", f"{what}, vs torch.compile {mode}", ours, median(cv),
                  "images/s", True, COMPILE_TARGET, s, ours_runs, cv)
        e["peak_gpu_mib"] = {"ours": None, "reference": median([x.get("peak_gpu_mib") for x in c])}
        e["measured"] = f"compilation {s['compile_seconds']:.0f} s apart" if s["compile_seconds"] else None
        rows.append(e)
    return rows


def build_entries(raw, gpu=False):
    out = []
    names = []
    for r in raw:
        if r["entry"] not in names:
            names.append(r["entry"])
    ours_rate = {}
    for name in names:
        o, ref = runs_of(raw, name, "ours"), runs_of(raw, name, "reference")
        if name in TRAIN or name.startswith("fmnist_epoch_"):
            epoch = name.startswith("fmnist_epoch_")
            key = "epoch_seconds" if epoch else "images_per_second"
            ov = [x[key] for x in o]
            rv = [x[key] for x in ref]
            if epoch:
                what, target = f"scaling: time per epoch, {name.split('_')[-1]} images, Fashion-MNIST paper's method online", None
            else:
                what, target = TRAIN[name]
                if gpu:
                    target = GPU_TARGETS.get(name, target)
                ours_rate[name] = median(ov)
            s = train_settings(o)
            if ref:
                s["reference_torch"] = ref[0].get("torch")
            e = entry(name, what, median(ov), median(rv), "s/epoch" if epoch else "images/s",
                      not epoch, target, s, ov, rv)
            # CPU time per image over the measured steps (all threads; less sensitive to other
            # load on the machine than wall time, but includes OpenMP spin-waiting).
            if gpu:
                e["peak_gpu_mib"] = {"ours": median([x.get("peak_gpu_mib") for x in o]),
                                     "reference": median([x.get("peak_gpu_mib") for x in ref])}
            e["cpu_seconds_per_image"] = {
                "ours": median([x.get("cpu_seconds_per_image") for x in o]),
                "reference": median([x.get("cpu_seconds_per_image") for x in ref])}
            out.append(e)
            if gpu and not epoch:
                out.extend(compiled_entries(raw, name, what, median(ov), s, ov))
    for name, (what, prefix, target) in LOADER.items():
        o = runs_of(raw, name, "ours")
        if not o:
            continue
        ov = [x["images_per_second"] for x in o]
        consumers = {k: v for k, v in ours_rate.items()
                     if k.startswith(prefix) and "1thread" not in k and v}
        fastest = max(consumers, key=consumers.get) if consumers else None
        s = {k: o[0][k] for k in ("student", "batch", "augment", "workers", "threads", "measured_batches")}
        s["reference_is"] = f"ours, {fastest} (images/s the trainer consumes)" if fastest else None
        out.append(entry(name, what, median(ov), consumers.get(fastest), "images/s", True, target, s, ov,
                         []))
    g_on, g_off = runs_of(raw, "geometry_tracking", "ours"), runs_of(raw, "geometry_tracking", "reference")
    if g_on and g_off:
        ov = [x["geometry_snapshot_seconds"] for x in g_on]
        rv = [x["epoch_seconds"] for x in g_off]
        s = train_settings(g_on)
        s["reference_is"] = "one epoch of the same training without tracking (ratio = epoch / snapshot; 20 = 5 %)"
        e = entry("geometry_tracking", f"geometry tracking: one snapshot (500-image probe) against one epoch of "
                  f"{g_on[0].get('images')} Fashion-MNIST-size images", median(ov), median(rv), "s", False,
                  20.0, s, ov, rv)
        out.append(e)
    a_ours, a_naive = runs_of(raw, "analysis", "ours"), runs_of(raw, "analysis", "naive")
    if a_ours and a_naive:
        s = {k: a_ours[0][k] for k in ("model", "sample_a", "sample_b", "threads")}
        s["reference_is"] = "the naive store-every-layer analysis (bench/run_analysis_bench.sh)"
        for key, unit, what in (("seconds", "s", "layer analysis time (streaming vs naive)"),
                                ("peak_rss_mb", "MB", "layer analysis peak RSS (streaming vs naive)")):
            ov, rv = [x[key] for x in a_ours], [x[key] for x in a_naive]
            out.append(entry(f"analysis_{key}", what, median(ov), median(rv), unit, False, None, s, ov, rv))
    gui = runs_of(raw, "gui", "ours")
    if gui:
        g = gui[-1]
        s = {"reference_is": "the target (a ceiling), not a measurement", "replot_points": g.get("replot_points")}
        for phase in ("analysis", "training"):
            for stat, ceiling in (("p99_ms", 20.0), ("max_ms", 100.0)):
                out.append(entry(f"gui_{phase}_{stat}", f"GUI timer gap while the {phase} runs ({stat[:-3]})",
                                 g[phase][stat], ceiling, "ms", False, 1.0, s, [g[phase][stat]], []))
        for kind in ("line", "scatter"):
            v = g[f"replot_{kind}_ms"]
            out.append(entry(f"gui_replot_{kind}", f"replot of {g.get('replot_points')} points, {kind}",
                             v, None, "ms", False, None, s, [v], []))
    return out


def checks_of(raw):
    """The loss checks: {config_method: {"agree", "max_relative_difference"}}."""
    return {r["side"]: {"agree": r["result"].get("agree", False),
                        "max_relative_difference": r["result"].get("max_relative_difference")}
            for r in raw if r["entry"] == "check"}


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": list(os.getloadavg()),
            "system": platform.platform()}


def fmt(v, unit):
    if v is None:
        return ""
    if unit in ("images/s", "MB"):
        return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def table(results):
    lines = []
    if results.get("label"):
        lines.append(f"**{results['label']}**")
        lines.append("")
    m = results["machine"]
    lines.append(f"Mode `{results['mode']}`, {results['reps']} repetition(s) per comparison (medians), "
                 f"{results['threads']} thread(s) on both sides, {results['generated']}, {m['cpu']} "
                 f"({m['cores']} cores, load average at the end {m['load_average'][0]:.1f}); the suite took "
                 f"{results['wall_seconds']} s.")
    if results.get("merged_from"):
        o = results["merged_from"]
        lines.append(f"Rows marked with a date come from the earlier run of {o['generated']} (mode "
                     f"`{o['mode']}`, {o['reps']} repetition(s), {o['wall_seconds']} s); this run "
                     f"measured the others.")
    checks = results.get("loss_checks") or {}
    if checks:
        ok = all(c["agree"] for c in checks.values())
        worst = max((c["max_relative_difference"] or 0) for c in checks.values())
        lines.append("")
        lines.append(f"Loss check ({', '.join(sorted(checks))}): the reference computes the same losses as "
                     f"ours for the same weights and batch: {'yes' if ok else 'NO'} (largest relative "
                     f"difference {worst:.1e}).")
    lines.append("")
    lines.append("| entry | what | ours | reference | unit | ratio | target |")
    lines.append("|---|---|---|---|---|---|---|")
    for e in results["entries"]:
        ratio = f"{e['ratio']:.2f}x" if e["ratio"] is not None else ""
        target = ""
        if e["target"] is not None:
            target = f">= {e['target']:.1f}x" + ("" if e["met"] is None else (" (met)" if e["met"] else " (not met)"))
        notes = [e["measured"]] if e.get("measured") else []
        mib = e.get("peak_gpu_mib") or {}
        if mib.get("ours") or mib.get("reference"):
            side = lambda v: f"{v:.0f} MiB" if v else "-"  # noqa: E731
            notes.append(f"peak GPU memory {side(mib.get('ours'))} / {side(mib.get('reference'))}")
        what = e["what"] + (f" ({'; '.join(notes)})" if notes else "")
        lines.append(f"| `{e['name']}` | {what} | {fmt(e['ours'], e['unit'])} | "
                     f"{fmt(e['reference'], e['unit'])} | {e['unit']} | {ratio} | {target} |")
    return "\n".join(lines) + "\n"


def merge(results, path):
    """Keeps the entries of the results file at `path` that `results` lacks, in their order."""
    with open(path) as f:
        old = json.load(f)
    new = {e["name"]: e for e in results["entries"]}
    merged = []
    for e in old["entries"]:
        if e["name"] in new:
            merged.append(new.pop(e["name"]))
        else:
            e.setdefault("measured", old["generated"])
            merged.append(e)
    merged.extend(new.values())
    results["entries"] = merged
    results["merged_from"] = {"generated": old["generated"], "mode": old["mode"], "reps": old["reps"],
                              "wall_seconds": old["wall_seconds"]}
    for name, check in (old.get("loss_checks") or {}).items():
        results["loss_checks"].setdefault(name, check)


def update_doc(path, text):
    with open(path) as f:
        doc = f.read()
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n## Benchmark suite\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--wall", type=int, default=0)
    ap.add_argument("--label", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--merge", help="an earlier results file: its entries that this run did not "
                    "measure are kept (marked with their own date in the table)")
    args = ap.parse_args()
    with open(args.raw) as f:
        raw = [json.loads(line) for line in f if line.strip()]
    results = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "mode": args.mode, "reps": args.reps, "threads": args.threads, "device": args.device,
               "wall_seconds": args.wall, "label": args.label, "machine": machine(),
               "loss_checks": checks_of(raw),
               "entries": build_entries(raw, gpu=args.device.startswith("cuda"))}
    if args.merge and os.path.exists(args.merge):
        merge(results, args.merge)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    text = table(results)
    print(text, end="")
    if args.doc:
        update_doc(args.doc, text)


if __name__ == "__main__":
    main()
