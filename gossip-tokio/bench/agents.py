#!/usr/bin/env python3
"""N gossip-agent processes on 127.0.0.1: steady-state RSS and CPU per agent, then the time
from `kill -9` of one agent to the last `member_down` printed by the others.

    cargo build --release -p gossip-tokio
    python3 gossip-tokio/bench/agents.py [--agents 20] [--settle 30] [--profile lan] [--transport udp|ws]

Under loss, run it in a network namespace whose loopback drops packets (as root):

    ip netns add lossy && ip netns exec lossy ip link set lo up
    ip netns exec lossy tc qdisc add dev lo root netem loss 5%
    ip netns exec lossy python3 gossip-tokio/bench/agents.py --transport ws
    ip netns del lossy

Prints one JSON object. Times come from the agents' own `ts_ms` (Unix ms), so the
kill and the events are on one clock.
"""
import argparse, json, os, signal, subprocess, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--agents", type=int, default=20)
ap.add_argument("--settle", type=float, default=30.0, help="seconds of steady state measured")
ap.add_argument("--profile", default="lan")
ap.add_argument("--transport", default="udp", choices=["udp", "ws"])
ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "../../target/release/gossip-agent"))
ap.add_argument("--port", type=int, default=27000)
args = ap.parse_args()

HZ = os.sysconf("SC_CLK_TCK")
procs, lines = [], []


def reader(i, out):
    for line in out:
        try:
            lines[i].append(json.loads(line))
        except ValueError:
            pass


for i in range(args.agents):
    cmd = [args.binary, "--name", f"agent-{i}", "--bind", f"127.0.0.1:{args.port + i}", "--profile", args.profile,
           "--transport", args.transport]
    if i > 0:
        cmd += ["--join", f"127.0.0.1:{args.port}"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines.append([])
    threading.Thread(target=reader, args=(i, p.stdout), daemon=True).start()
    procs.append(p)


def ups(i):
    return {v["node"] for v in lines[i] if v.get("event") == "member_up"}


deadline = time.time() + 60
while time.time() < deadline and any(len(ups(i)) < args.agents - 1 for i in range(args.agents)):
    time.sleep(0.2)
converged = all(len(ups(i)) == args.agents - 1 for i in range(args.agents))


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


before = [cpu_ticks(p.pid) for p in procs]
time.sleep(args.settle)
after = [cpu_ticks(p.pid) for p in procs]
cpu = [(a - b) / HZ / args.settle * 100 for a, b in zip(after, before)]
rss = [rss_kib(p.pid) for p in procs]

victim = args.agents - 1
killed_ms = time.time() * 1000
procs[victim].send_signal(signal.SIGKILL)
procs[victim].wait()
name = f"agent-{victim}"


def down_at(i):
    return next((v["ts_ms"] for v in lines[i] if v.get("event") == "member_down" and v.get("node") == name), None)


deadline = time.time() + 120
while time.time() < deadline and any(down_at(i) is None for i in range(victim)):
    time.sleep(0.1)
downs = [down_at(i) for i in range(victim)]
seen = [d for d in downs if d is not None]
false_downs = sum(1 for i in range(victim) for v in lines[i] if v.get("event") == "member_down" and v.get("node") != name)
for p in procs[:victim]:
    p.kill()
    p.wait()
print(json.dumps({
    "agents": args.agents,
    "profile": args.profile,
    "transport": args.transport,
    "converged": converged,
    "rss_kib_mean": sum(rss) / len(rss),
    "rss_kib_max": max(rss),
    "cpu_percent_mean": round(sum(cpu) / len(cpu), 3),
    "cpu_percent_max": round(max(cpu), 3),
    "detect_first_secs": (min(seen) - killed_ms) / 1000 if seen else None,
    "detect_all_secs": (max(seen) - killed_ms) / 1000 if len(seen) == victim else None,
    "false_downs": false_downs,
}))
