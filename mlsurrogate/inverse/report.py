"""Text summary and corner plot of an ``lfqcd infer`` result (the ``infer.json`` dictionary)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def summary_text(res: dict[str, Any]) -> str:
    names = res["parameters"]
    post, nosur = res["posterior"], res["posterior_without_surrogate_error"]
    lap = res["laplace"]
    lines = ["Fitted couplings (lattice units; flat prior on the box):", "",
             "| coupling | box | best fit | posterior median (16-84 %) | Laplace std "
             "| std without surrogate error |", "|---|---|---|---|---|---|"]
    for i, n in enumerate(names):
        s = post["summary"][n]
        lines.append(
            f"| {n} | {res['box'][n][0]:g}-{res['box'][n][1]:g} | {res['best_fit'][n]:.4g} | "
            f"{s['median']:.4g} -{s['minus']:.3g} +{s['plus']:.3g} | {lap['std'][i]:.3g}"
            f"{' (box edge)' if lap['at_box_edge'][i] else ''} | "
            f"{nosur['summary'][n]['std']:.3g} |")
    lines += ["", f"-2 log L at the best fit: {res['best_neg2logl']:.4g} ({len(res['targets'])} "
              f"targets); sampler acceptance {post['acceptance']:.2f}", "",
              "Verification with the real solver (surrogate mean +- ensemble std vs solver):", "",
              "| point | observable | target | surrogate | solver | solver - surrogate "
              "| in units of ensemble std |", "|---|---|---|---|---|---|---|"]
    for v in res["verification"]:
        for o, d in v["observables"].items():
            tgt = res["targets"].get(o)
            lines.append(
                f"| {v['label']} | {o} | {'-' if tgt is None else format(tgt['value'], '.4g')} | "
                f"{d['surrogate']:.4g} +- {d['surrogate_std']:.2g} | {d['solver']:.4g} | "
                f"{d['solver'] - d['surrogate']:+.3g} | {d['pull']:+.2f} |")
    if res.get("solver_refined"):
        r = res["solver_refined"]
        lines += ["", f"Real-solver refinement from the best fit ({r['nfev']} solver evaluations): "
                  f"{fmt_point(r['point'])}", "  solver: " + ", ".join(
                      f"{k} = {r['solver'][k]:.4g} (pull {r['pulls_total_error'][k]:+.2f} with the "
                      f"model error, {r['pulls_target_error_only'][k]:+.2f} with the target error "
                      "only)" for k in r["pulls_total_error"])]
    if res.get("reference"):
        r = res["reference"]
        lines += ["", f"Reference preset {r['preset']!r} ({fmt_point(r['point'])}), real solver: "
                  + ", ".join(f"{k} = {r['solver'][k]:.4g} (pull {v:+.2f})"
                              for k, v in r["pulls_total_error"].items())]
    t = res["tension"]
    lines += ["", f"Tension map over {t['n_prior_samples']} prior samples (|z| < {t['z_max']:g}, "
              "z = (surrogate - target)/total error):"]
    for name, f in t["fraction_met"].items():
        lines.append(f"  {name}: met in {100 * f:.1f} % of the box")
    n_all = round(t["fraction_all_met"] * t["n_prior_samples"])
    lines.append(f"  all targets together: {n_all} of {t['n_prior_samples']} samples"
                 + ("" if t["joint_region_box"] is None else f", within {t['joint_region_box']}"))
    lines.append(f"  least tension at {fmt_point(t['least_tension_point'])}: pulls "
                 + ", ".join(f"{k} {v:+.2f}" for k, v in t["least_tension_pulls"].items()))
    if res.get("bound"):
        b = res["bound"]
        lines.append(f"  over the {b['n_design']} solved design points: max f_B^2 rho^2 = "
                     f"{b['max_fB2_rho2_GeV2']:.4f} GeV^2 (needed {b['needed_GeV2']:.4f}); "
                     f"max P0 P1 = {b['max_P0P1']:.4f} (<= 1/4)")
        lines.append(f"  solved points meeting rho2 / f_B / both within 2 total errors: "
                     f"{b['n_rho2_met']} / {b['n_fB_met']} / {b['n_both_met']}; largest f_B where "
                     f"rho2 is met: {fmt_opt(b['max_fB_GeV_where_rho2_met'])} GeV; largest rho2 "
                     f"where f_B is met: {fmt_opt(b['max_rho2_where_fB_met'])}")
    return "\n".join(lines)


def fmt_opt(x: float | None) -> str:
    return "none" if x is None else f"{x:.4g}"


def fmt_point(p: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in p.items())


def corner_plot(samples: np.ndarray, names: Sequence[str], box: dict[str, Sequence[float]],
                marks: dict[str, np.ndarray], path: Path) -> None:
    """Histograms on the diagonal, 2-D sample densities below it; ``marks`` are labelled points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = len(names)
    fig, axes = plt.subplots(d, d, figsize=(2.3 * d + 1, 2.3 * d + 1), squeeze=False)
    styles = ["r*", "kx", "b+"]
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(samples[:, i], bins=40, range=box[names[i]], color="0.4")
                ax.set_yticks([])
            else:
                ax.hist2d(samples[:, j], samples[:, i], bins=40,
                          range=[box[names[j]], box[names[i]]], cmap="Greys")
                for (label, x), st in zip(marks.items(), styles, strict=False):
                    ax.plot(x[j], x[i], st, ms=9, label=label)
            if i == d - 1:
                ax.set_xlabel(names[j])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
    if d > 1:
        handles, labels = axes[1, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right")
    fig.suptitle("posterior through the surrogate ensemble (with its uncertainty)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
