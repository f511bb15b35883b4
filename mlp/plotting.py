"""Training curves as a PNG (matplotlib, imported only when asked for)."""

from __future__ import annotations


def plot_history(history, path):
    from matplotlib.figure import Figure  # no pyplot: matplotlib's global backend stays as the user set it

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    epochs = range(1, len(history.loss) + 1)
    ax.plot(epochs, history.loss, label="training loss")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    if history.val_accuracy:
        ax2 = ax.twinx()
        ax2.plot(epochs, history.val_accuracy, color="tab:green", label="validation accuracy")
        ax2.set_ylabel("validation accuracy")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
