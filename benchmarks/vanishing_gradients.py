"""Vanishing gradients, measured: the plain ``rnn`` against the ``lstm`` on a long-memory task.

Task (a marked copy): ``--steps`` standard-normal values with a second input channel that marks one step; the target,
read once after the last step, is the marked value. Training marks a step uniformly at random, so memory spans of
every length are taught, short ones first; the gradients are measured where the mark is ``--lag`` steps back from the
end (``--lag 100 --steps 100``: the very first input, "the target is the input 100 steps back"). Each model
(``--model rnn`` and ``--model lstm``'s ``RecurrentRegressor``: one recurrent layer, a linear head on the final state)
trains with Adam (gradient norm clipped at 1) on fresh batches; then ``python main.py inspect``'s recording
(:mod:`models.introspection.probe`) gives ‖∂L/∂h_t‖ on a held-out batch, in float64, and the ratio
‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (:func:`models.introspection.statistics.first_to_last`). Pascanu et al. (2013): the Elman RNN's
gradient shrinks geometrically on its way back; the LSTM's cell path, with forget gates near 1, keeps it.

    python benchmarks/vanishing_gradients.py [--steps 100] [--lag 100] [--hidden 32] [--train_steps 4000]
        [--lr 0.01] [--seeds 0,1,2] [--plot docs/introspection/vanishing_gradients.png]

Prints one row per model and seed and the median ratio of each model, as docs/introspection.md shows it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from data.series_meta import SeriesSpec  # noqa: E402
from models.introspection.probe import record_states  # noqa: E402
from models.introspection.statistics import first_to_last, gradient_norms  # noqa: E402
from models.recurrent_regressor import RecurrentRegressor  # noqa: E402


def long_memory_batch(batch: int, steps: int, generator: torch.Generator,
                      lag: Optional[int] = None) -> tuple[Any, Any]:
    """x (batch, steps, 2): standard-normal values and a marker channel that is 1 at one step; y (batch, 1, 1): the
    marked value, read after the last step. The marked step is ``lag`` steps back from the end (``lag == steps``:
    the first input), or uniform over the sequence when ``lag`` is None (training)."""
    x = torch.randn(batch, steps, 2, generator=generator)
    back = (torch.randint(1, steps + 1, (batch,), generator=generator) if lag is None
            else torch.full((batch,), lag))
    marked = steps - back
    x[:, :, 1] = 0.0
    x[torch.arange(batch), marked, 1] = 1.0
    return x, x[torch.arange(batch), marked, 0].view(batch, 1, 1).clone()


def build(model: str, steps: int, hidden: int, seed: int) -> RecurrentRegressor:
    torch.manual_seed(seed)
    spec = SeriesSpec(n_features=2, seq_len=steps, horizon=1, n_targets=1, target_index=(0,))
    return RecurrentRegressor(model, spec, hidden)


def train(model: RecurrentRegressor, steps: int, train_steps: int, seed: int, batch: int = 32,
          lr: float = 1e-2) -> float:
    """Adam on fresh batches (marked steps anywhere), gradient norm clipped at 1 (the project's default); returns the
    mean MSE of the last 50 steps."""
    generator = torch.Generator().manual_seed(1000 + seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(train_steps):
        x, y = long_memory_batch(batch, steps, generator)
        loss = torch.nn.functional.mse_loss(model(x)[0], y)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        losses.append(loss.item())
    tail = losses[-50:]
    return sum(tail) / len(tail)


def gradient_flow(model: RecurrentRegressor, steps: int, lag: int, seed: int, batch: int = 64) -> tuple[float, Any]:
    """(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖, the mean norm per step) of the summed squared error on a held-out batch, in float64
    (a vanished gradient underflows float32 to exactly 0)."""
    x, y = long_memory_batch(batch, steps, torch.Generator().manual_seed(10_000 + seed), lag)
    x, y = x.double(), y.double()
    model = model.double().eval()
    with record_states(model) as recording:
        ((model(x)[0] - y) ** 2).sum().backward()
    (record,) = recording.states()
    return first_to_last(record), gradient_norms(record).mean(axis=0)


def run(model_name: str, steps: int, lag: int, hidden: int, train_steps: int, seed: int,
        lr: float = 1e-2) -> dict[str, Any]:
    started = time.perf_counter()
    model = build(model_name, steps, hidden, seed)
    loss = train(model, steps, train_steps, seed, lr=lr)
    ratio, profile = gradient_flow(model, steps, lag, seed)
    return {"model": model_name, "seed": seed, "mse": loss, "ratio": ratio, "profile": profile,
            "seconds": time.perf_counter() - started}


def plot(results: list[dict[str, Any]], path: Path, steps: int, lag: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    colors = {"rnn": "tab:red", "lstm": "tab:blue"}
    for result in results:
        ax.plot(range(steps), result["profile"], color=colors.get(result["model"], "0.3"), lw=1.2, alpha=0.8,
                label=f"{result['model']} (seed {result['seed']}): first/last {result['ratio']:.1e}")
    ax.set_yscale("log")
    ax.set_xlabel("input step t (0 = oldest; the target is read after the last)")
    ax.set_ylabel("mean ‖∂L/∂h_t‖")
    ax.set_title(f"trained on target = input {lag} steps back: gradient flow through time", fontsize=10)
    ax.grid(alpha=0.3, which="both", lw=0.5)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| model | seed | train MSE (last 50 steps) | ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['seed']} | {r['mse']:.3f} | {r['ratio']:.2e} |" for r in results]
    medians = {m: statistics.median(r["ratio"] for r in results if r["model"] == m)
               for m in dict.fromkeys(r["model"] for r in results)}
    lines.append("")
    lines.append("median ratio: " + ", ".join(f"{m} {v:.2e}" for m, v in medians.items())
                 + (f"; lstm / rnn = {medians['lstm'] / medians['rnn']:.1e}" if {"rnn", "lstm"} <= set(medians)
                    else ""))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="input steps per sequence")
    parser.add_argument("--lag", type=int, default=100, help="the target is the input this many steps back")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--train_steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--plot", default=None, help="PNG of ‖∂L/∂h_t‖ against t for every model and seed")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for model_name in ("rnn", "lstm"):  # interleaved, so shared-load noise hits both
            results.append(run(model_name, args.steps, args.lag, args.hidden, args.train_steps, seed, args.lr))
            print(f"{model_name} seed {seed}: {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(table(results))
    if args.plot:
        plot(results, Path(args.plot), args.steps, args.lag)


if __name__ == "__main__":
    main()
