"""A real single-node Slurm cluster for the tests: Debian's `slurm-wlm` and `munge`, started in
a temporary directory on ports of its own — `munged`, `slurmctld` and `slurmd` in the
foreground (ended by the fixture), a generated `slurm.conf` (the node named after
`hostname -s`, linuxproc process tracking, no task plugin, cons_tres, accounting off; job
credentials expire after 5 s, so a requeued job is eligible again after ~6 s instead of
~2 min — started earlier its credential is still revoked and it fails), all
state and spool under the directory, `SlurmUser=root`. Commands reach it with `SLURM_CONF`
set (`Cluster.env`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.conftest import wait_for

DAEMONS = ("munged", "slurmctld", "slurmd")


def missing() -> list[str]:
    return [name for name in (*DAEMONS, "sbatch", "squeue", "scontrol") if not _which(name)]


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if os.path.exists(f"{d}/{name}")), None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("state", "spool", "log", "munge"):
            (root / sub).mkdir(parents=True)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = root / "munge" / "munge.socket"
        self.node = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.conf.write_text(self._config())
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.processes: list[subprocess.Popen[bytes]] = []
        self._start(
            [_which("munged") or "munged", "-F", "--force", f"--key-file={key}",
             f"--socket={self.socket}", f"--pid-file={root}/munge/munged.pid",
             f"--log-file={root}/log/munged.log", f"--seed-file={root}/munge/seed"],
        )  # fmt: skip
        wait_for(self.socket.exists, timeout=30, what="munged's socket")
        self._start([_which("slurmctld") or "slurmctld", "-D", "-i"])
        self._start([_which("slurmd") or "slurmd", "-D"])
        wait_for(lambda: self.node_state() == "idle", timeout=60, what="the node to be idle")

    def _config(self) -> str:
        root = self.root
        return f"""ClusterName=cockpit-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={self.socket},cred_expire=5
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=30
InactiveLimit=0
KillWait=2
Waittime=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

    def _start(self, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{Path(argv[0]).name}.out", "wb")  # noqa: SIM115
        self.processes.append(
            subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        )

    def run(self, *argv: str) -> str:
        result = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)}: {result.stderr or result.stdout}")
        return result.stdout

    def node_state(self) -> str:
        try:
            return self.run("sinfo", "-h", "-n", self.node, "-o", "%T").strip().rstrip("*")
        except AssertionError:
            return ""

    def jobs(self) -> list[str]:
        """`id state reason` of every job in the queue."""
        return self.run("squeue", "-h", "-o", "%i %T %r").splitlines()

    def held_jobs(self, count: int, prefix: str = "cockpit-bulk") -> list[str]:
        """`count` held jobs named `<prefix><n>` (n from 1): they wait, never run."""
        return self.run(
            "sh", "-c", f"for i in $(seq {count}); do sbatch --parsable --hold "
            f"--job-name={prefix}$i --wrap true; done",
        ).split()  # fmt: skip

    def stop(self) -> None:
        subprocess.run(["scancel", "--user", "root"], env=self.env, check=False)
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def squeue_counter(folder: Path) -> Path:
    """A folder holding a `squeue` that counts its calls (one `x` a call in `calls` there)
    and runs the real one: put it first in PATH on the login node."""
    folder.mkdir(parents=True, exist_ok=True)
    real = _which("squeue") or "/usr/bin/squeue"
    shim = folder / "squeue"
    shim.write_text(f'#!/bin/sh\necho x >> {folder}/calls\nexec {real} "$@"\n')
    shim.chmod(0o755)
    return folder
