"""Review tab: dismiss or confirm a compliance violation flagged on the selected turn — a rule's critical
error or a review flag of the learned detector (confirmed, it becomes a critical error).

The form sits under the score correction and shares its turn picker. Every
handler goes through `Reviews`, which checks the request's user server-side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..errors import SimulatorError
from ..reviews import Reviews, SessionDetail
from ..violations import flagged_violations
from .i18n import t
from .login import as_gr_error, current_user, require


@dataclass
class ViolationForm:
    rule: gr.Dropdown
    reason: gr.Textbox
    dismiss: gr.Button
    confirm: gr.Button


def build_violation_form(lang: str) -> ViolationForm:
    """The components, placed where this is called (inside the review actions column)."""
    with gr.Row():
        rule = gr.Dropdown([], value=None, label=t(lang, "violation_pick"), info=t(lang, "violation_pick_none"),
                           elem_id="violation-rule", scale=2,
                           # the API may name a rule the picker does not list yet: `Reviews` says what is flagged
                           allow_custom_value=True)
        reason = gr.Textbox(label=t(lang, "violation_reason"), placeholder=t(lang, "violation_reason_placeholder"),
                            elem_id="violation-reason", scale=3)
    with gr.Row():
        dismiss = gr.Button(t(lang, "violation_dismiss_button"), variant="stop", elem_id="violation-dismiss")
        confirm = gr.Button(t(lang, "violation_confirm_button"), elem_id="violation-confirm")
    return ViolationForm(rule, reason, dismiss, confirm)


def turn_violation_choices(detail: SessionDetail, turn_idx: int | None, lang: str) -> list[tuple[str, str]]:
    """(label, rule id) of the violations flagged on one turn, with the decision in force."""
    turn = next((tv for tv in detail.turns if tv.idx == turn_idx), None)
    if turn is None or turn.speaker != "agent":
        return []
    out = []
    for v in flagged_violations(turn.idx, turn.score, detail.session.get("scorecard_json")):
        quote = str(v.get("text") or "")
        quote = quote if len(quote) <= 50 else quote[:50] + "…"
        name = f"{v['rule']} — {v.get('category') or v['rule']}"
        if v.get("review"):  # a review flag (the detectors', or a rule hit they doubt): confirmed, a critical error
            name += f" ({t(lang, 'violation_review_tag')})"
        if quote:
            name += f" : « {quote} »" if lang == "fr" else f': "{quote}"'
        decision = turn.decision_for(v["rule"])
        if decision is not None:
            name += f" ({t(lang, 'violation_state_' + decision.decision)})"
        out.append((name, v["rule"]))
    return out


def rule_update(detail: SessionDetail | None, turn_idx, lang: str, keep: str | None = None) -> dict:
    choices = turn_violation_choices(detail, _int(turn_idx), lang) if detail is not None else []
    rules = [rule for _, rule in choices]
    value = keep if keep in rules else (rules[0] if rules else None)
    info = t(lang, "violation_pick_info", n=len(choices)) if choices else t(lang, "violation_pick_none")
    return gr.update(choices=choices, value=value, info=info)


def _int(value) -> int | None:
    try:
        return None if value in (None, "", -1, "-1") else int(value)
    except (TypeError, ValueError):
        return None


def wire_violation_form(form: ViolationForm, *, reviews: Reviews, access, lang: str, opened: gr.State,
                        turn: gr.Dropdown, call_view: gr.HTML, review_outputs: list,
                        refreshed: Callable[[SessionDetail], tuple], refresh_table: dict) -> None:
    def choices(call_id, turn_idx, current, request: gr.Request):
        user = current_user(access, request)
        if user is None or call_id is None:
            return rule_update(None, None, lang)
        try:
            detail = reviews.open(user, call_id)
        except SimulatorError:
            return rule_update(None, None, lang)
        if not detail.can_review:  # the form is hidden from this user anyway
            return rule_update(None, None, lang)
        return rule_update(detail, turn_idx, lang, keep=current)

    def decide(decision: str):
        def run(call_id, turn_idx, rule, reason, request: gr.Request):
            user = require(access, request, lang, "review")
            if call_id is None:
                raise gr.Error(t(lang, "error_open_first"))
            if _int(turn_idx) is None or not rule:
                raise gr.Error(t(lang, "error_violation_fields"))
            try:
                if decision == "dismissed":
                    reviews.dismiss_violation(user, call_id, _int(turn_idx), str(rule), reason)
                else:
                    reviews.confirm_violation(user, call_id, _int(turn_idx), str(rule), reason)
                gr.Info(t(lang, f"violation_{decision}_saved"))
                detail = reviews.open(user, call_id)
            except SimulatorError as exc:
                raise as_gr_error(exc, lang) from exc
            return (*refreshed(detail), "", rule_update(detail, turn_idx, lang, keep=str(rule)))
        return run

    # A new call (its transcript changes) or another turn: list that turn's flagged violations.
    gr.on([turn.change, call_view.change], choices, [opened, turn, form.rule], form.rule,
          api_visibility="private", show_progress="hidden")
    inputs = [opened, turn, form.rule, form.reason]
    outputs = [*review_outputs, form.reason, form.rule]
    form.dismiss.click(decide("dismissed"), inputs, outputs, api_name="dismiss_violation",
                       show_progress="hidden").success(**refresh_table)
    form.confirm.click(decide("confirmed"), inputs, outputs, api_name="confirm_violation",
                       show_progress="hidden").success(**refresh_table)
