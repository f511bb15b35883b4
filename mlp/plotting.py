"""Training curves as a picture (matplotlib, imported only when asked for, without pyplot:
matplotlib's global backend stays as the user set it)."""

from __future__ import annotations


def plot_history(history, path, title: str | None = None) -> None:
    """Loss per epoch (and validation loss and accuracy where the run has them) to `path`.

    The loss axis is linear unless the losses span more than two decades; the legend sits
    below the axes, so it covers no line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    epochs = range(1, len(history.loss) + 1)
    lines = ax.plot(epochs, history.loss, color="tab:blue", label="training loss")
    if history.val_loss:
        lines += ax.plot(epochs, history.val_loss, color="tab:orange", label="validation loss")
    losses = [v for v in [*history.loss, *history.val_loss] if v > 0]
    if losses and max(losses) / min(losses) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if history.val_accuracy:
        acc = ax.twinx()
        lines += acc.plot(epochs, history.val_accuracy, color="tab:green", linestyle="--", label="validation accuracy")
        acc.set_ylabel("validation accuracy")
        acc.set_ylim(0, 1.02)
    if title:
        ax.set_title(title)
    fig.legend(handles=lines, loc="outside lower center", ncols=len(lines), frameon=False)
    fig.savefig(path)
