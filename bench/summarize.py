#!/usr/bin/env python3
"""Summarize bench/run.sh results: medians per (N, P, phase, engine) and syncfn / dlt ratios.

usage: summarize.py results.tsv [machine.txt] > summary.md   (stdlib only)
"""
import csv
import statistics
import sys
from collections import defaultdict

PHASES = ["full", "resync", "incr", "read"]
PHASE_NAMES = {
    "full": "first full sync",
    "resync": "re-sync, nothing changed",
    "incr": "incremental, 1% changed",
    "read": "read all back (limit 1000)",
}


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: summarize.py results.tsv [machine.txt]")
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    groups = defaultdict(list)
    for r in rows:
        groups[(int(r["n"]), int(r["p"]), r["phase"], r["engine"])].append(r)

    med = {}
    for key, runs in groups.items():
        med[key] = {
            "rps": statistics.median(float(r["records"]) / max(float(r["wall_s"]), 1e-9) for r in runs),
            "wall": statistics.median(float(r["wall_s"]) for r in runs),
            "cpu": statistics.median(float(r["cpu_s"]) for r in runs),
            "rss": statistics.median(float(r["rss_kb"]) for r in runs) / 1024,
            "records": statistics.median(int(r["records"]) for r in runs),
            "requests": sorted({r["requests"] for r in runs}),
            "expected": sorted({r["expected_requests"] for r in runs}),
            "written": sorted({r["written"] for r in runs}),
            "status": sorted({r["status"] for r in runs}),
            "reps": len(runs),
        }

    out = []
    if len(sys.argv) > 2:
        out.append("```")
        out.append(open(sys.argv[2]).read().rstrip())
        out.append("```")
        out.append("")
    out.append("| N | P | phase | engine | records/s | wall s | CPU s | records/CPU-s | peak RSS MB | requests (expected) | rows written | checks |")
    out.append("|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|")
    order = lambda k: (k[0], k[1], PHASES.index(k[2]) if k[2] in PHASES else 9, k[3] != "syncfn", k[3])
    for key in sorted(med, key=order):
        n, p, phase, engine = key
        m = med[key]
        req = ",".join(m["requests"])
        exp = ",".join(m["expected"])
        requests = "-" if phase == "read" else f"{req} ({exp})"
        out.append(
            f"| {n:,} | {p:,} | {PHASE_NAMES.get(phase, phase)} | {engine} | {m['rps']:,.0f} | {m['wall']:.2f} "
            f"| {m['cpu']:.2f} | {m['records'] / max(m['cpu'], 1e-9):,.0f} | {m['rss']:.1f} | {requests} "
            f"| {','.join(m['written'])} | {','.join(m['status'])} |"
        )
    engines = sorted({k[3] for k in med if k[3] != "syncfn"})
    if engines:
        out.append("")
        out.append("Ratios syncfn / dlt (records/s: higher is better for syncfn; CPU s and peak RSS: lower is better):")
        out.append("")
        out.append("| N | P | phase | vs | records/s ratio | CPU s ratio | peak RSS ratio |")
        out.append("|---|---|---|---|---:|---:|---:|")
        for key in sorted(med, key=order):
            n, p, phase, engine = key
            if engine != "syncfn":
                continue
            s = med[key]
            for other in engines:
                d = med.get((n, p, phase, other))
                if not d:
                    continue
                out.append(
                    f"| {n:,} | {p:,} | {PHASE_NAMES.get(phase, phase)} | {other} | {s['rps'] / max(d['rps'], 1e-9):.1f}x "
                    f"| {s['cpu'] / max(d['cpu'], 1e-9):.2f} | {s['rss'] / max(d['rss'], 1e-9):.2f} |"
                )
    loads = [
        (float(r["provider_cpu_s"]) / max(float(r["wall_s"]), 1e-9), float(r["provider_cpu_s"]), r)
        for r in rows
        if r.get("provider_cpu_s") not in (None, "") and r["phase"] != "read" and float(r["wall_s"]) >= 1.0
    ]
    if loads:
        share, cpu, r = max(loads, key=lambda x: x[0])
        out.append("")
        out.append(
            f"Provider cost: at most {share * 100:.1f} % of one core during a measured run of 1 s or more "
            f"({cpu:.2f} CPU s in {float(r['wall_s']):.2f} s, {r['engine']} {r['phase']} N={r['n']} P={r['p']})."
        )
    reps = sorted({m["reps"] for m in med.values()})
    out.append("")
    out.append(f"Medians of {','.join(map(str, reps))} run(s) per figure; whole processes measured with /usr/bin/time -v.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
