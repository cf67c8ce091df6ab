#!/usr/bin/env python3
"""N gossip-agent processes on 127.0.0.1: steady-state RSS, CPU and bytes per agent, then the
time from the fault of one agent (`kill -9`, or `kill -STOP`) to the first and the last
`member_down` printed by the others.

    cargo build --release -p gossip-tokio
    python3 gossip-tokio/bench/agents.py [--agents 20] [--settle 30] [--profile lan] [--transport udp|ws]
        [--loss PERCENT] [--fault kill|stop]

With --loss (as root, with nftables' `nft`), the agents run in a network namespace of their
own whose loopback drops that percentage of packets at random, each packet on its own
(`nft ... numgen random mod 10000 < N drop` on input: silent loss, as on a wire; a TCP
segment is lost like a datagram and retransmitted), and the namespace is deleted at the
end. --loss 0 runs in a namespace too, as the clean baseline of the same setup. Only then
are wire bytes reported: everything the loopback carried (IP and TCP or UDP headers,
WebSocket framing, TCP acks and retransmissions) during the settle period, per agent per
second, beside the bytes the protocol itself sent (`bytes_out` of the agents' stats).

Prints one JSON object. Times come from the agents' own `ts_ms` (Unix ms), so the kill and
the events are on one clock.
"""
import argparse, json, os, signal, subprocess, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--agents", type=int, default=20)
ap.add_argument("--settle", type=float, default=30.0, help="seconds of steady state measured")
ap.add_argument("--profile", default="lan")
ap.add_argument("--transport", default="udp", choices=["udp", "ws"])
ap.add_argument("--loss", type=float, default=None, help="percent of packets lost, in a namespace of its own")
ap.add_argument("--fault", default="kill", choices=["kill", "stop"],
                help="kill: SIGKILL (the kernel closes its sockets: peers' connections are reset and "
                     "redials refused); stop: SIGSTOP (its sockets stay open and silent, as when a host "
                     "dies or hangs; killed at the end)")
ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "../../target/release/gossip-agent"))
ap.add_argument("--port", type=int, default=27000)
args = ap.parse_args()

HZ = os.sysconf("SC_CLK_TCK")
procs, lines = [], []
netns = None


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def lossy_namespace(percent):
    """A namespace whose loopback silently drops `percent` % of packets, counting them."""
    name = f"gossip-bench-{os.getpid()}"
    run("ip", "netns", "add", name)
    run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    rules = f"""table inet bench {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iif "lo" counter name "seen"
    iif "lo" numgen random mod 10000 < {round(percent * 100)} counter name "dropped" drop
  }}
  counter seen {{}}
  counter dropped {{}}
}}
"""
    subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=rules, text=True, check=True)
    return name


def in_netns(*cmd):
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], capture_output=True, text=True, check=True).stdout


def wire_bytes():
    return int(in_netns("cat", "/sys/class/net/lo/statistics/tx_bytes"))


def counter(name):
    listed = json.loads(in_netns("nft", "-j", "list", "counter", "inet", "bench", name))
    return next(o["counter"]["packets"] for o in listed["nftables"] if "counter" in o)


def reader(i, out):
    for line in out:
        try:
            lines[i].append(json.loads(line))
        except ValueError:
            pass


def ups(i):
    return {v["node"] for v in lines[i] if isinstance(v, dict) and v.get("event") == "member_up"}


def bytes_out(i):
    """The agent's protocol bytes sent so far (its `stats` command)."""
    before = len(lines[i])
    procs[i].stdin.write("stats\n")
    procs[i].stdin.flush()
    deadline = time.time() + 5
    while time.time() < deadline:
        for v in lines[i][before:]:
            if isinstance(v, dict) and "stats" in v:
                return v["stats"]["bytes_out"]
        time.sleep(0.02)
    return None


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def events(i, kind, name=None):
    return [v for v in lines[i] if isinstance(v, dict) and v.get("event") == kind and (name is None or v.get("node") == name)]


try:
    if args.loss is not None:
        netns = lossy_namespace(args.loss)
    prefix = ["ip", "netns", "exec", netns] if netns else []
    for i in range(args.agents):
        cmd = prefix + [args.binary, "--name", f"agent-{i}", "--bind", f"127.0.0.1:{args.port + i}",
                        "--profile", args.profile, "--transport", args.transport]
        if i > 0:
            cmd += ["--join", f"127.0.0.1:{args.port}"]
        # `ip netns exec` execs the agent: the child's pid is the agent's, for /proc.
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines.append([])
        threading.Thread(target=reader, args=(i, p.stdout), daemon=True).start()
        procs.append(p)

    deadline = time.time() + 60
    while time.time() < deadline and any(len(ups(i)) < args.agents - 1 for i in range(args.agents)):
        time.sleep(0.2)
    converged = all(len(ups(i)) == args.agents - 1 for i in range(args.agents))

    marks = [len(l) for l in lines]
    before = [cpu_ticks(p.pid) for p in procs]
    sent_before = [bytes_out(i) for i in range(args.agents)]
    wire_before = wire_bytes() if netns else None
    time.sleep(args.settle)
    wire_after = wire_bytes() if netns else None
    sent_after = [bytes_out(i) for i in range(args.agents)]
    after = [cpu_ticks(p.pid) for p in procs]
    cpu = [(a - b) / HZ / args.settle * 100 for a, b in zip(after, before)]
    rss = [rss_kib(p.pid) for p in procs]
    sent = [a - b for a, b in zip(sent_after, sent_before) if a is not None and b is not None]
    steady_suspects = sum(1 for i in range(args.agents) for v in lines[i][marks[i]:]
                          if isinstance(v, dict) and v.get("event") == "member_suspect")

    victim = args.agents - 1
    killed_ms = time.time() * 1000
    if args.fault == "kill":
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
    else:
        procs[victim].send_signal(signal.SIGSTOP)
    name = f"agent-{victim}"

    def down_at(i):
        return next((v["ts_ms"] for v in events(i, "member_down", name)), None)

    deadline = time.time() + 120
    while time.time() < deadline and any(down_at(i) is None for i in range(victim)):
        time.sleep(0.1)
    downs = [down_at(i) for i in range(victim)]
    seen = [d for d in downs if d is not None]
    false_downs = sum(1 for i in range(victim) for v in events(i, "member_down") if v.get("node") != name)
    if args.fault == "stop":
        procs[victim].kill()
        procs[victim].wait()
    loss_measured = counter("dropped") / max(counter("seen"), 1) * 100 if netns else None
    print(json.dumps({
        "agents": args.agents,
        "profile": args.profile,
        "transport": args.transport,
        "fault": args.fault,
        "loss_percent": args.loss,
        "loss_measured_percent": round(loss_measured, 2) if loss_measured is not None else None,
        "converged": converged,
        "rss_kib_mean": sum(rss) / len(rss),
        "rss_kib_max": max(rss),
        "cpu_percent_mean": round(sum(cpu) / len(cpu), 3),
        "cpu_percent_max": round(max(cpu), 3),
        "protocol_bytes_per_agent_per_sec": round(sum(sent) / len(sent) / args.settle, 1) if sent else None,
        "wire_bytes_per_agent_per_sec":
            round((wire_after - wire_before) / args.agents / args.settle, 1) if netns else None,
        "steady_suspect_notices": steady_suspects,
        "detect_first_secs": (min(seen) - killed_ms) / 1000 if seen else None,
        "detect_all_secs": (max(seen) - killed_ms) / 1000 if len(seen) == victim else None,
        "false_downs": false_downs,
    }))
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if netns:
        subprocess.run(["ip", "netns", "del", netns])
