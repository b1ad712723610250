"""Plotly figures of the dashboard, made from the plain tables of `arena.dashboard.data`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

BAND_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]


def forest_plot(frame: pd.DataFrame, with_sc: bool) -> go.Figure:
    """Ratings with their 95% intervals, best at the top; optionally the style-controlled ones."""
    ordered = frame.sort_values("Rating")
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=ordered["Rating"], y=ordered["Model"], mode="markers", name="Bradley-Terry",
        marker={"size": 10, "color": BAND_COLOURS[0]},
        error_x={"type": "data", "symmetric": False, "array": ordered["CI high"] - ordered["Rating"],
                 "arrayminus": ordered["Rating"] - ordered["CI low"]},
        customdata=ordered[["CI low", "CI high", "Battles"]].to_numpy(),
        hovertemplate="%{y}: %{x:.1f} (95% CI %{customdata[0]:.1f}–%{customdata[1]:.1f}), "
                      "%{customdata[2]} battles<extra></extra>",
    ))
    if with_sc and ordered["Rating (SC)"].notna().any():
        figure.add_trace(go.Scatter(
            x=ordered["Rating (SC)"], y=ordered["Model"], mode="markers", name="Style-controlled",
            marker={"size": 9, "symbol": "diamond", "color": BAND_COLOURS[1]},
            error_x={"type": "data", "symmetric": False,
                     "array": ordered["SC CI high"] - ordered["Rating (SC)"],
                     "arrayminus": ordered["Rating (SC)"] - ordered["SC CI low"]},
            hovertemplate="%{y}: %{x:.1f} style-controlled<extra></extra>",
        ))
    figure.update_layout(
        height=max(260, 40 * len(ordered) + 100), margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="Rating (95% CI)", legend={"orientation": "h", "y": 1.08},
    )
    return figure


def heatmap(matrix: pd.DataFrame, title: str, value_format: str, colorscale: str,
            zrange: tuple[float, float] | None = None, hover_label: str = "value") -> go.Figure:
    """Row model against column model, values on hover (and printed in cells when few models)."""
    figure = go.Figure(go.Heatmap(
        z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), colorscale=colorscale,
        zmin=zrange[0] if zrange else None, zmax=zrange[1] if zrange else None, hoverongaps=False,
        texttemplate=f"%{{z:{value_format}}}" if len(matrix) <= 12 else None,
        hovertemplate=f"%{{y}} vs %{{x}}<br>{hover_label}: %{{z:{value_format}}}<extra></extra>",
    ))
    figure.update_layout(
        title=title, height=max(320, 38 * len(matrix) + 160),
        xaxis={"title": "opponent", "side": "bottom", "tickangle": -30},
        yaxis={"title": "model", "autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return figure


def history_plot(frame: pd.DataFrame, order: list[str]) -> go.Figure:
    """Each model's rating over the snapshots, with its 95% interval as a band."""
    figure = go.Figure()
    for k, model in enumerate(order):
        rows = frame[frame["model"] == model].sort_values("created_at")
        if rows.empty:
            continue
        colour = BAND_COLOURS[k % len(BAND_COLOURS)]
        x = list(rows["created_at"])
        figure.add_trace(go.Scatter(
            x=x + x[::-1], y=list(rows["ci_high"]) + list(rows["ci_low"])[::-1], fill="toself",
            fillcolor=colour, opacity=0.15, line={"width": 0}, hoverinfo="skip", showlegend=False,
            legendgroup=model,
        ))
        figure.add_trace(go.Scatter(
            x=x, y=rows["rating"], mode="lines+markers", name=model, line={"color": colour},
            legendgroup=model, customdata=rows[["ci_low", "ci_high", "snapshot"]].to_numpy(),
            hovertemplate=f"{model}: %{{y:.1f}} (95% CI %{{customdata[0]:.1f}}–%{{customdata[1]:.1f}}), "
                          "snapshot #%{customdata[2]}<extra></extra>",
        ))
    figure.update_layout(height=480, yaxis_title="Rating", xaxis_title="snapshot time",
                         margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def length_plot(table: pd.DataFrame) -> go.Figure:
    """Share of wins of the longer answer against how much longer it is."""
    centres = (table["bin_low"] + table["bin_high"]) / 2
    figure = go.Figure(go.Scatter(
        x=centres, y=table["longer_wins"], mode="lines+markers",
        marker={"size": [6 + 14 * (n / max(table["battles"].max(), 1)) ** 0.5 for n in table["battles"]]},
        customdata=table["battles"], name="longer answer",
        hovertemplate="length difference %{x:.2f}: longer answer scores %{y:.1%} "
                      "(%{customdata} battles)<extra></extra>",
    ))
    figure.add_hline(y=0.5, line_dash="dot", annotation_text="no length bias")
    figure.update_layout(
        height=380, xaxis_title="|len A − len B| / (len A + len B)",
        yaxis={"title": "longer answer's score (ties ½)", "range": [0, 1], "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure
