"""SIGKILL sweep: `kill -9` of the raycluster command line at seeded random
moments of `up`, `scale` and `down`, then the same command again, which must
converge. Against the EC2 emulator (tests/emulators/ec2, real sshd hosts) and
against the localhost provider.

Each run is one cluster: up (killed), up, scale to a seeded size (killed),
scale again, down (killed), down. After each completed command it checks:

  * no duplicate: the cluster has exactly the nodes asked for, and on EC2
    every RunInstances ClientToken launched exactly its MaxCount, once;
  * every instance the emulator ever made carries the cluster's name and id
    tags (tagged from creation);
  * the state folder's JSON files parse;
  * after the final down, nothing of the cluster is left: no live instance
    (EC2), no node record and no process of its nodes (localhost).

Kill points (operation and delay) are printed; a delay past the command's
own end kills nothing and is counted apart. Used by tests/killsweep (a short
sweep) and bench/killsweep_bench.py (a long one).
"""
import collections
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "emulators"))
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "aws"))

# Upper bounds of the kill delay per operation, in seconds: about the
# command's own duration here, so most kills land inside it.
DELAY = {"ec2": {"up": 2.0, "scale": 1.2, "down": 0.8},
         "localhost": {"up": 0.8, "scale": 0.5, "down": 0.4}}


class Tally:
    def __init__(self):
        self.runs = 0
        self.kill_points = 0       # kills that landed while the command ran
        self.finished_first = 0    # the command had ended before its kill time
        self.violations = []

    def as_dict(self):
        return {"runs": self.runs, "kill_points": self.kill_points,
                "finished_before_kill": self.finished_first,
                "violations": len(self.violations), "violation_details": self.violations[:20]}


