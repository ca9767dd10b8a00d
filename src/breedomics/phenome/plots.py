"""Figures of the spatial analysis: the fitted field trend and the residual variogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["plot_field_map", "plot_variogram"]


def _panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(df["environment"], df["trait"], strict=True)))


def _grid(n: int) -> tuple[int, int]:
    ncol = min(n, 4)
    return int(np.ceil(n / ncol)), ncol


def _draw(df: pd.DataFrame, path: Path, value: str, index: str, columns: str, title: str,
          cmap: str, xlabel: str, ylabel: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(df)
    nr, nc = _grid(max(len(panels), 1))
    fig, axes = plt.subplots(nr, nc, figsize=(3.6 * nc, 3.2 * nr), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    for ax, (env, trait) in zip(axes.ravel(), panels, strict=False):
        sub = df[(df["environment"] == env) & (df["trait"] == trait)]
        grid = sub.pivot_table(index=index, columns=columns, values=value)
        im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap=cmap,
                       extent=(grid.columns.min() - 0.5, grid.columns.max() + 0.5,
                               grid.index.min() - 0.5, grid.index.max() + 0.5))  # fmt: skip
        ax.set_title(f"{trait} - {env}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_field_map(trend: pd.DataFrame, path: str | Path) -> None:
    """Field map of the fitted spatial trend (P-spline surface), one panel per trial and
    trait (``trend`` table of :func:`breedomics.phenome.trials.analyse_trials`)."""
    _draw(trend, Path(path), "trend", "row", "col", "Fitted spatial trend (SpATS P-spline)",
          "RdYlGn", "column", "row")  # fmt: skip


def plot_variogram(vg: pd.DataFrame, path: str | Path) -> None:
    """Residual semivariance by row and column displacement, one panel per trial/trait."""
    _draw(vg, Path(path), "semivariance", "row_lag", "col_lag",
          "Residual variogram", "viridis", "column displacement", "row displacement")  # fmt: skip
