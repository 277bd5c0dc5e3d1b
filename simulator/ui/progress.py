"""Progress tab: a trainee's scores over time (each dimension and overall, per
scenario) and, for reviewers, trainers and admins, the cohort: who improves, who
is stuck, which scenario is hardest. Gradio's native plots (Vega-Lite).
"""

from __future__ import annotations

import pandas as pd
import gradio as gr

from ..progress import DEFAULT_PASS_MARK, cohort, scenario_difficulty, series_rows, trainee_progress
from ..report import dim_label, label, local_time
from ..reviews import SessionFilter
from ..runtime import Simulator
from .i18n import t
from .login import current_user, require
from .review import reviews_of

SERIES_COLUMNS = ["date", "score", "series", "scenario"]


def _fmt(x: float | None, digits: int = 1, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f} %"


def build_progress_tab(sim: Simulator, demo: gr.Blocks) -> None:
    lang = sim.settings.language
    reviews = reviews_of(sim)
    access = sim.access
    everyone = (t(lang, "all"), "")

    with gr.Row():
        p_trainee = gr.Dropdown([], label=t(lang, "trainee"), elem_id="progress-trainee")
        p_scenario = gr.Dropdown([everyone], value="", label=t(lang, "scenario"), elem_id="progress-scenario")
    summary = gr.Markdown("", elem_id="progress-summary")
    over_time = dict(x="date", y="score", y_lim=[1, 5], x_axis_format="%d/%m", x_label_angle=-45,
                     x_title=t(lang, "date"))
    dims_plot = gr.LinePlot(pd.DataFrame(columns=SERIES_COLUMNS), color="series", color_title=t(lang, "series"),
                            y_title=t(lang, "score"), label=t(lang, "plot_dimensions"), elem_id="progress-dimensions",
                            **over_time)
    scen_plot = gr.LinePlot(pd.DataFrame(columns=SERIES_COLUMNS), color="scenario", color_title=t(lang, "scenario"),
                            y_title=t(lang, "overall"), label=t(lang, "plot_scenarios"), elem_id="progress-scenarios",
                            **over_time)
    with gr.Column(visible=False, elem_id="cohort-panel") as cohort_panel:
        gr.Markdown(f"### {t(lang, 'cohort_title')}")
        cohort_table = gr.Dataframe(pd.DataFrame([]), interactive=False, wrap=True, label=t(lang, "cohort_table"),
                                    elem_id="cohort-table")
        with gr.Row():
            trend_plot = gr.BarPlot(pd.DataFrame(columns=["trainee", "trend", "status"]), x="trainee", y="trend",
                                    color="status", color_title=t(lang, "status"), x_title=t(lang, "trainee"),
                                    y_title=t(lang, "trend_axis"), label=t(lang, "plot_trend"), elem_id="cohort-trend")
            hard_plot = gr.BarPlot(pd.DataFrame(columns=["scenario", "mean", "calls"]), x="scenario", y="mean",
                                   y_lim=[0, 5], sort="y", x_title=t(lang, "scenario"), y_title=t(lang, "overall"),
                                   label=t(lang, "plot_hardest"), elem_id="cohort-scenarios")
        cohort_plot = gr.LinePlot(pd.DataFrame(columns=["date", "score", "trainee"]), color="trainee",
                                  color_title=t(lang, "trainee"), y_title=t(lang, "overall"),
                                  label=t(lang, "plot_cohort"), elem_id="cohort-overall", **over_time)
        scen_table = gr.Dataframe(pd.DataFrame([]), interactive=False, label=t(lang, "scenario_table"),
                                  elem_id="scenario-table")

    def trainee_view(trainee, scenario, request: gr.Request):
        user = require(access, request, lang)
        sessions = reviews.list_sessions(user, SessionFilter(sort="date_asc"))
        if not access.can(user, "view_others"):
            trainee = user.username
        trainee = trainee or None
        # `sessions` holds only what this user may see, so naming someone else's trainee yields nothing
        chosen = [s for s in sessions if s.trainee == trainee and (not scenario or s.scenario_id == scenario)]
        rows = series_rows(chosen, reviews.tz, overall_label=t(lang, "overall"), dim_label=lambda d: dim_label(lang, d))
        df = pd.DataFrame(rows, columns=SERIES_COLUMNS)
        overall_df = df[df["series"] == t(lang, "overall")] if not df.empty else df
        return summary_text(trainee_progress(trainee, chosen), lang), df, overall_df

    def cohort_view(request: gr.Request):
        user = require(access, request, lang)
        if not access.can(user, "view_others"):
            return (gr.update(visible=False),) + (gr.update(),) * 5
        sessions = reviews.list_sessions(user, SessionFilter(sort="date_asc"))
        people = cohort(sessions)
        headers = [t(lang, k) for k in ("trainee", "calls", "last_call", "recent_mean", "trend", "status", "pass_rate",
                                        "critical_errors", "work_on", "scenarios_practised")]
        rows = [[p.trainee or t(lang, "local_user"), p.calls, local_time(p.last_call, reviews.tz, "%d/%m/%Y"),
                 _fmt(p.recent_mean), _fmt(p.trend, 2, signed=True), t(lang, f"progress_{p.status}"), _pct(p.pass_rate),
                 p.critical_errors, dim_label(lang, p.weakest) if p.weakest else "–",
                 ", ".join(f"{k} ×{v}" for k, v in sorted(p.scenarios.items()))] for p in people]
        trend_df = pd.DataFrame([{"trainee": p.trainee or t(lang, "local_user"), "trend": round(p.trend, 3),
                                  "status": t(lang, f"progress_{p.status}")} for p in people if p.trend is not None],
                                columns=["trainee", "trend", "status"])
        hardest = scenario_difficulty(sessions)
        hard_df = pd.DataFrame([{"scenario": d.scenario_id, "mean": round(d.mean_overall, 2), "calls": d.calls}
                                for d in hardest if d.mean_overall is not None], columns=["scenario", "mean", "calls"])
        scen_headers = [t(lang, k) for k in ("scenario", "calls", "trainees_count", "overall", "pass_rate", "outcomes")]
        scen_rows = [[d.scenario_id, d.calls, d.trainees, _fmt(d.mean_overall), _pct(d.pass_rate),
                      ", ".join(f"{k} ×{v}" for k, v in sorted(d.outcomes.items()))] for d in hardest]
        line = [{"date": r["date"], "score": r["score"], "trainee": s_trainee}
                for s_trainee in {s.trainee for s in sessions}
                for r in series_rows([s for s in sessions if s.trainee == s_trainee], reviews.tz, overall_label="overall")
                if r["series"] == "overall"]
        line_df = pd.DataFrame(line, columns=["date", "score", "trainee"]).fillna(t(lang, "local_user"))
        return (gr.update(visible=True), pd.DataFrame(rows, columns=headers), trend_df, hard_df, line_df,
                pd.DataFrame(scen_rows, columns=scen_headers))

    def load_choices(request: gr.Request):
        user = current_user(access, request)
        if user is None:
            return gr.update(), gr.update()
        names = reviews.trainees(user)
        if not access.can(user, "view_others"):
            choice = gr.update(choices=[(user.label, user.username)], value=user.username, interactive=False)
        else:
            default = names[0] if names else None
            choice = gr.update(choices=[(n, n) for n in names], value=default, interactive=True)
        scenarios = reviews.scenario_ids(user)
        return choice, gr.update(choices=[everyone] + [(s, s) for s in scenarios], value="")

    demo.load(load_choices, None, [p_trainee, p_scenario], api_visibility="private").then(
        trainee_view, [p_trainee, p_scenario], [summary, dims_plot, scen_plot], api_name="progress")
    demo.load(cohort_view, None, [cohort_panel, cohort_table, trend_plot, hard_plot, cohort_plot, scen_table],
              api_name="cohort")
    gr.on([p_trainee.change, p_scenario.change], trainee_view, [p_trainee, p_scenario],
          [summary, dims_plot, scen_plot], api_visibility="private")


def summary_text(p, lang: str) -> str:
    if p.calls == 0:
        return t(lang, "progress_none")
    lines = [t(lang, "progress_head", name=p.trainee or t(lang, "local_user"), calls=p.calls, scored=p.scored,
               mean=_fmt(p.recent_mean), trend=_fmt(p.trend, 2, signed=True),
               status=t(lang, f"progress_{p.status}"), pass_rate=_pct(p.pass_rate))]
    if p.weakest:
        lines.append(t(lang, "progress_work_on", dim=dim_label(lang, p.weakest),
                       mean=_fmt(p.dimension_means.get(p.weakest))))
    if p.frequent_violation:
        lines.append(t(lang, "progress_violation", what=label(lang, "violation_" + p.frequent_violation,
                                                                p.frequent_violation)))
    if p.recent_mean is not None and p.recent_mean < DEFAULT_PASS_MARK and p.status == "stuck":
        lines.append(t(lang, "progress_stuck_hint"))
    return "\n\n".join(lines)
