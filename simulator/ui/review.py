"""Review tab: the calls a user may see, with filters and sorting; open one to read
the scored transcript; reviewers override a score (with a reason), dismiss or
confirm a flagged compliance violation (`review_violations.py`), comment and
set a verdict; exports of the selection or of one call.

Each handler asks the store through `Reviews`, which checks the request's user
server-side: nothing here relies on a component being hidden.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from ..debtor.state import OUTCOMES
from ..errors import SimulatorError
from ..exports import export
from ..report import call_html, dim_label, duration_text, label, local_time, mood_points, result_text
from ..reviews import VERDICTS, Reviews, SessionFilter, SessionSummary
from ..runtime import Simulator
from .i18n import t
from .login import as_gr_error, current_user, require
from .review_violations import build_violation_form, wire_violation_form

EXTRA_OUTCOMES = ("PAID", "HARDSHIP", "WRONG_PARTY", "THIRD_PARTY_MESSAGE")
ID_CHARS = 10  # shown in the table; any unique prefix opens the call


def reviews_of(sim: Simulator) -> Reviews:
    reviews = getattr(sim, "_reviews", None)
    if reviews is None:
        reviews = sim._reviews = Reviews(sim.store, sim.access, timezone_name=sim.settings.display_timezone)
    return reviews


def _day(value, lang: str, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).date()
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise gr.Error(t(lang, "error_date", field=field, value=value)) from None


def build_filter(lang: str, trainee, scenario, date_from, date_to, outcome, result, critical, verdict, sort,
                 to_check=None) -> SessionFilter:
    yes_no = {"yes": True, "no": False}
    return SessionFilter(
        trainee=trainee or None, scenario_id=scenario or None,
        date_from=_day(date_from, lang, t(lang, "date_from")), date_to=_day(date_to, lang, t(lang, "date_to")),
        outcome=outcome or None, result=result or None,
        critical=yes_no.get(critical or ""), verdict=verdict or None, sort=sort or "date_desc",
        to_check=yes_no.get(to_check or ""))


def table_headers(lang: str) -> list[str]:
    return [t(lang, k) for k in ("date", "trainee", "scenario", "mode", "outcome_label", "col_overall", "result",
                                 "col_critical", "col_to_check", "verdict", "status", "col_id")]


def table_rows(items: list[SessionSummary], reviews: Reviews, lang: str) -> pd.DataFrame:
    rows = []
    for s in items:
        sc = s.scores
        overall = "–" if sc.overall is None else f"{sc.overall:.1f}"
        if sc.overridden and sc.overall_auto is not None and sc.overall is not None and abs(sc.overall - sc.overall_auto) >= 0.05:
            overall = f"{sc.overall_auto:.1f} → {sc.overall:.1f}"
        result, critical = result_text(s, lang), len(sc.critical_errors)
        if sc.passed is not None and sc.passed_auto is not None and sc.passed != sc.passed_auto:
            result = f"{t(lang, 'result_pass' if sc.passed_auto else 'result_fail')} → {result}"
        if sc.dismissed_errors or sc.review_confirmed:
            critical = f"{len(sc.critical_errors_auto)} → {critical}"
        rows.append([
            local_time(s.started_at, reviews.tz), s.trainee or t(lang, "local_user"), s.scenario_id,
            label(lang, f"call_mode_{s.mode}", s.mode),
            s.outcome or "–", overall, result, critical,
            len(sc.review_flags),  # the learned detector's flags nobody has decided yet
            t(lang, f"verdict_{s.verdict.verdict}") if s.verdict else "–",
            label(lang, f"call_status_{s.status}", s.status), s.id[:ID_CHARS],
        ])
    return pd.DataFrame(rows, columns=table_headers(lang))


def audit_rows(detail, reviews: Reviews, lang: str) -> pd.DataFrame:
    headers = [t(lang, k) for k in ("date", "audit_action", "turn", "audit_detail", "audit_author")]
    rows = []
    for o in detail.overrides:
        rows.append([local_time(o.created_at, reviews.tz), t(lang, "audit_override"), o.turn_idx,
                     f"{dim_label(lang, o.dimension)} {o.original_score} → {o.score} : {o.reason}", o.author or "?"])
    categories = {(tv.idx, str(v.get("rule"))): v.get("category") for tv in detail.turns
                  for v in ((tv.score or {}).get("violations") or [])}
    for d in detail.decisions:
        what = d.rule + (f" ({categories[(d.turn_idx, d.rule)]})" if categories.get((d.turn_idx, d.rule)) else "")
        rows.append([local_time(d.created_at, reviews.tz), t(lang, f"audit_violation_{d.decision}"), d.turn_idx,
                     what + (f" : {d.reason}" if d.reason else ""), d.author or "?"])
    for c in detail.comments:
        rows.append([local_time(c.created_at, reviews.tz), t(lang, "audit_comment"),
                     "–" if c.turn_idx is None else c.turn_idx, c.text, c.author or "?"])
    for v in detail.verdicts:
        rows.append([local_time(v.created_at, reviews.tz), t(lang, "audit_verdict"), "–",
                     t(lang, f"verdict_{v.verdict}") + (f" : {v.note}" if v.note else ""), v.author or "?"])
    rows.sort(key=lambda r: datetime.strptime(r[0], "%d/%m/%Y %H:%M"))
    return pd.DataFrame(rows, columns=headers)


def _write_export(content: str, stem: str, suffix: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix="collector-export-"))
    path = folder / f"{stem}-{date.today().isoformat()}.{suffix}"
    path.write_text(content, encoding="utf-8")
    return str(path)


def build_review_tab(sim: Simulator, demo: gr.Blocks) -> None:
    lang = sim.settings.language
    reviews = reviews_of(sim)
    access = sim.access
    everyone = (t(lang, "all"), "")

    with gr.Row():
        f_trainee = gr.Dropdown([everyone], value="", label=t(lang, "trainee"), elem_id="filter-trainee")
        f_scenario = gr.Dropdown([everyone], value="", label=t(lang, "scenario"), elem_id="filter-scenario")
        f_from = gr.DateTime(include_time=False, type="string", label=t(lang, "date_from"), elem_id="filter-from")
        f_to = gr.DateTime(include_time=False, type="string", label=t(lang, "date_to"), elem_id="filter-to")
    with gr.Row():
        f_outcome = gr.Dropdown([everyone] + [(f"{o} — {label(lang, 'outcome_' + o, o)}", o) for o in (*OUTCOMES, *EXTRA_OUTCOMES)],
                                value="", label=t(lang, "outcome_label"), elem_id="filter-outcome")
        f_result = gr.Dropdown([everyone, (t(lang, "result_pass"), "pass"), (t(lang, "result_fail"), "fail"),
                                (t(lang, "result_unscored"), "unscored")], value="", label=t(lang, "result"),
                               elem_id="filter-result")
        f_critical = gr.Dropdown([everyone, (t(lang, "critical_yes"), "yes"), (t(lang, "critical_no"), "no")], value="",
                                 label=t(lang, "critical_errors"), elem_id="filter-critical")
        f_verdict = gr.Dropdown([everyone] + [(t(lang, f"verdict_{v}"), v) for v in VERDICTS]
                                + [(t(lang, "verdict_none"), "none")], value="", label=t(lang, "verdict"),
                                elem_id="filter-verdict")
        f_to_check = gr.Dropdown([everyone, (t(lang, "to_check_yes"), "yes"), (t(lang, "to_check_no"), "no")],
                                 value="", label=t(lang, "filter_to_check"), elem_id="filter-to-check")
        f_sort = gr.Dropdown([(t(lang, f"sort_{k}"), k) for k in ("date_desc", "date_asc", "overall_desc", "overall_asc",
                                                                    "critical_desc", "to_check_desc", "trainee",
                                                                    "scenario")],
                             value="date_desc", label=t(lang, "sort"), elem_id="filter-sort")
    filters = [f_trainee, f_scenario, f_from, f_to, f_outcome, f_result, f_critical, f_verdict, f_sort, f_to_check]
    count = gr.Markdown("", elem_id="sessions-count")
    table = gr.Dataframe(pd.DataFrame([], columns=table_headers(lang)), interactive=False, wrap=True,
                         elem_id="sessions-table", label=t(lang, "calls"), max_height=420)
    with gr.Row():
        export_csv = gr.Button(t(lang, "export_csv"), size="sm", elem_id="export-selection-csv")
        export_json = gr.Button(t(lang, "export_json"), size="sm", elem_id="export-selection-json")
        export_html = gr.Button(t(lang, "export_html"), size="sm", elem_id="export-selection-html")
    selection_file = gr.File(label=t(lang, "export_file"), interactive=False, elem_id="export-selection-file",
                             visible=False)

    gr.Markdown(f"### {t(lang, 'open_call')}")
    with gr.Row():
        open_id = gr.Textbox(label=t(lang, "call_id"), placeholder=t(lang, "call_id_placeholder"), scale=3,
                             elem_id="open-call-id")
        open_btn = gr.Button(t(lang, "open"), scale=1, elem_id="open-call")
    with gr.Column(visible=False, elem_id="call-panel") as call_panel:
        call_view = gr.HTML("", elem_id="call-view")
        mood_plot = gr.LinePlot(pd.DataFrame({"turn": [], "value": [], "gauge": []}), x="turn", y="value", color="gauge",
                                y_lim=[0, 1], color_title=t(lang, "mood_title"), x_axis_format="d",
                                color_map={t(lang, "trust"): "#2e7d32", t(lang, "irritation"): "#c62828",
                                           t(lang, "willingness"): "#1565c0"}, x_title=t(lang, "plot_turn"), y_title=t(lang, "mood_title"),
                                label=t(lang, "mood_plot"), elem_id="mood-plot")
        with gr.Column(visible=False, elem_id="review-actions") as actions:
            gr.Markdown(f"#### {t(lang, 'review_actions')}")
            with gr.Row():
                o_turn = gr.Dropdown([], label=t(lang, "turn"), elem_id="override-turn", scale=2)
                o_dim = gr.Dropdown([], label=t(lang, "dimension"), elem_id="override-dimension", scale=1)
                o_score = gr.Radio([1, 2, 3, 4, 5], label=t(lang, "new_score"), elem_id="override-score", scale=2)
            o_reason = gr.Textbox(label=t(lang, "override_reason"), placeholder=t(lang, "override_reason_placeholder"),
                                  elem_id="override-reason")
            o_btn = gr.Button(t(lang, "override_button"), variant="primary", elem_id="override-submit")
            violation_form = build_violation_form(lang)
            with gr.Row():
                c_turn = gr.Dropdown([], label=t(lang, "comment_on"), elem_id="comment-turn", scale=1)
                c_text = gr.Textbox(label=t(lang, "comment"), lines=2, elem_id="comment-text", scale=3)
            c_btn = gr.Button(t(lang, "comment_button"), elem_id="comment-submit")
            with gr.Row():
                v_choice = gr.Radio([(t(lang, f"verdict_{v}"), v) for v in VERDICTS], label=t(lang, "verdict"),
                                    elem_id="verdict-choice", scale=2)
                v_note = gr.Textbox(label=t(lang, "verdict_note"), elem_id="verdict-note", scale=3)
            v_btn = gr.Button(t(lang, "verdict_button"), elem_id="verdict-submit")
        audit = gr.Dataframe(pd.DataFrame([]), interactive=False, wrap=True, label=t(lang, "audit"), elem_id="audit-table")
        with gr.Row():
            call_json = gr.Button(t(lang, "export_call_json"), size="sm", elem_id="export-call-json")
            call_csv = gr.Button(t(lang, "export_call_csv"), size="sm", elem_id="export-call-csv")
            call_html_btn = gr.Button(t(lang, "export_call_html"), size="sm", elem_id="export-call-html")
        call_file = gr.File(label=t(lang, "export_file"), interactive=False, elem_id="export-call-file", visible=False)
    opened = gr.State(None)

    # handlers ---------------------------------------------------------------
    def list_calls(trainee, scenario, date_from, date_to, outcome, result, critical, verdict, sort, to_check,
                   request: gr.Request):
        user = require(access, request, lang)
        flt = build_filter(lang, trainee, scenario, date_from, date_to, outcome, result, critical, verdict, sort,
                           to_check)
        items = reviews.list_sessions(user, flt)
        return table_rows(items, reviews, lang), t(lang, "calls_count", n=len(items))

    def load_filters(request: gr.Request):
        user = current_user(access, request)
        if user is None:
            return gr.update(), gr.update()
        trainees = reviews.trainees(user)
        scenarios = reviews.scenario_ids(user)
        titles = {sid: sf.scenario.title for sid, sf in sim.scenarios.scenarios.items()}
        single = not access.can(user, "view_others")
        return (gr.update(choices=([] if single else [everyone]) + [(n, n) for n in trainees],
                          value=user.username if single and user.username in trainees else "", interactive=not single),
                gr.update(choices=[everyone] + [(titles.get(s, s), s) for s in scenarios]))

    def show(detail):
        """Outputs for an opened call."""
        agent_turns = [tv for tv in detail.turns if tv.speaker == "agent"]
        turn_choices = [(f"#{tv.idx} — {tv.text[:60]}{'…' if len(tv.text) > 60 else ''}"
                         + (" ⚠" if tv.score.get("violations") else ""), tv.idx)  # a critical error to review
                        for tv in agent_turns if tv.score]
        comment_choices = [(t(lang, "whole_call"), -1)] + [
            (f"#{tv.idx} — {tv.text[:60]}{'…' if len(tv.text) > 60 else ''}", tv.idx) for tv in detail.turns]
        dims = detail.summary.scores.dimensions
        return (
            detail.summary.id, detail.summary.id,
            gr.update(visible=True), call_html(detail, lang, reviews.tz),
            pd.DataFrame(mood_points(detail, lang) or [], columns=["turn", "value", "gauge"]),
            gr.update(visible=detail.can_review),
            gr.update(choices=turn_choices, value=turn_choices[0][1] if turn_choices else None),
            gr.update(choices=[(dim_label(lang, d), d) for d in dims], value=dims[0] if dims else None),
            gr.update(choices=comment_choices, value=-1),
            audit_rows(detail, reviews, lang),
            gr.update(value=None, visible=False),
        )

    open_outputs = [opened, open_id, call_panel, call_view, mood_plot, actions, o_turn, o_dim, c_turn, audit, call_file]
    review_outputs = [call_view, mood_plot, audit]  # what a review action changes; the form keeps its place

    def refreshed(detail):
        return (call_html(detail, lang, reviews.tz),
                pd.DataFrame(mood_points(detail, lang) or [], columns=["turn", "value", "gauge"]),
                audit_rows(detail, reviews, lang))

    def open_call(call_id, request: gr.Request):
        user = require(access, request, lang)
        try:
            return show(reviews.open(user, call_id))
        except SimulatorError as exc:
            raise as_gr_error(exc, lang) from exc

    def open_from_table(evt: gr.SelectData, request: gr.Request):
        row = evt.row_value or []
        if not row:
            raise gr.Error(t(lang, "error_pick_row"))
        return open_call(str(row[-1]), request)

    def override(call_id, turn, dim, score, reason, request: gr.Request):
        user = require(access, request, lang, "review")
        if call_id is None:
            raise gr.Error(t(lang, "error_open_first"))
        if turn is None or dim is None or score is None:
            raise gr.Error(t(lang, "error_override_fields"))
        try:
            reviews.override(user, call_id, int(turn), dim, int(score), reason)
            gr.Info(t(lang, "override_saved"))
            return (*refreshed(reviews.open(user, call_id)), "", None)
        except SimulatorError as exc:
            raise as_gr_error(exc, lang) from exc

    def comment(call_id, turn, body, request: gr.Request):
        user = require(access, request, lang, "review")
        if call_id is None:
            raise gr.Error(t(lang, "error_open_first"))
        try:
            reviews.comment(user, call_id, None if turn in (None, -1, "-1") else int(turn), body)
            gr.Info(t(lang, "comment_saved"))
            return (*refreshed(reviews.open(user, call_id)), "")
        except SimulatorError as exc:
            raise as_gr_error(exc, lang) from exc

    def verdict(call_id, choice, note, request: gr.Request):
        user = require(access, request, lang, "review")
        if call_id is None:
            raise gr.Error(t(lang, "error_open_first"))
        if not choice:
            raise gr.Error(t(lang, "error_verdict_choice"))
        try:
            reviews.set_verdict(user, call_id, choice, note)
            gr.Info(t(lang, "verdict_saved"))
            return (*refreshed(reviews.open(user, call_id)), "")
        except SimulatorError as exc:
            raise as_gr_error(exc, lang) from exc

    def export_selection(fmt: str):
        def run(trainee, scenario, date_from, date_to, outcome, result, critical, verdict_f, sort, to_check,
                request: gr.Request):
            user = require(access, request, lang)
            flt = build_filter(lang, trainee, scenario, date_from, date_to, outcome, result, critical, verdict_f, sort,
                               to_check)
            try:
                content = export(reviews, user, flt, fmt, lang=lang)
            except SimulatorError as exc:
                raise as_gr_error(exc, lang) from exc
            return gr.update(value=_write_export(content, t(lang, "export_stem"), fmt), visible=True)
        return run

    def export_call(fmt: str):
        def run(call_id, request: gr.Request):
            user = require(access, request, lang)
            if call_id is None:
                raise gr.Error(t(lang, "error_open_first"))
            try:
                content = export(reviews, user, SessionFilter(session_ids=[call_id]), fmt, lang=lang)
            except SimulatorError as exc:
                raise as_gr_error(exc, lang) from exc
            return gr.update(value=_write_export(content, f"{t(lang, 'export_call_stem')}-{call_id[:ID_CHARS]}", fmt),
                             visible=True)
        return run

    # wiring -----------------------------------------------------------------
    demo.load(load_filters, None, [f_trainee, f_scenario], api_visibility="private")
    demo.load(list_calls, filters, [table, count], api_name="list_calls")
    gr.on([f.change for f in filters], list_calls, filters, [table, count], api_visibility="private")
    table.select(open_from_table, None, open_outputs, api_visibility="private")
    open_btn.click(open_call, open_id, open_outputs, api_name="open_call")
    open_id.submit(open_call, open_id, open_outputs, api_visibility="private")
    refresh_table = dict(fn=list_calls, inputs=filters, outputs=[table, count], api_visibility="private")
    wire_violation_form(violation_form, reviews=reviews, access=access, lang=lang, opened=opened, turn=o_turn,
                        call_view=call_view, review_outputs=review_outputs, refreshed=refreshed,
                        refresh_table=refresh_table)
    # A refused action shows its reason in a toast; show_progress="hidden" keeps Gradio's error
    # overlay off the form so the reviewer can fix it and send again.
    o_btn.click(override, [opened, o_turn, o_dim, o_score, o_reason], [*review_outputs, o_reason, o_score],
                api_name="override_score", show_progress="hidden").success(**refresh_table)
    c_btn.click(comment, [opened, c_turn, c_text], [*review_outputs, c_text], api_name="comment",
                show_progress="hidden").success(**refresh_table)
    v_btn.click(verdict, [opened, v_choice, v_note], [*review_outputs, v_note], api_name="set_verdict",
                show_progress="hidden").success(**refresh_table)
    for button, fmt in ((export_csv, "csv"), (export_json, "json"), (export_html, "html")):
        button.click(export_selection(fmt), filters, selection_file, api_name=f"export_calls_{fmt}")
    for button, fmt in ((call_json, "json"), (call_csv, "csv"), (call_html_btn, "html")):
        button.click(export_call(fmt), opened, call_file, api_name=f"export_call_{fmt}")
