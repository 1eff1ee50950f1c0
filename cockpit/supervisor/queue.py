"""Runs waiting for a place, started in launch order when GPUs (or slots) free (issue 20).

A run launched on a local or SSH backend (or a pool of them) passes pre-flight, then becomes
`queued`; `advance` (each poll, and right after a run is queued) places the queued runs of each
backend group in the order they were launched: the first that cannot be placed holds the ones
behind it (launch order, no overtaking). Placement is `core.placement.place` on what the hosts
last said of their GPUs (`GpuHosts`) and what cockpit's runs hold now: runs starting or
running, and ended runs not yet verified gone (their GPU is not handed on before that).

When a queued run's turn comes the launch guards that can change while it waits are checked
again (the plan's state, its cost cap); one they refuse leaves the queue with the reason
(`max_parallel` counts queued runs already, and a hypothesis has one active run at most). A
placed run gets `CUDA_VISIBLE_DEVICES` and `COCKPIT_GPUS`, its host and GPUs are recorded with
stage `launching` in one commit, and the backend launch follows — a supervisor that dies
after that commit resumes the launch like any other (queued runs themselves need nothing: the
next supervisor's `advance` finds them in the store, in the same order).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import replace

from backends.base import RunSpec
from cockpit.core.backend_factory import placement_group
from cockpit.core.config import CockpitConfig
from cockpit.core.placement import Demand, Held, Host, Placement, Waiting, gpus_from, place
from cockpit.core.plan import Hypothesis
from cockpit.core.protocol import FailureClass, Guard, RequestStatus, RunState, Stage
from cockpit.core.records import RunRecord
from cockpit.supervisor import health_facts as facts
from cockpit.supervisor.context import Context
from cockpit.supervisor.gpu_hosts import GpuHosts

RUN_DIR_LATER = "{run_dir}"
"""A placed run's `{run_dir}` in its command until it is placed (the host's directory)."""

Start = Callable[[RunRecord, RunSpec, str], None]
"""What starts a placed run: (the run as it was queued, its spec with the GPUs, the host)."""


def demand_of(config: CockpitConfig, plan_rel: str, hyp: Hypothesis) -> tuple[int, float | None]:
    """GPUs and free memory per GPU a run of `hyp` asks for: the hypothesis's `(gpus: N)`,
    else its plan's override, else the config's."""
    gpus, vram = config.gpus_per_run, config.min_free_vram_gb
    for override in config.plan_overrides:
        if fnmatch.fnmatch(plan_rel, override.match):
            gpus = override.gpus_per_run if override.gpus_per_run is not None else gpus
            vram = override.min_free_vram_gb if override.min_free_vram_gb is not None else vram
            break
    return (hyp.gpus if hyp.gpus is not None else gpus), vram


class Queue:
    def __init__(self, ctx: Context, gpu_hosts: GpuHosts) -> None:
        self.ctx = ctx
        self.gpu_hosts = gpu_hosts
        self.waiting_on: set[str] = set()
        """Hosts a queued run waits on (asked for their GPUs more often)."""
        self._said: dict[str, str] = {}
        """Run id: the queue position and reason last written (written again only when it
        changes, not every poll)."""

    @staticmethod
    def group(ctx: Context, backend: str) -> list[str] | None:
        """The hosts a run launched on `backend` is placed on (a pool's members, or the
        backend itself), or None when its runs are not placed by cockpit."""
        group = placement_group(ctx.config, backend)
        if not group or not all(
            member in ctx.backends and ctx.backends[member].places_runs for member in group
        ):
            return None
        return group

    def enqueue(self, run_id: str, detail: str = "queued: waiting for a place") -> None:
        self.ctx.store.update_run(run_id, state=RunState.QUEUED, stage=Stage.NONE, detail=detail)
        self.ctx.store.add_event(run_id, "queue", "queued")

    def advance(self, start: Start) -> None:
        """Place the queued runs that fit now, in launch order per backend group; `start`
        is called with (run, spec, backend name) for each placed run."""
        ctx = self.ctx
        self.waiting_on = set()
        active = ctx.reader.active_runs()
        queued = [run for run in active if run.state == RunState.QUEUED]
        if not queued:
            return
        held = [
            Held(run.id, run.host, run.gpus)
            for run in [*active, *ctx.reader.runs_in_stage(Stage.WRAP_UP, Stage.STOPPING)]
            if run.host is not None and run.state != RunState.QUEUED
        ]
        ahead: dict[tuple[str, ...], int] = {}
        for run in queued:
            group = self.group(ctx, run.backend)
            if group is None:
                self.leave(run, f"backend {run.backend!r} no longer places runs", failed=True)
                continue
            key = tuple(group)
            if key in ahead:
                ahead[key] += 1
                self._say(run, f"queued #{ahead[key] + 1}: behind earlier launches on "
                               f"{run.backend}")  # fmt: skip
                continue
            refused = self.refused(run)
            if refused:
                self.leave(run, refused)
                continue
            result = self.where(run, group, held)
            if isinstance(result, Waiting):
                ahead[key] = 0
                self.waiting_on.update(group)
                if result.never:
                    self.leave(run, result.reason, failed=True)
                    del ahead[key]
                else:
                    self._say(run, f"queued #1: {result.reason}")
                continue
            held.append(Held(run.id, result.backend, result.gpus))
            self._said.pop(run.id, None)
            spec = self._placed(run, result)
            start(run, spec, result.backend)

    def where(self, run: RunRecord, group: list[str], held: list[Held]) -> Placement | Waiting:
        """Where `run` goes now, or why it waits. A host not asked yet is waited for (the first
        host with room wins, in the configured order); a pool member that cannot be asked holds
        no run back from the others."""
        hosts = [host for member in group if (host := self.host(member, held)) is not None]
        unknown = [member for member in group if member not in {host.backend for host in hosts}]
        failing = self.gpu_hosts.errors
        asking = [member for member in unknown if member not in failing]
        if asking:
            return Waiting(f"asking {', '.join(asking)} for its GPUs")
        demand = Demand(run.want_gpus if run.want_gpus is not None else 1, run.want_vram_gb)
        found = place(demand, hosts, held) if hosts else Waiting("")
        if isinstance(found, Placement) or not unknown:
            return found
        said = "; ".join(f"{member}: {failing[member]}" for member in unknown)
        why = f"cannot ask for GPUs: {said} (asked again)"
        # never placeable only once every host has said what it has
        return Waiting(f"{found.reason}; {why}" if found.reason else why)

    def host(self, name: str, held: list[Held]) -> Host | None:
        """A host as placement sees it, from its settings and its last answer (None: its
        GPUs are not known yet); `held`: what cockpit's runs hold (their GPUs are not
        another user's)."""
        settings = self.ctx.config.backends[name]
        configured = getattr(settings, "gpus", "auto")
        listed = None if isinstance(configured, str) else [int(index) for index in configured]
        slots, share = getattr(settings, "slots", 1), bool(getattr(settings, "share_gpus", False))
        answer = self.gpu_hosts.answers.get(name)
        if answer is None and listed is None:
            return None
        ours = {index for run in held if run.backend == name for index in run.gpus}
        # Listed GPUs with no answer (no nvidia-smi there, not asked yet): trusted, with their
        # memory and other users' processes unknown.
        return Host(name, gpus_from(answer.gpus if answer else (), ours, listed), slots, share)

    def refused(self, run: RunRecord) -> str | None:
        """The launch guards, checked again now that the run's turn has come."""
        ctx = self.ctx
        plan = ctx.plans.get(run.plan)
        if plan is not None and plan.state in ("paused", "stopped"):
            return f"plan state is {plan.state}"
        cap = facts.plan_cap(ctx.reader, ctx.config, run.plan)
        spent = ctx.reader.plan_cost(run.plan)
        if cap is not None and spent >= cap:
            return f"{run.plan} has cost ${spent:.2f}, its plan cap is ${cap:.2f}"
        return None

    def _placed(self, run: RunRecord, placement: Placement) -> RunSpec:
        """Record where the run goes (one commit, stage `launching`) and give its spec the
        GPUs and its host's run directory (`{run_dir}` in the command)."""
        ctx = self.ctx
        spec = RunSpec.from_json(run.spec)
        host = self.host(placement.backend, [])
        env = dict(spec.env)
        if host is not None and host.gpus:  # a host without GPUs: nothing to hide or give
            env["CUDA_VISIBLE_DEVICES"] = placement.visible_devices
            env["COCKPIT_GPUS"] = placement.visible_devices
        backend = ctx.backends[placement.backend]
        command = spec.command.replace(RUN_DIR_LATER, backend.run_dir(run.id))
        spec = replace(spec, env=env, command=command)
        where = placement.backend + (
            f" GPU {placement.visible_devices}" if placement.gpus else " (a slot)"
        )
        with ctx.store.transaction():
            ctx.store.update_run(
                run.id, backend=placement.backend, host=placement.backend,
                pool=run.backend if run.backend != placement.backend else None,
                gpus=placement.gpus, spec=spec.to_json(), state=RunState.STARTING,
                stage=Stage.LAUNCHING, detail=f"placed on {where}",
            )  # fmt: skip
            ctx.store.add_event(run.id, "placed", f"placed on {where}")
        return spec

    def leave(
        self, run: RunRecord, why: str, failed: bool = False, request: str | None = None
    ) -> None:
        """Take a run out of the queue, ended: nothing was launched for it, so nothing is
        terminated and no result is written (stage done at once)."""
        ctx = self.ctx
        self._said.pop(run.id, None)
        state = RunState.FAILED if failed else RunState.STOPPED
        detail = f"left the queue unstarted: {why}"
        with ctx.store.transaction():
            ctx.store.update_run(
                run.id, state=state, detail=detail, ended_at=ctx.clock(), stage=Stage.DONE,
                guard=why, guard_kind=Guard.STOPPED_ON_REQUEST if request else Guard.NONE,
                failure_class=FailureClass.INFRA if failed else None,
            )  # fmt: skip
            ctx.store.add_event(run.id, "queue", detail)
            if request is not None:
                ctx.store.finish_request(request, RequestStatus.DONE, f"removed {run.id}", run.id)

    def _say(self, run: RunRecord, detail: str) -> None:
        if self._said.get(run.id) != detail:
            self._said[run.id] = detail
            self.ctx.store.update_run(run.id, detail=detail)
