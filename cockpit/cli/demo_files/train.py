"""Demo trainer: logistic regression on a synthetic data set, in pure Python.

It really trains: every loss and validation number it prints is computed. A short pause per
step makes the run last about 40 seconds, so there is something to watch. It writes `best.pt`
(the best weights, pickled) and `metrics.json` into $COCKPIT_RUN_DIR at the end.
"""

import argparse
import json
import math
import os
import pickle
import random
import time

SETTINGS = {
    "H1": {"lr": 0.5, "weight_decay": 0.0},
    "H2": {"lr": 0.5, "weight_decay": 1e-3},
    "H3": {"lr": 40.0, "weight_decay": 0.0, "warmup": 60},
}


def make_data(n, seed):
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        centre = 1.0 if label else -1.0
        features = [rng.gauss(centre * 0.8, 1.0) for _ in range(4)]
        data.append((features, 1.0 if label else 0.0))
    return data


def sigmoid(z):
    return 1.0 / (
        1.0 + math.exp(-z)
    )  # overflows for huge |z|: H3 finds out when its learning rate has warmed up


def evaluate(weights, bias, data):
    loss, correct = 0.0, 0
    for features, label in data:
        p = sigmoid(sum(w * x for w, x in zip(weights, features, strict=True)) + bias)
        loss -= label * math.log(p) + (1 - label) * math.log(1 - p)
        correct += (p >= 0.5) == (label == 1.0)
    return loss / len(data), correct / len(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hypothesis", default="H1")
    parser.add_argument("--steps", type=int, default=int(os.environ.get("DEMO_STEPS", 200)))
    parser.add_argument(
        "--step-seconds", type=float, default=float(os.environ.get("DEMO_STEP_SECONDS", 0.2))
    )
    args = parser.parse_args()
    settings = SETTINGS.get(args.hypothesis.upper(), SETTINGS["H1"])
    run_dir = os.environ.get("COCKPIT_RUN_DIR", ".")
    train, val = make_data(2000, seed=1), make_data(500, seed=2)
    weights, bias = [0.0] * 4, 0.0
    rng = random.Random(3)
    best: tuple[float, object] = (float("inf"), None)
    print(f"training {args.hypothesis}: {settings}", flush=True)
    for step in range(1, args.steps + 1):
        started = time.perf_counter()
        batch = rng.sample(train, 64)
        grad_w, grad_b, loss = [0.0] * 4, 0.0, 0.0
        for features, label in batch:
            p = sigmoid(sum(w * x for w, x in zip(weights, features, strict=True)) + bias)
            loss -= label * math.log(p) + (1 - label) * math.log(1 - p)
            for i, x in enumerate(features):
                grad_w[i] += (p - label) * x
            grad_b += p - label
        n = len(batch)
        lr = settings["lr"] * min(1.0, step / settings.get("warmup", 1))
        weights = [
            w - lr * (g / n + settings["weight_decay"] * w)
            for w, g in zip(weights, grad_w, strict=True)
        ]
        bias -= lr * grad_b / n
        elapsed = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "step": step,
                    "loss": round(loss / n, 5),
                    "lr": round(lr, 5),
                    "samples_per_s": round(n / max(elapsed, 1e-9)),
                }
            ),
            flush=True,
        )
        if step % 20 == 0:
            val_loss, val_acc = evaluate(weights, bias, val)
            print(
                json.dumps(
                    {"step": step, "val_loss": round(val_loss, 5), "val_acc": round(val_acc, 4)}
                ),
                flush=True,
            )
            if val_loss < best[0]:
                best = (val_loss, {"weights": weights, "bias": bias, "step": step})
        time.sleep(args.step_seconds)
    val_loss, val_acc = evaluate(weights, bias, val)
    with open(os.path.join(run_dir, "best.pt"), "wb") as handle:
        pickle.dump(best[1], handle)
    with open(os.path.join(run_dir, "metrics.json"), "w") as handle:
        json.dump(
            {
                "val_loss": val_loss,
                "val_acc": val_acc,
                "steps": args.steps,
                "best_val_loss": best[0],
            },
            handle,
        )
    print(f"done: val_loss={val_loss:.4f} val_acc={val_acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
