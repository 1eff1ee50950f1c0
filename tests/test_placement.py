"""GPU placement as a table (issue 20): free and held GPUs, VRAM thresholds, foreign processes,
multi-GPU runs, fragmentation, several hosts, `share_gpus`, hosts with slots."""

from __future__ import annotations

import pytest

from cockpit.core.placement import Demand, Gpu, Held, Host, Placement, Waiting, place

GB = 1024.0


def gpus(count: int, total_gb: float = 80, used_gb: float = 0.5, foreign: tuple[int, ...] = ()):  # type: ignore[no-untyped-def]
    return tuple(Gpu(i, total_gb * GB, used_gb * GB, i in foreign) for i in range(count))


LAB1 = Host("lab1", gpus(2))
LAB2 = Host("lab2", gpus(4))
CPU = Host("cpu", (), slots=2)


@pytest.mark.parametrize(
    ("demand", "hosts", "held", "expected"),
    [
        # one GPU, nothing held: the first host, the lowest index
        (Demand(), [LAB1], [], Placement("lab1", (0,))),
        # held GPUs are skipped; a full host waits, saying what it saw
        (Demand(), [LAB1], [Held("a", "lab1", (0,))], Placement("lab1", (1,))),
        (Demand(), [LAB1], [Held("a", "lab1", (0,)), Held("b", "lab1", (1,))],
         Waiting("waiting for 1 free GPU on one host (lab1: 0 of 2 free)")),
        # a run on another host does not hold this host's GPU 0
        (Demand(), [LAB1], [Held("a", "lab2", (0,))], Placement("lab1", (0,))),
        # several hosts: the first with room, in their order
        (Demand(), [LAB1, LAB2], [Held("a", "lab1", (0,)), Held("b", "lab1", (1,))],
         Placement("lab2", (0,))),
        # VRAM: another user's memory use counts against the threshold
        (Demand(min_free_vram_gb=40), [Host("lab1", (Gpu(0, 80 * GB, 50 * GB), Gpu(1, 80 * GB)))],
         [], Placement("lab1", (1,))),
        (Demand(min_free_vram_gb=90), [LAB1], [],
         Waiting("waiting for 1 free GPU with 90 GB free each on one host (lab1: 0 of 2 free)")),
        # a foreign process: its GPU is respected even with memory to spare
        (Demand(), [Host("lab1", gpus(2, foreign=(0,)))], [], Placement("lab1", (1,))),
        (Demand(), [Host("lab1", gpus(2, foreign=(0, 1)))], [],
         Waiting("waiting for 1 free GPU on one host (lab1: 0 of 2 free)")),
        # multi-GPU runs need them on one host
        (Demand(gpus=2), [LAB2], [Held("a", "lab2", (1,))], Placement("lab2", (0, 2))),
        (Demand(gpus=4), [LAB2], [], Placement("lab2", (0, 1, 2, 3))),
        (Demand(gpus=8), [LAB1, LAB2], [],
         Waiting("never placeable: 8 free GPUs on one host, and no host has that many", True)),
        # fragmentation: 1 free on lab1 and 1 on lab2 do not make 2
        (Demand(gpus=2), [LAB1, LAB2],
         [Held("a", "lab1", (0,)), Held("b", "lab2", (0, 1, 2))],
         Waiting("waiting for 2 free GPUs on one host (lab1: 1 of 2 free; lab2: 1 of 4 free)")),
        # ... and a 2-GPU run skips the host with one free for the next with two
        (Demand(gpus=2), [LAB1, LAB2], [Held("a", "lab1", (0,))], Placement("lab2", (0, 1))),
        # share_gpus: a held GPU may be shared, memory permitting
        (Demand(), [Host("lab1", gpus(1), share_gpus=True)], [Held("a", "lab1", (0,))],
         Placement("lab1", (0,))),
        (Demand(min_free_vram_gb=40),
         [Host("lab1", (Gpu(0, 80 * GB, 60 * GB),), share_gpus=True)], [Held("a", "lab1", (0,))],
         Waiting("waiting for 1 free GPU with 40 GB free each on one host (lab1: 0 of 1 free)")),
        # a host without GPUs has slots; a GPU run never goes there while a host has GPUs
        (Demand(gpus=0), [CPU], [Held("a", "cpu")], Placement("cpu", ())),
        (Demand(gpus=0), [CPU], [Held("a", "cpu"), Held("b", "cpu")],
         Waiting("waiting for a free slot (cpu: 2 of 2 taken)")),
        (Demand(), [CPU, LAB1], [], Placement("lab1", (0,))),
        # ... but where no host has a GPU at all, every run takes a slot (a laptop, CPU boxes)
        (Demand(), [CPU], [], Placement("cpu", ())),
        (Demand(gpus=2), [CPU], [Held("a", "cpu"), Held("b", "cpu")],
         Waiting("waiting for a free slot (cpu: 2 of 2 taken)")),
        (Demand(), [], [], Waiting("no host is configured")),
    ],
)  # fmt: skip
def test_placement(
    demand: Demand, hosts: list[Host], held: list[Held], expected: Placement | Waiting
) -> None:
    assert place(demand, hosts, held) == expected


def test_visible_devices() -> None:
    assert Placement("lab2", (0, 2)).visible_devices == "0,2"
    assert Placement("cpu", ()).visible_devices == ""


def test_what_a_run_asks_for() -> None:
    """`(gpus: N)` on the hypothesis, else its plan's override, else the config's."""
    from cockpit.core.config import CockpitConfig
    from cockpit.core.plan import Hypothesis
    from cockpit.supervisor.queue import demand_of

    config = CockpitConfig.model_validate(
        {"gpus_per_run": 2, "min_free_vram_gb": 20,
         "plan_overrides": [{"match": "big/*", "gpus_per_run": 4, "min_free_vram_gb": 70}]}
    )  # fmt: skip
    plain = Hypothesis("H1", "a", False, 1)
    assert demand_of(config, "hypotheses.md", plain) == (2, 20)
    assert demand_of(config, "big/hypotheses.md", plain) == (4, 70)
    assert demand_of(config, "big/hypotheses.md", Hypothesis("H2", "b", False, 2, gpus=1)) == (
        1, 70,
    )  # fmt: skip
    assert demand_of(CockpitConfig(), "hypotheses.md", plain) == (1, None)
