#!/usr/bin/env python3
"""The takeover's timeline, from the survivor's log (not from CLI polls), and
the check that every job was finished within one lease period.

    takeover_timeline.py SURVIVOR_LOG JOBS_JSON OUT_DIR KILLED_AT LEASE_SECONDS

SURVIVOR_LOG: the surviving control plane's log (millisecond UTC timestamps).
JOBS_JSON: `tandem jobs list -o json` (each job's id and name "ha-<i>").
OUT_DIR: each job's file j<i>: "start <pid>", then "done <epoch seconds>" when
its user code ended. KILLED_AT: epoch seconds of the kill -9.

"Within one lease period" (docs/architecture.md, High availability): a
control plane cannot finish a job before the job's own code has ended, so
each job's deadline is one lease after the later of the kill and the end of
its code. A job is finished when the survivor logs "job ended" for it (after
the transaction that recorded Completed and its event). Exit status 1 when a
job missed its deadline or is missing from the log.
"""
import datetime
import json
import os
import re
import statistics
import sys

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z \w+ (.*)$")


def stamp(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def field(rest, key):
    m = re.search(r"\b" + key + r'=("(?:[^"\\]|\\.)*"|\S+)', rest)
    if not m:
        return ""
    v = m.group(1)
    return v[1:-1] if v.startswith('"') else v


def main():
    log_path, jobs_path, out_dir, killed_at, lease = sys.argv[1:6]
    killed_at, lease = float(killed_at), float(lease)
    jobs = json.load(open(jobs_path))["jobs"]
    by_id = {j["id"]: "j" + j["name"].split("-", 1)[1] for j in jobs}

    adopted_first = adopted_last = None
    batches = []  # (time, adopted) of "jobs taken over from a dead control plane"
    ended = {}  # job id -> (time, state, finalize_ms)
    for raw in open(log_path, errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        t, rest = stamp(m.group(1)), m.group(2)
        if t < killed_at - 0.002:  # the log's milliseconds are truncated
            continue
        if rest.startswith("jobs taken over"):
            batches.append((t, field(rest, "adopted")))
        elif rest.startswith("job taken over "):
            adopted_first = adopted_first if adopted_first is not None else t
            adopted_last = t
        elif rest.startswith("job ended "):
            ended[field(rest, "job")] = (t, field(rest, "state"),
                                         [field(rest, k) for k in ("queued_ms", "finalize_ms",
                                                                    "record_ms")])

    problems, late = [], []
    for job_id, name in sorted(by_id.items(), key=lambda kv: kv[1]):
        code_end = None
        for line in open(os.path.join(out_dir, name)):
            if line.startswith("done "):
                code_end = float(line.split()[1])
        if job_id not in ended:
            problems.append(f"{name} ({job_id}): no 'job ended' in the survivor's log")
            continue
        t, state, _ = ended[job_id]
        base = max(killed_at, code_end if code_end is not None else killed_at)
        late.append((t - base, name, state))
    rel = lambda t: f"+{t - killed_at:.3f}s"
    print(f"takeover timeline (kill -9 = +0; lease {lease:g}s; from the survivor's log):")
    if adopted_first is not None:
        print(f"  jobs adopted: first {rel(adopted_first)}, last {rel(adopted_last)}"
              + (f" in {len(batches)} transaction(s) ({', '.join(b for _, b in batches)} jobs)"
                 if batches else ""))
    if ended:
        times = sorted(t for t, _, _ in ended.values())
        print(f"  jobs finished: first {rel(times[0])}, median {rel(statistics.median(times))}, "
              f"last {rel(times[-1])}")
        for i, what in enumerate(("waiting for a worker", "finalizing (store)",
                                  "recording the end")):
            ms = [int(f[i]) for _, _, f in ended.values() if f[i].isdigit()]
            if ms:
                print(f"    {what}: median {statistics.median(ms):g} ms, max {max(ms)} ms")
    if late:
        worst = max(late)
        print(f"  finished after max(kill, code end): median "
              f"{statistics.median(d for d, _, _ in late):.3f}s, worst {worst[0]:.3f}s ({worst[1]})")
        for d, name, state in late:
            if d > lease:
                problems.append(f"{name}: finished {d:.3f}s after max(kill, its end) > lease {lease:g}s")
            if state != "Completed":
                problems.append(f"{name}: ended {state}")
    for p in problems[:10]:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
