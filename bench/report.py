#!/usr/bin/python3
"""Summarise one bench/run.sh run: medians, ratios, targets, chart.

    report.py RESULTS_DIR

Reads workloads.csv and samples.csv (written by run.sh) in RESULTS_DIR,
prints the table and the targets, and writes results.csv, results.json,
table.md, chart.dat, chart.gp and (with gnuplot) chart.svg there.
BENCH_PATHS="ceiling bridge ..." names other paths (bench/floor.sh),
whose runs get no chart.

Ratios:
  vs bridge   median / bridge's median. For "lower is better" workloads
              (latency, CPU, attach time) below 1 means nsfast is better.
  of ceiling  the share of the ceiling's performance, oriented so that
              1.00 is the ceiling and higher is better in every row:
              value / ceiling for rates, ceiling / value for latency and
              CPU per packet.
"""
import csv
import json
import os
import statistics
import subprocess
import sys

DEFAULT_PATHS = ["ceiling", "bridge", "nsfast-tc", "nsfast-xdp"]
# Another driver (bench/floor.sh) names its own paths, in table order.
PATHS = os.environ.get("BENCH_PATHS", "").split() or DEFAULT_PATHS
NSFAST = [p for p in ("nsfast-tc", "nsfast-xdp") if p in PATHS]
CHART_GROUPS = ["pps", "newflow", "onedst", "latency", "bulk", "conn"]
# Relative difference the targets treat as measurement noise when a
# comparison misses narrowly (reported as "within noise", never "met").
NOISE = 0.05


def load(out):
    workloads = []
    with open(os.path.join(out, "workloads.csv"), newline="") as f:
        for row in csv.reader(f):
            if len(row) == 5:
                workloads.append(dict(id=row[0], group=row[1], unit=row[2],
                                      better=row[3], label=row[4]))
    samples = {}
    with open(os.path.join(out, "samples.csv"), newline="") as f:
        for row in csv.reader(f):
            if len(row) < 4:
                continue
            path, wl, rep, value = row[:4]
            note = row[4] if len(row) > 4 else ""
            try:
                v = float(value)
            except ValueError:
                continue
            samples.setdefault((wl, path), []).append((v, note))
    return workloads, samples


def summarise(workloads, samples):
    for w in workloads:
        w["results"] = {}
        for path in PATHS:
            s = samples.get((w["id"], path))
            if not s:
                continue
            vals = [v for v, _ in s]
            med = statistics.median(vals)
            # the note of the sample closest to the median
            note = min(s, key=lambda vn: abs(vn[0] - med))[1]
            w["results"][path] = dict(
                median=med, min=min(vals), max=max(vals), n=len(vals),
                samples=vals, note=note,
                spread=(max(vals) - min(vals)) / med if med else None)
        ceil = w["results"].get("ceiling", {}).get("median")
        br = w["results"].get("bridge", {}).get("median")
        for path, r in w["results"].items():
            m = r["median"]
            r["ratio_to_bridge"] = m / br if br and m is not None else None
            share = None
            if ceil and m:
                share = m / ceil if w["better"] == "higher" else ceil / m
            r["share_of_ceiling"] = share


