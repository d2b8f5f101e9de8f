#!/usr/bin/env python3
"""Summarise one bench/run.sh run directory: the issue targets, per-scenario figures for
Gatehouse ("target" in bench.sh terms) and the Node peer, and a Markdown report.

    bench/summarize.py bench/results/<run>      prints the summary, writes <run>/report.md
"""
import csv
import glob
import os
import re
import statistics
import sys

# Targets from the foundation issue. Add a row here when a later issue adds one.
ME_RPS_RATIO_MIN = 10.0  # Gatehouse /me req/s >= 10x the peer's
LOGIN_RATIO_MIN = 0.90  # Gatehouse logins/s >= 90% of the raw Argon2id rate

NAMES = {"target": "gatehouse", "peer": "node-peer"}
SCENARIO_ORDER = ["me", "me_nocheck", "login", "me_during_login", "login_bg", "refresh", "introspect", "jwks"]
med = statistics.median


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def bench_runs(pattern):
    """(rows, summary.txt text) of every bench.sh run directory matching pattern."""
    rows, summaries = [], []
    for tsv in sorted(glob.glob(pattern)):
        rows += read_tsv(tsv)
        s = os.path.join(os.path.dirname(tsv), "summary.txt")
        if os.path.exists(s):
            summaries.append(open(s).read())
    return rows, summaries


