#!/usr/bin/python3
"""Writes tests/fixtures/lr_schedule_reference.json for tests/core/test_lr_schedule.cpp.

Runs PyTorch's own OneCycleLR and MultiStepLR on a dummy optimizer and records the LR (and the
first beta / the momentum) after a chosen number of scheduler.step() calls. Needs torch
(Debian's python3-torch 1.13: run with /usr/bin/python3).

    /usr/bin/python3 scripts/reference_lr_schedules.py [out.json]
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "fixtures", "lr_schedule_reference.json")


def dummy_params():
    return [torch.nn.Parameter(torch.zeros(2))]


def steps_to_record(total, pct_start, three_phase):
    warm_end = int(pct_start * total) - 1  # phase boundary as an integer step
    picked = {0, 1, warm_end - 1, warm_end, warm_end + 1, total // 2, total - 2, total - 1}
    if three_phase:
        second = int(2 * pct_start * total) - 2
        picked |= {second - 1, second, second + 1}
    return sorted(s for s in picked if 0 <= s < total)


def one_cycle_case(name, optimizer_kind, max_lr, total, **kwargs):
    params = dummy_params()
    if optimizer_kind == "adamw":
        opt = torch.optim.AdamW(params, lr=max_lr, weight_decay=0.01)
    else:
        opt = torch.optim.SGD(params, lr=max_lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, **kwargs)
    wanted = set(steps_to_record(total, kwargs.get("pct_start", 0.3),
                                 kwargs.get("three_phase", False)))
    points = []
    for step in range(total):
        if step in wanted:
            group = opt.param_groups[0]
            momentum = group["betas"][0] if "betas" in group else group["momentum"]
            points.append({"step": step, "lr": group["lr"], "beta1": momentum})
        opt.step()  # keeps PyTorch from warning about the call order
        if step + 1 < total:
            sched.step()
    options = {"pct_start": 0.3, "three_phase": False, "anneal_strategy": "cos"}
    options.update(kwargs)
    return {"name": name, "optimizer": optimizer_kind, "max_lr": max_lr, "total_steps": total,
            "options": options, "points": points}


def multi_step_case(lr, milestones, gamma, epochs):
    opt = torch.optim.SGD(dummy_params(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    wanted = set(epochs)
    points = []
    for epoch in range(max(epochs) + 1):
        if epoch in wanted:
            points.append({"epoch": epoch, "lr": opt.param_groups[0]["lr"]})
        opt.step()
        sched.step()
    return {"lr": lr, "milestones": milestones, "gamma": gamma, "points": points}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    data = {
        "generator": "scripts/reference_lr_schedules.py, torch " + torch.__version__,
        "one_cycle": [
            one_cycle_case("adamw_390x3", "adamw", 0.0075, 390 * 3),
            one_cycle_case("adamw_37", "adamw", 0.0075, 37),
            one_cycle_case("adamw_50_epochs", "adamw", 0.005, 390 * 50),
            one_cycle_case("sgd_37_three_phase_linear", "sgd", 0.05, 37, pct_start=0.25,
                           three_phase=True, anneal_strategy="linear"),
        ],
        "multi_step": [
            multi_step_case(0.05, [150, 180, 210], 0.1, [0, 149, 150, 179, 180, 210, 239]),
            multi_step_case(0.01, [5, 2, 5], 0.5, [0, 1, 2, 4, 5, 6]),
        ],
    }
    with open(out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
