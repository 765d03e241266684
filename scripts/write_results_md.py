#!/usr/bin/env python3
"""Writes docs/results.md (to stdout) from the run folders of scripts/make_results.sh.

Usage: python3 scripts/write_results_md.py RUNS_DIR CONFIG_DIR [STUDY_JSON STUDY_BASE] > docs/results.md
STUDY_JSON is `kdstudio-cli study report --json` of the layer-choice study, STUDY_BASE its base
experiment file.
Needs only the standard library: it reads result.json, resolved.json and the teacher analysis.
"""
import json
import os
import sys

ORDER = [
    ("student", "Student alone (cross entropy)"),
    ("kd", "Vanilla KD (Hinton, T = 4)"),
    ("fitnets", "FitNets-style 1x1 projectors + KD, standard layers"),
    ("sp", "Similarity-preserving + KD, standard layers"),
    ("ours-standard", "Ours (feature loss only, separate head), standard layers"),
    ("ours-q", "Ours, teacher layers chosen by Q"),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def find_runs(runs_dir):
    """Maps experiment name -> (result, resolved) for every finished run folder."""
    found = {}
    for entry in sorted(os.listdir(runs_dir)):
        folder = os.path.join(runs_dir, entry)
        result_path = os.path.join(folder, "result.json")
        if not os.path.isfile(result_path):
            continue
        result = load(result_path)
        resolved = load(os.path.join(folder, "resolved.json"))
        if result.get("complete"):
            found[resolved.get("name", "")] = (result, resolved, entry)
    return found


def pm(mean, std):
    return f"{mean:.2f} ± {std:.2f}"


def main():
    runs_dir, config_dir = sys.argv[1], sys.argv[2]
    runs = find_runs(runs_dir)
    analysis = load(os.path.join(runs_dir, "teacher-analysis.json"))
    first = next(iter(runs.values()))[1] if runs else {}
    out = []
    out.append("# Results on Fashion-MNIST\n")
    out.append("Produced by `scripts/make_results.sh` (which writes this file) from the configs in "
               "`experiments/fashion-mnist/`, with our own CLI. Every number below is the test "
               "top-1 accuracy in percent, mean ± standard deviation (numpy's, ddof 0) over "
               "3 seeds (0, 1, 2); *best* is the best epoch's, *last* the final epoch's.\n")
    out.append("## Setting\n")
    out.append(f"- Teacher: the bundled `{first.get('teacher', '?')}` "
               "(ResNet18 at width 0.25, trained by `resources/models/fashion-mnist-teacher.json`).")
    out.append(f"- Student: `{first.get('student', '?')}`.")
    out.append(f"- Data: Fashion-MNIST, a class-balanced {first.get('train_per_class', 0)} training "
               "images per class (seeded), the full 10,000-image test split; no augmentation, so "
               "the teacher's targets are cached once.")
    out.append(f"- Recipe (method.md section 6): AdamW, weight decay 0.01, one-cycle LR with "
               f"peak {first.get('lr', '?')}, batch {first.get('batch_size', '?')}, "
               f"{first.get('epochs', '?')} epochs (the paper trains 50 on CIFAR; this is a "
               "CPU-sized budget).")
    devices = sorted({r[0].get("device_description", "?") for r in runs.values()})
    out.append(f"- Device: {', '.join(devices)}; KD Studio {next(iter(runs.values()))[0]['versions']['kdstudio'] if runs else '?'}.\n")
    out.append("## Accuracy\n")
    out.append("| method | teacher layers | student layers | best | last | time per seed |")
    out.append("|---|---|---|---|---|---|")
    results = {}
    for key, title in ORDER:
        name = "fmnist-" + key
        if name not in runs:
            out.append(f"| {title} | | | not run | not run | |")
            continue
        r, resolved, folder = runs[name]
        results[key] = r
        t_layers = ", ".join(map(str, r.get("teacher_layers", []))) or "-"
        s_layers = ", ".join(map(str, r.get("student_layers", []))) or "-"
        secs = sum(s["seconds"] for s in r["seeds"]) / max(1, len(r["seeds"]))
        out.append(f"| {title} | {t_layers} | {s_layers} | "
                   f"{pm(r['best_test_acc_mean'], r['best_test_acc_std'])} | "
                   f"{pm(r['last_test_acc_mean'], r['last_test_acc_std'])} | {secs:.0f} s |")
    out.append("")
    out.append("## The teacher's layers\n")
    out.append(f"Knowledge quality of every generalized layer of the teacher (method.md section 2; "
               f"sample A {analysis['sample_a']}, sample B {analysis['sample_b']}, seed "
               f"{analysis['settings']['seed']}). Recommended (top 4 by Q): "
               f"{', '.join(map(str, analysis['recommended']))}.\n")
    out.append("| # | layer | shape | S | I | E | Q | NCC % |")
    out.append("|---|---|---|---|---|---|---|---|")
    for layer in analysis["layers"]:
        mark = " **(Q)**" if layer["index"] in analysis["recommended"] else ""
        shape = "x".join(map(str, layer["shape"]))
        def f(v):
            return "-" if v is None else f"{v:.4f}"
        ncc = layer.get("ncc_accuracy")
        out.append(f"| {layer['index']}{mark} | {layer['name']} | {shape} | {f(layer['S'])} | "
                   f"{f(layer['I'])} | {f(layer['E'])} | {f(layer['Q'])} | "
                   f"{'-' if ncc is None else f'{100 * ncc:.1f}'} |")
    out.append("")
    out.append("## Does the paper's claim hold here?\n")
    out.append(verdict(results, analysis))
    if len(sys.argv) > 4:
        out.append("")
        out.extend(study_section(load(sys.argv[3]), load(sys.argv[4])))
    print("\n".join(out))


def study_section(study, base):
    """The layer-choice study (docs/sweeps.md): accuracy of each teacher layer choice."""
    seeds = max((r["seeds"] for r in study["rows"]), default=0)
    out = ["## The layer-choice study\n",
           f"Made by `kdstudio-cli study layers --config experiments/fashion-mnist/layer-study.json` "
           f"(docs/sweeps.md): method `ours`, the student's standard layers, "
           f"{base['train_per_class']} training images per class, {base['epochs']} epochs, "
           f"{seeds} seeds per choice; the teacher's layers chosen by Q, by the standard lists, by "
           f"S, I, E and sqrt(I*E), and at random (seeded). Best test accuracy, mean ± std over "
           f"seeds, against the mean Q of the chosen teacher layers.\n",
           "| teacher layers | chosen | mean Q | seeds | best |", "|---|---|---|---|---|"]
    for r in study["rows"]:
        q = "-" if r["mean_q"] is None else f"{r['mean_q']:.4f}"
        acc = "-" if r["acc_mean"] is None else pm(r["acc_mean"], r["acc_std"])
        out.append(f"| {r['choice']} | {', '.join(map(str, r['layers']))} | {q} | {r['seeds']} | {acc} |")
    out.append("")
    rho = study["spearman"]
    out.append(f"Spearman's rank correlation between accuracy and mean Q over the "
               f"{len(study['rows'])} choices: {'undefined' if rho is None else f'{rho:.2f}'}. "
               + study["verdict"])
    done = [r for r in study["rows"] if r["layers"] and r["acc_mean"] is not None]
    if len(done) >= 3:
        deepest = spearman([max(r["layers"]) for r in done], [r["acc_mean"] for r in done])
        if deepest is not None:
            out.append("")
            out.append(f"For comparison, the rank correlation between accuracy and the deepest teacher "
                       f"layer a choice distils from (the one the student's head sits behind) is "
                       f"{deepest:.2f}.")
    return out


def spearman(x, y):
    """Spearman's rho with average ranks for ties; None when a side is constant."""
    def ranks(v):
        return [sum(w < a for w in v) + (sum(w == a for w in v) + 1) / 2 for a in v]
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / (sxx * syy) ** 0.5


def verdict(results, analysis):
    needed = ["student", "kd", "fitnets", "sp", "ours-standard", "ours-q"]
    if any(k not in results for k in needed):
        return "Not every experiment has finished; no verdict."
    last = {k: results[k]["last_test_acc_mean"] for k in needed}
    std = {k: results[k]["last_test_acc_std"] for k in needed}
    best_baseline = max(["kd", "fitnets", "sp"], key=lambda k: last[k])
    gain = last["ours-q"] - last[best_baseline]
    noise = std["ours-q"] + std[best_baseline]
    lines = [
        f"The paper claims that training the student's backbone with feature losses only, from "
        f"teacher layers chosen by Q, beats the logit-based approaches (up to +15 points on "
        f"CIFAR-100 and Tiny-ImageNet). Here, with last-epoch accuracies: Ours with Q-selected "
        f"layers {last['ours-q']:.2f}%, Ours with standard layers {last['ours-standard']:.2f}%, "
        f"the best logit-based baseline ({best_baseline}) {last[best_baseline]:.2f}%, the "
        f"student alone {last['student']:.2f}%.",
    ]
    if gain > noise:
        lines.append(f"Ours leads the best baseline by {gain:.2f} points, more than the seeds' "
                     f"spread ({noise:.2f}): the claim holds in direction on this small task.")
    elif gain < -noise:
        lines.append(f"Ours trails the best baseline by {-gain:.2f} points, more than the seeds' "
                     f"spread ({noise:.2f}): on this task and budget the claim does not hold.")
    else:
        lines.append(f"The difference ({gain:+.2f} points) is within the seeds' spread "
                     f"({noise:.2f}): on this task the methods are indistinguishable, so the "
                     "claim is neither confirmed nor refuted here.")
    top = max(needed, key=lambda k: last[k])
    d = last["ours-standard"] - last[best_baseline]
    spread = std["ours-standard"] + std[best_baseline]
    where = "ahead of" if d > spread else ("behind" if d < -spread else "within the seeds' spread of")
    lines.append(f"The best of the six is {top} ({last[top]:.2f}%); the feature-only training "
                 f"itself, on the standard layers, is {d:+.2f} points from the best baseline, "
                 f"{where} it.")
    q_gain = last["ours-q"] - last["ours-standard"]
    lines.append(f"Choosing the teacher's layers by Q instead of the standard ones changes Ours by "
                 f"{q_gain:+.2f} points.")
    ncc = {l["index"]: l.get("ncc_accuracy") for l in analysis["layers"]}
    q_deep = max(results["ours-q"].get("teacher_layers", [0]))
    s_deep = max(results["ours-standard"].get("teacher_layers", [0]))
    if ncc.get(q_deep) is not None and ncc.get(s_deep) is not None:
        lines.append(f"A likely reason: the student's deepest distilled layer, from which its "
                     f"separate head classifies, is taught teacher layer {q_deep} under Q "
                     f"(nearest-class-center accuracy {100 * ncc[q_deep]:.1f}%) but layer "
                     f"{s_deep} under the standard choice ({100 * ncc[s_deep]:.1f}%); Q favours "
                     "the teacher's middle layers here, and with feature losses only, the "
                     "student can be no more separable than the layer it imitates.")
    lines.append("Fashion-MNIST is a 10-class task on which a small student alone already comes "
                 "close to its teacher, so the room for any distillation gain is a few points at "
                 "most; the paper's large gains are on 100- and 200-class datasets. Run the same "
                 "configs with `dataset` set to CIFAR-100 to test the claim where it was made.")
    return " ".join(lines)


if __name__ == "__main__":
    main()