def fmt_value(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(v, suffix=""):
    return "-" if v is None else f"{v:.2f}{suffix}"


def table_rows(workloads):
    rows = []
    for w in workloads:
        if not w["results"]:
            continue
        arrow = "↑" if w["better"] == "higher" else "↓"
        for path in PATHS:
            r = w["results"].get(path)
            if r is None:
                if w["group"] == "attach" or (path == "ceiling" and
                                               w["group"] == "scale"):
                    continue
                rows.append([w["label"], path, "n/a", "", "", "", "", ""])
                continue
            spread = r["spread"]
            rows.append([
                w["label"], path, fmt_value(r["median"]),
                f'{w["unit"]} {arrow}',
                fmt_ratio(r["ratio_to_bridge"], "x"),
                fmt_ratio(r["share_of_ceiling"]),
                str(r["n"]),
                "-" if spread is None else f"{spread * 100:.0f}%"])
    return rows


HEAD = ["workload", "path", "median", "unit", "vs bridge", "of ceiling",
        "n", "spread"]


def text_table(rows):
    widths = [max(len(r[i]) for r in rows + [HEAD]) for i in range(len(HEAD))]
    right = {2, 4, 5, 6, 7}
    lines = []

    def line(cells):
        return "  ".join(c.rjust(widths[i]) if i in right else
                         c.ljust(widths[i]) for i, c in enumerate(cells))
    lines.append(line(HEAD))
    lines.append("  ".join("-" * w for w in widths))
    last = None
    for r in rows:
        if last is not None and r[0] != last:
            lines.append("")
        last = r[0]
        lines.append(line(r))
    return "\n".join(lines)


def md_table(rows):
    lines = ["| " + " | ".join(HEAD) + " |",
             "|" + "|".join(["---", "---", "---:", "---", "---:", "---:",
                             "---:", "---:"]) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


def med(workloads, wid, path):
    for w in workloads:
        if w["id"] == wid:
            r = w["results"].get(path)
            return r["median"] if r else None
    return None


def share(workloads, wid, path):
    for w in workloads:
        if w["id"] == wid:
            r = w["results"].get(path)
            return r["share_of_ceiling"] if r else None
    return None


def targets(workloads):
    """[(target, path, measured, verdict)] for every target with data."""
    out = []

    def add(name, path, measured, ok, near=False):
        verdict = "met" if ok else ("within noise" if near else "MISSED")
        out.append(dict(target=name, path=path, measured=measured,
                        verdict=verdict))

    for path in NSFAST:
        for wid, what in (("pps.pp", "pod->pod"), ("pps.pw", "pod->world")):
            s = share(workloads, wid, path)
            if s is not None:
                add(f"small-packet rate {what} >= 0.90 of ceiling", path,
                    f"{s:.2f} of ceiling", s >= 0.90)
        n, b = med(workloads, "newflow.pw", path), med(workloads,
                                                       "newflow.pw", "bridge")
        c = med(workloads, "newflow.pw", "ceiling")
        if n is not None and b:
            # What 3x the bridge asks for, as a share of the one-veth
            # ceiling's own new-flow rate: the reader sees at once when
            # the target lies beyond what any forwarding path can reach.
            need = f"; 3x = {3 * b / c:.2f} of ceiling" if c else ""
            add("new-flow rate pod->world >= 3x bridge+MASQUERADE", path,
                f"{n / b:.2f}x bridge{need}", n / b >= 3)
        for w in workloads:
            if w["group"] != "latency":
                continue
            n, b = med(workloads, w["id"], path), med(workloads, w["id"],
                                                      "bridge")
            if n is None or not b:
                continue
            add(f'{w["label"]} no worse than bridge', path,
                f"{n:.1f} vs {b:.1f} us ({(n / b - 1) * 100:+.0f}%)",
                n <= b, n <= b * (1 + NOISE))
        for w in workloads:
            if w["group"] != "bulk":
                continue
            n, b = med(workloads, w["id"], path), med(workloads, w["id"],
                                                      "bridge")
            if n is None or not b:
                continue
            add(f'{w["label"]} no worse than bridge', path,
                f"{n:.2f} vs {b:.2f} Gbit/s ({(n / b - 1) * 100:+.0f}%)",
                n >= b, n >= b * (1 - NOISE))
        for hi, lo, what in (("scale.pods.1000", "scale.pods.2",
                              "rate at 1000 pods within 10% of 2 pods"),
                             ("scale.nat.1M", "scale.nat.1k",
                              "rate at 1M NAT entries within 10% of 1k")):
            # Judged on the share of the ceiling measured in the same
            # interleaved rounds, which cancels the machine's drift
            # between the steps; the raw rates are shown too.
            h, l_ = med(workloads, hi, path), med(workloads, lo, path)
            sh, sl = share(workloads, hi, path), share(workloads, lo, path)
            if h is not None and l_ and sh is not None and sl:
                add(what, path,
                    f"{sh / sl:.2f} of the small case (of ceiling "
                    f"{sh:.2f} vs {sl:.2f}; raw {h:.0f} vs {l_:.0f} kpps)",
                    sh >= 0.9 * sl)
        for wid, at in (("attach.2", "2 pods"), ("attach.100", "100 pods"),
                        ("attach.1000", "1000 pods"),
                        ("attach.burst", "a burst, pods 901-1000")):
            m = med(workloads, wid, path)
            if m is not None:
                add(f"attach <= 10 ms per pod ({at})", path,
                    f"{m:.1f} ms", m <= 10)
    return out


def targets_text(ts):
    if not ts:
        return ""
    w0 = max(len(t["target"]) for t in ts)
    w1 = max(len(t["path"]) for t in ts)
    w2 = max(len(t["measured"]) for t in ts)
    lines = ["Targets:"]
    for t in ts:
        lines.append(f'  {t["target"]:<{w0}}  {t["path"]:<{w1}}  '
                     f'{t["measured"]:<{w2}}  {t["verdict"]}')
    return "\n".join(lines)


def targets_md(ts):
    lines = ["| target | path | measured | verdict |", "|---|---|---|---|"]
    for t in ts:
        lines.append(f'| {t["target"]} | {t["path"]} | {t["measured"]} | '
                     f'{t["verdict"]} |')
    return "\n".join(lines)


def notes_text(workloads):
    lines = []
    for w in workloads:
        for path in PATHS:
            r = w["results"].get(path)
            if r and r["note"]:
                lines.append(f'  {w["label"]}, {path}: {r["note"]}')
    return ("Notes (sample nearest the median):\n" + "\n".join(lines)
            if lines else "")


def chart(out, workloads, env):
    if PATHS != DEFAULT_PATHS:
        return None  # its bars and colours are those of the four paths
    groups = [w for w in workloads if w["group"] in CHART_GROUPS and
              "ceiling" in w["results"]]
    if not groups:
        return None
    dat = os.path.join(out, "chart.dat")
    with open(dat, "w") as f:
        for w in groups:
            vals = []
            for path in PATHS[1:]:
                s = w["results"].get(path, {}).get("share_of_ceiling")
                vals.append("?" if s is None else f"{s:.3f}")
            f.write('"%s" %s\n' % (w["label"].replace('"', "'"), " ".join(vals)))
    width = max(900, 70 * len(groups) + 200)
    sub = env.get("cpu", "") + ", " + env.get("kernel", "") + ", " + \
        env.get("date", "")[:10]
    gp = os.path.join(out, "chart.gp")
    with open(gp, "w") as f:
        f.write(f"""set terminal svg size {width},640 dynamic font 'Sans,12' background rgb 'white'
set output '{os.path.join(out, "chart.svg")}'
set encoding utf8
set title "nsfast vs bridge+MASQUERADE: share of the ceiling (one veth pair), medians; higher is better\\n{sub} ({env.get("mode", "")})" noenhanced
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set yrange [0:1.35]
set ytics 0.1
set grid ytics lc rgb '#dddddd'
set ylabel "share of ceiling (latency: ceiling / value)"
set xtics rotate by -35 scale 0 font 'Sans,10' noenhanced
set bmargin 10
set rmargin 14
set key top left horizontal noenhanced
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb '#333333'
set label 'ceiling = 1.0' at graph 0.01, first 1.025 left font 'Sans,9'
plot '{dat}' using 2:xtic(1) title 'bridge + MASQUERADE' lc rgb '#9e9e9e', \\
     '' using 3 title 'nsfast-tc' lc rgb '#4c78a8', \\
     '' using 4 title 'nsfast-xdp' lc rgb '#59a14f', \\
     '' using ($0 - 0.25):2:(sprintf('%.2f', $2)) with labels font 'Sans,7' offset 0,0.5 notitle, \\
     '' using ($0):3:(sprintf('%.2f', $3)) with labels font 'Sans,7' offset 0,0.5 notitle, \\
     '' using ($0 + 0.25):4:(sprintf('%.2f', $4)) with labels font 'Sans,7' offset 0,0.5 notitle
set terminal pngcairo size {width},640 font 'Sans,10' background rgb 'white'
set output '{os.path.join(out, "chart.png")}'
replot
""")
    try:
        subprocess.run(["gnuplot", gp], check=True, timeout=60,
                       stderr=subprocess.PIPE)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"report: gnuplot failed: {e}", file=sys.stderr)
        return None
    return os.path.join(out, "chart.svg")


def read_env(out):
    env = {}
    try:
        with open(os.path.join(out, "env.txt")) as f:
            for line in f:
                k, _, v = line.partition(": ")
                env[k.strip()] = v.strip()
    except OSError:
        pass
    return env


def main():
    if len(sys.argv) != 2:
        print("usage: report.py RESULTS_DIR", file=sys.stderr)
        return 2
    out = sys.argv[1]
    workloads, samples = load(out)
    summarise(workloads, samples)
    env = read_env(out)
    rows = table_rows(workloads)
    ts = targets(workloads)

    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "label", "unit", "better", "path", "median",
                     "min", "max", "n", "ratio_to_bridge", "share_of_ceiling",
                     "note"])
        for w in workloads:
            for path, r in w["results"].items():
                wr.writerow([w["id"], w["label"], w["unit"], w["better"], path,
                             r["median"], r["min"], r["max"], r["n"],
                             r["ratio_to_bridge"], r["share_of_ceiling"],
                             r["note"]])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(dict(env=env, paths=PATHS, workloads=workloads, targets=ts),
                  f, indent=1)
    svg = chart(out, workloads, env)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(md_table(rows) + "\n\n" + targets_md(ts) + "\n")

    print(text_table(rows))
    print()
    print("vs bridge: median / bridge's median (arrow: which way is better);")
    print("of ceiling: share of the one-veth ceiling, higher is better in")
    print("every row (ceiling / value for latency and CPU); spread: (max -")
    print("min) / median over the n interleaved repeats.")
    notes = notes_text(workloads)
    if notes:
        print()
        print(notes)
    if ts:
        print()
        print(targets_text(ts))
    if svg:
        print()
        print(f"chart: {svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