def f(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def stats(rs):
    fl = lambda r, k: float(r[k])  # noqa: E731
    rps = [fl(r, "rps") for r in rs]
    cpu = [fl(r, "requests") / fl(r, "server_cpu_s") for r in rs if fl(r, "server_cpu_s") > 0]
    tot = [
        fl(r, "requests") / (fl(r, "server_cpu_s") + fl(r, "redis_cpu_s") + fl(r, "db_cpu_s"))
        for r in rs
        if fl(r, "server_cpu_s") > 0
    ]
    per100 = lambda k: [fl(r, k) / fl(r, "requests") * 100 for r in rs if fl(r, k) > 0 and fl(r, "requests") > 0]  # noqa: E731
    redis, db = per100("redis_cpu_s"), per100("db_cpu_s")
    return {
        "n": len(rs),
        "rps": med(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50": med([fl(r, "p50_ms") for r in rs]),
        "p99": med([fl(r, "p99_ms") for r in rs]),
        "cpu": med(cpu) if cpu else None,
        "tot": med(tot) if tot else None,
        "redis": med(redis) if redis else None,
        "db": med(db) if db else None,
        "non2xx": sum(int(r["non2xx"]) for r in rs),
        "sockerr": sum(int(r["sockerr"]) for r in rs),
        "requests": sum(int(r["requests"]) for r in rs),
    }


def ok_rps(r):
    """Successful (2xx) responses per second."""
    n = int(r["requests"])
    return float(r["rps"]) * (n - int(r["non2xx"])) / n if n else 0.0


def by_round(rows, system, scenario):
    return {int(r["round"]): r for r in rows if r["system"] == system and r["scenario"] == scenario}


def memory(summaries, label):
    out = []
    for text in summaries:
        for line in text.splitlines():
            m = re.match(r"memory (\w+): RSS after smoke test (\d+) MiB, now (\d+) MiB, peak \(VmHWM\) (\d+) MiB", line)
            if m:
                out.append((label, NAMES.get(m[1], m[1]), int(m[2]), int(m[3]), int(m[4])))
    return out


def main():
    run = sys.argv[1]
    meta = open(os.path.join(run, "meta.txt")).read() if os.path.exists(os.path.join(run, "meta.txt")) else ""
    main_rows, main_sum = bench_runs(os.path.join(run, "main", "*", "results.tsv"))
    var_rows, var_sum = bench_runs(os.path.join(run, "variant-*", "*", "results.tsv"))
    pair_rows, _ = bench_runs(os.path.join(run, "login_pairs", "p*", "*", "results.tsv"))
    argon, argon_cpu = [], {}
    if os.path.exists(os.path.join(run, "argon2.tsv")):
        for r in read_tsv(os.path.join(run, "argon2.tsv")):
            if r["argon2_per_s"]:
                argon.append((int(r["pair"]), float(r["argon2_per_s"])))
                if r.get("cpu_s") and float(r["cpu_s"]) > 0:
                    # verifications per CPU-second (wall includes the one setup hash: < 1% off)
                    argon_cpu[int(r["pair"])] = float(r["argon2_per_s"]) * float(r["wall_s"]) / float(r["cpu_s"])

    txt, md = [], []
    t = txt.append
    m = md.append
    m("## Issue targets\n")
    m("| target | measured | verdict |")
    m("|---|---|---|")

    # --- target 1: /me rps ratio and p99, from alternating rounds
    me_t, me_p = by_round(main_rows, "target", "me"), by_round(main_rows, "peer", "me")
    common = sorted(set(me_t) & set(me_p))
    if common:
        ratios = [ok_rps(me_t[r]) / ok_rps(me_p[r]) if ok_rps(me_p[r]) else 0.0 for r in common]
        me_non2xx = sum(int(me_t[r]["non2xx"]) + int(me_p[r]["non2xx"]) for r in common)
        p99_t = [float(me_t[r]["p99_ms"]) for r in common]
        p99_p = [float(me_p[r]["p99_ms"]) for r in common]
        p99_wins = sum(a < b for a, b in zip(p99_t, p99_p))
        ok_r = med(ratios) >= ME_RPS_RATIO_MIN and me_non2xx == 0
        ok_p99 = med(p99_t) < med(p99_p) and me_non2xx == 0
        if me_non2xx:
            t(f"WARNING: {me_non2xx} non-2xx responses in the /me rounds; ratios count 2xx responses only")
        t(f"/me rps ratio gatehouse/peer: median {med(ratios):.2f}x over {len(common)} alternating rounds "
          f"(per round: {', '.join(f'{x:.2f}' for x in ratios)}); target >= {ME_RPS_RATIO_MIN:.0f}x -> "
          f"{'MET' if ok_r else f'MISSED by {ME_RPS_RATIO_MIN / max(med(ratios), 1e-9):.2f}x'}")
        t(f"/me rps: gatehouse median {med(float(me_t[r]['rps']) for r in common):.0f}, "
          f"peer median {med(float(me_p[r]['rps']) for r in common):.0f}")
        t(f"/me p99: gatehouse median {med(p99_t):.2f} ms vs peer {med(p99_p):.2f} ms "
          f"(gatehouse lower in {p99_wins}/{len(common)} rounds) -> {'MET' if ok_p99 else 'MISSED'}")
        m(f"| `/t/{{tenant}}/me` req/s >= {ME_RPS_RATIO_MIN:.0f}x the peer's `GET /me` | "
          f"{med(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)}); "
          f"{med(float(me_t[r]['rps']) for r in common):.0f} vs {med(float(me_p[r]['rps']) for r in common):.0f} req/s | "
          f"{'met' if ok_r else f'**missed** (factor {ME_RPS_RATIO_MIN / max(med(ratios), 1e-9):.2f} short)'} |")
        cpu_t = [float(me_t[r]["requests"]) / (float(me_t[r]["server_cpu_s"]) + float(me_t[r]["db_cpu_s"]) + float(me_t[r]["redis_cpu_s"])) for r in common if float(me_t[r]["server_cpu_s"]) > 0]
        cpu_p = [float(me_p[r]["requests"]) / (float(me_p[r]["server_cpu_s"]) + float(me_p[r]["db_cpu_s"]) + float(me_p[r]["redis_cpu_s"])) for r in common if float(me_p[r]["server_cpu_s"]) > 0]
        if cpu_t and cpu_p:
            t(f"/me per CPU-second (server + db + redis): gatehouse {med(cpu_t):.0f} vs peer {med(cpu_p):.0f} req/CPU-s = {med(cpu_t) / med(cpu_p):.2f}x")
            m(f"| (same, per CPU-second of server + PostgreSQL + Redis) | {med(cpu_t):.0f} vs {med(cpu_p):.0f} req/CPU-s = "
              f"{med(cpu_t) / med(cpu_p):.2f}x | not a target; robust to other load on the machine |")
        m(f"| `/me` p99 below the peer's | {med(p99_t):.2f} ms vs {med(p99_p):.2f} ms "
          f"(lower in {p99_wins}/{len(common)} rounds) | {'met' if ok_p99 else '**missed**'} |")

    # --- target 2: logins/s vs raw argon2, from back-to-back pairs
    logins = {}
    for tsv in glob.glob(os.path.join(run, "login_pairs", "p*", "*", "results.tsv")):
        pair = int(re.search(r"/p(\d+)/", tsv)[1])
        for r in read_tsv(tsv):
            if r["system"] == "target" and r["scenario"] == "login":
                logins[pair] = r
    # successful logins only: a rejected request (429, 401...) costs no hash
    pairs = [(p, ok_rps(logins[p]), a) for p, a in argon if p in logins]
    if pairs:
        ratios = [lr / a for _, lr, a in pairs]
        non2xx = sum(int(logins[p]["non2xx"]) for p, _, _ in pairs)
        ok = med(ratios) >= LOGIN_RATIO_MIN and non2xx == 0
        t(f"logins/s vs raw argon2id: median {med(ratios):.3f} over {len(pairs)} back-to-back pairs "
          f"(per pair: {', '.join(f'{lr:.1f}/{a:.1f}' for _, lr, a in pairs)}); target >= {LOGIN_RATIO_MIN:.2f} -> "
          f"{'MET' if ok else (f'INVALID: {non2xx} non-2xx responses' if non2xx else f'MISSED by {(LOGIN_RATIO_MIN - med(ratios)) * 100:.1f} points')}; login non2xx {non2xx}")
        m(f"| password logins/s >= {LOGIN_RATIO_MIN:.0%} of raw Argon2id (m=19456 t=2 p=1, all cores) | "
          f"{med(ratios):.1%} ({med(lr for _, lr, _ in pairs):.1f} logins/s vs {med(a for _, _, a in pairs):.1f} "
          f"verifications/s; pairs: {', '.join(f'{lr:.1f}/{a:.1f}' for _, lr, a in pairs)}) | "
          f"{'met' if ok else (f'**invalid** ({non2xx} non-2xx)' if non2xx else f'**missed** ({(LOGIN_RATIO_MIN - med(ratios)) * 100:.1f} points short)')} |")
        # the same per CPU-second: logins per CPU-second of Gatehouse + PostgreSQL + Redis against
        # verifications per CPU-second; unlike the wall-clock ratio it does not depend on how much
        # of the machine other processes took during either half of a pair
        cpu_pairs = []
        for p, _, _ in pairs:
            r = logins[p]
            spent = float(r["server_cpu_s"]) + float(r["db_cpu_s"]) + float(r["redis_cpu_s"])
            if p in argon_cpu and spent > 0:
                ok_n = int(r["requests"]) - int(r["non2xx"])
                cpu_pairs.append((ok_n / spent, argon_cpu[p], ok_n / float(r["server_cpu_s"])))
        if cpu_pairs:
            cr = [a / b for a, b, _ in cpu_pairs]
            t(f"per CPU-second: logins per (gatehouse+db+redis) CPU-s / argon2 verifications per CPU-s: median {med(cr):.3f} "
              f"(per pair: {', '.join(f'{a:.1f}/{b:.1f}' for a, b, _ in cpu_pairs)}); gatehouse process alone: "
              f"median {med(c / b for _, b, c in cpu_pairs):.3f}")
            m(f"| (same, per CPU-second: logins per CPU-s of Gatehouse + PostgreSQL + Redis vs verifications per CPU-s) | "
              f"{med(cr):.1%} (pairs: {', '.join(f'{a:.1f}/{b:.1f}' for a, b, _ in cpu_pairs)}); Gatehouse process alone "
              f"{med(c / b for _, b, c in cpu_pairs):.1%} | not a target; robust to other load on the machine |")
    elif argon:
        t(f"raw argon2id: {', '.join(f'{a:.1f}' for _, a in argon)} verifications/s (no login pairs)")

    # --- every scenario, both systems
    header = (f"{'phase':8} {'system':9} {'scenario':15} {'rps med':>9} {'min..max':>17} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'req/srv-cpu-s':>13} {'req/all-cpu-s':>13} {'redis%/100':>10} {'db%/100':>8} {'non2xx':>7} {'sockerr':>7}")
    t("")
    t(header)
    m("\n## All scenarios\n")
    m("Medians over rounds. *req/srv-CPU-s*: requests per CPU-second of the server process(es); "
      "*req/all-CPU-s*: the same counting server + Redis + PostgreSQL CPU; *Redis/DB vCPU per 100 req/s*: "
      "CPU-seconds of that service per 100 requests. Login rows from the main run (the pairing run is above).\n")
    m("| phase | system | scenario | req/s median (min..max) | p50 ms | p99 ms | req/srv-CPU-s | req/all-CPU-s | "
      "Redis vCPU/100 rps | DB vCPU/100 rps | non-2xx | socket errors |")
    m("|---|---|---|---|---|---|---|---|---|---|---|---|")
    phases = [("main", main_rows), ("variant", var_rows), ("pairs", pair_rows)]
    for phase, rows in phases:
        groups = {}
        for r in rows:
            groups.setdefault((r["scenario"], r["system"]), []).append(r)
        for key in sorted(groups, key=lambda k: (SCENARIO_ORDER.index(k[0]) if k[0] in SCENARIO_ORDER else 99, k[1] != "target")):
            sc, sy = key
            s = stats(groups[key])
            t(f"{phase:8} {NAMES.get(sy, sy):9} {sc:15} {s['rps']:9.1f} {s['rps_min']:8.1f}..{s['rps_max']:<8.1f} "
              f"{s['p50']:8.2f} {s['p99']:8.2f} {f(s['cpu']):>13} {f(s['tot']):>13} {f(s['redis'], 4):>10} "
              f"{f(s['db'], 4):>8} {s['non2xx']:7d} {s['sockerr']:7d}")
            m(f"| {phase} | {NAMES.get(sy, sy)} | {sc} | {s['rps']:.1f} ({s['rps_min']:.1f}..{s['rps_max']:.1f}) | "
              f"{s['p50']:.2f} | {s['p99']:.2f} | {f(s['cpu'])} | {f(s['tot'])} | {f(s['redis'], 4)} | {f(s['db'], 4)} | "
              f"{s['non2xx']} | {s['sockerr']} |")

    # per-round ratios for every scenario both systems ran in the main phase
    t("")
    for rows, phase in ((main_rows, "main"), (var_rows, "variant")):
        for sc in SCENARIO_ORDER:
            a, b = by_round(rows, "target", sc), by_round(rows, "peer", sc)
            rounds = sorted(set(a) & set(b))
            if rounds:
                rs = [float(a[r]["rps"]) / float(b[r]["rps"]) for r in rounds]
                t(f"ratio gatehouse/peer {sc:15} ({phase}): median {med(rs):.2f}x, rounds {', '.join(f'{x:.2f}' for x in rs)}")

    mem = memory(main_sum, "main") + memory(var_sum, "variant")
    if mem:
        m("\n## Memory (resident set of the server processes)\n")
        m("| phase | system | RSS after smoke test MiB | RSS at end MiB | peak RSS (VmHWM) MiB |")
        m("|---|---|---|---|---|")
        for phase, sy, a, b, c in mem:
            t(f"memory {phase:8} {sy:9}: RSS after smoke {a} MiB, at end {b} MiB, peak {c} MiB")
            m(f"| {phase} | {sy} | {a} | {b} | {c} |")
    if argon:
        t(f"raw argon2id runs: {', '.join(f'{a:.1f}' for _, a in argon)} verifications/s")

    print(meta.rstrip())
    print("\n".join(txt))
    with open(os.path.join(run, "report.md"), "w") as fh:
        fh.write("```\n" + meta.rstrip() + "\n```\n\n" + "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