class Sweep:
    """Common to both providers: running, killing and checking commands."""

    def __init__(self, binary, workdir, env, kind, tally, log=print):
        self.bin = binary
        self.work = pathlib.Path(workdir)
        self.home = self.work / "state"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = dict(env, RAYCLUSTER_HOME=str(self.home))
        self.kind = kind
        self.tally = tally
        self.log = log

    def run(self, *args, timeout=300):
        return subprocess.run([self.bin, *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def killed(self, where, args, delay):
        proc = subprocess.Popen([self.bin, *map(str, args)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
            self.tally.finished_first += 1
            self.log(f"killsweep {where}: {args[0]} ended (exit {proc.returncode}) "
                     f"before its kill at {delay:.3f}s")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.tally.kill_points += 1
            self.log(f"killsweep {where}: kill -9 {args[0]} at {delay:.3f}s")

    def complete(self, where, *args):
        """Runs a command to its end; False (and a violation) when it fails."""
        start = time.time()
        r = self.run(*args, "-y")
        self.log(f"killsweep {where}: {args[0]} again: exit {r.returncode} in {time.time() - start:.2f}s")
        if r.returncode != 0:
            self.violate(where, f"{args[0]} after a kill exited {r.returncode}: "
                                f"{r.stderr.strip()[-400:]}")
            return False
        return True

    def violate(self, where, what):
        self.tally.violations.append(f"{where}: {what}")
        self.log(f"killsweep VIOLATION {where}: {what}")

    def check_state_files(self, where, name):
        folder = self.home / name
        for path in folder.rglob("*.json") if folder.exists() else []:
            try:
                json.loads(path.read_text())
            except (OSError, ValueError) as e:
                self.violate(where, f"state file {path} does not parse: {e}")

    def sweep_one(self, rng, name, config):
        """One run: up, scale, down, each killed once and then completed."""
        where = f"{self.kind} {name}"
        d = DELAY[self.kind]
        self.tally.runs += 1
        self.killed(where, ["up", config, "-y"], rng.uniform(0.0, d["up"]))
        if self.complete(where, "up", config):
            self.check_size(where, name, config, self.initial_workers)
        self.check_state_files(where, name)
        workers = rng.choice([w for w in range(self.min_workers, self.max_workers + 1)
                              if w != self.initial_workers])
        args = ["scale", config, "--workers", str(workers), "-y"]
        self.killed(where, args, rng.uniform(0.0, d["scale"]))
        if self.complete(where, *args[:-1]):
            self.check_size(where, name, config, workers)
        self.check_state_files(where, name)
        self.killed(where, ["down", config, "-y"], rng.uniform(0.0, d["down"]))
        if self.complete(where, "down", config):
            self.check_gone(where, name)
        self.check_tags(where, name)


class Ec2Sweep(Sweep):
    min_workers = initial_workers = 1  # the AWS suites' config: min_workers = initial
    max_workers = 3

    def __init__(self, binary, workdir, ec2, key, tally, log=print):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k != "RAYCLUSTER_CHECKIP_URL"}
        env.update({
            "AWS_ACCESS_KEY_ID": ec2.access_key, "AWS_SECRET_ACCESS_KEY": ec2.secret_key,
            "AWS_CONFIG_FILE": str(pathlib.Path(workdir) / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(pathlib.Path(workdir) / "no-aws-credentials"),
            "RAYCLUSTER_CHECKIP_URL": f"{ec2.url}/_emulator/checkip",
            "AWS_ENDPOINT_URL_IAM": ec2.url,
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        })
        env.pop("SSH_AUTH_SOCK", None)
        super().__init__(binary, workdir, env, "ec2", tally, log)
        self.ec2 = ec2
        self.key = key
        self.marks = self.work / "marks"
        self.marks.mkdir(exist_ok=True)

    def config(self, name):
        from marked_config import write_config
        return write_config(
            self.work / f"{name}.yaml", name, workers=self.initial_workers,
            max_workers=self.max_workers, marks=self.marks, node_config="{InstanceType: m5.large}",
            provider={"type": "aws", "region": "us-east-1", "endpoint_url": self.ec2.url},
            auth={"ssh_user": "root", "ssh_private_key": self.key, "ssh_port": self.ec2.ssh_port},
            autoscaler="local")

    def of(self, name):
        return [i for i in self.ec2.instances() if i["tags"].get("ray-cluster-name") == name]

    def live(self, name):
        return [i for i in self.of(name) if i["state"] in ("pending", "running")]

    def check_size(self, where, name, config, workers):
        live = self.live(name)
        heads = [i for i in live if i["tags"].get("ray-node-type") == "head"]
        if len(live) != 1 + workers or len(heads) != 1:
            self.violate(where, f"{len(live)} live instances ({len(heads)} heads), "
                                f"asked for 1 head and {workers} workers")
        self.check_launches(where, name)

    def check_launches(self, where, name):
        tokens = collections.Counter(i["client_token"] for i in self.of(name))
        by_token = collections.defaultdict(set)
        for call in self.ec2.calls():
            if call.get("action") == "RunInstances" and call.get("status") == 200:
                by_token[call["params"]["ClientToken"]].add(int(call["params"]["MaxCount"]))
        for token, counts in by_token.items():
            if token not in tokens:
                continue  # another cluster's
            if len(counts) != 1 or tokens[token] != counts.pop():
                self.violate(where, f"ClientToken {token} made {tokens[token]} instances")

    def check_gone(self, where, name):
        left = [i["id"] for i in self.of(name) if i["state"] not in ("shutting-down", "terminated")]
        if left:
            self.violate(where, f"instances left after down: {left}")
        iam = self.ec2.iam_state()
        if iam["roles"] or iam["instance_profiles"]:
            self.violate(where, f"IAM left after down: {iam}")

    def check_tags(self, where, name):
        for i in self.ec2.instances():
            if not i["tags"].get("ray-cluster-name") or not i["tags"].get("raycluster-id"):
                self.violate(where, f"instance {i['id']} without cluster tags: {i['tags']}")


SHELL = """
cluster_name: {name}
provider:
  type: localhost
max_workers: 3
head_node_type: head
available_node_types:
  head:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 0
  worker:
    resources: {{CPU: 1}}
    min_workers: 0
    max_workers: 3
    initial_workers: 2
setup_commands:
  - sleep 0.$((RANDOM % 5))
head_start_ray_commands:
  - setsid env -i sleep {mark} > /dev/null 2>&1 < /dev/null &
worker_start_ray_commands:
  - nohup env -i sleep {mark} > /dev/null 2>&1 &
"""


class LocalSweep(Sweep):
    min_workers = 0
    initial_workers = 2
    max_workers = 3

    def __init__(self, binary, workdir, tally, log=print):
        env = dict(os.environ)
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
        super().__init__(binary, workdir, env, "localhost", tally, log)
        self.marks = {}

    def config(self, name):
        mark = 90000 + random.Random(name).randrange(9000)
        self.marks[name] = mark
        path = self.work / f"{name}.yaml"
        path.write_text(textwrap.dedent(SHELL.format(name=name, mark=mark)).lstrip("\n"))
        return path

    def records(self, name):
        nodes = self.home / name / "nodes"
        out = []
        for p in sorted(nodes.glob("*.json")) if nodes.exists() else []:
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                pass  # reported by check_state_files
        return out

    def sleeps(self, name):
        want = b"sleep\0" + str(self.marks[name]).encode() + b"\0"
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read() == want:
                        found.append(int(entry))
            except OSError:
                pass
        return found

    def check_size(self, where, name, config, workers):
        recs = self.records(name)
        heads = [r for r in recs if r["kind"] == "head"]
        if len(recs) != 1 + workers or len(heads) != 1:
            self.violate(where, f"{len(recs)} nodes ({len(heads)} heads), "
                                f"asked for 1 head and {workers} workers")
        # Each node's start command leaves one sleep; a killed run's are gone.
        deadline = time.time() + 10
        while len(self.sleeps(name)) != 1 + workers and time.time() < deadline:
            time.sleep(0.1)
        if len(self.sleeps(name)) != 1 + workers:
            self.violate(where, f"{len(self.sleeps(name))} node daemons for {1 + workers} nodes")

    def check_gone(self, where, name):
        if self.records(name):
            self.violate(where, f"node records left after down: {len(self.records(name))}")
        left = self.sleeps(name)
        if left:
            self.violate(where, f"processes left after down: {left}")
            for pid in left:  # the sweep's own, found by their unique command line
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def check_tags(self, where, name):
        pass  # localhost nodes are records, written whole with their tags


def sweep(kinds, seed, runs, binary, workdir, log=print):
    """Runs `runs` runs of each kind ("ec2", "localhost"); returns the tally."""
    tally = Tally()
    rng = random.Random(seed)
    workdir = pathlib.Path(workdir)
    if "localhost" in kinds:
        local = LocalSweep(binary, workdir / "localhost", tally, log)
        for i in range(runs):
            name = f"ks{seed}l{i}"
            local.sweep_one(rng, name, local.config(name))
    if "ec2" in kinds:
        from ec2 import Ec2Emulator
        key = workdir / "id_ed25519"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        public = (workdir / "id_ed25519.pub").read_text()
        with Ec2Emulator(region="us-east-1", boot_seconds=0.5, terminate_seconds=0.5,
                         ssh={"authorized_keys": public, "workdir": str(workdir / "hosts")}) as ec2:
            aws = Ec2Sweep(binary, workdir / "ec2", ec2, key, tally, log)
            for i in range(runs):
                name = f"ks{seed}e{i}"
                aws.sweep_one(rng, name, aws.config(name))
    log(f"killsweep: runs {tally.runs}, kill points {tally.kill_points} "
        f"(+{tally.finished_first} commands ended before their kill), "
        f"violations {len(tally.violations)}")
    return tally
