"""Practice tab: choose a scenario, call the debtor, talk, hang up.

The callbacks only translate between Gradio values and `Simulator` calls.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from ..debtor.prompt import money
from ..errors import SimulatorError
from ..scenario import ScenarioFile
from .i18n import t
from .login import require
from .scoring import scorecard_panel, turn_badges, turn_breakdown
from ..runtime import Simulator


def scenario_card(sf: ScenarioFile | None, lang: str) -> str:
    if sf is None:
        return ""
    s = sf.scenario
    d = s.debt
    rows = [
        (t(lang, "company"), s.persona.company),
        (t(lang, "contact"), f"{s.persona.name}, {s.persona.role}"),
        (t(lang, "amount"), money(d.amount, d.currency, s.language)),
        (t(lang, "invoice"), d.invoice_ref),
        (t(lang, "overdue"), f"{d.days_overdue} {t(lang, 'days')}"),
        (t(lang, "difficulty"), t(lang, f"difficulty_{s.difficulty}")),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    summary = f"<p>{html.escape(s.summary)}</p>" if s.summary else ""
    return f"<div class='scenario-card'><h3>{html.escape(s.title)}</h3>{summary}<table>{cells}</table></div>"


def mood_gauges(call, lang: str, *, ended: bool = False) -> str:
    """Three bars: live in practice mode, and in any mode once the call has ended."""
    if call is None or (call.mode != "practice" and not ended):
        return ""
    state = call.engine.state
    bars = []
    for key, colour in (("trust", "#2e7d32"), ("irritation", "#c62828"), ("willingness", "#1565c0")):
        value = getattr(state, key)
        bars.append(
            f"<div class='gauge' data-gauge='{key}' data-value='{value:.2f}'><span>{html.escape(t(lang, key))}</span>"
            f"<div class='bar'><div style='width:{value * 100:.0f}%;background:{colour}'></div></div></div>"
        )
    return f"<div class='mood'><strong>{html.escape(t(lang, 'mood_title'))}</strong>{''.join(bars)}</div>"


def outcome_text(call, lang: str) -> str:
    outcome = call.outcome
    text = t(lang, "outcome", label=t(lang, f"outcome_{outcome}"))
    agreement = call.engine.agreement
    if agreement is not None:
        text += " " + t(lang, "agreement", terms=agreement.describe(call.scenario.language, call.scenario.debt.currency))
    return text


def invalid_files_markdown(problems: dict) -> str:
    lines = []
    for path, errors in problems.items():
        lines.append(f"**{path.name}**")
        lines.extend(f"- `{e}`" for e in errors)
    return "\n".join(lines)


def scenario_choices(sim: Simulator) -> list[tuple[str, str]]:
    return [(f"{sf.scenario.title}", sid) for sid, sf in sim.scenarios.scenarios.items()]


@dataclass
class PracticeTab:
    """What other tabs refresh after a scenario file is saved or the folder reloaded."""

    picker: gr.Dropdown
    invalid_box: gr.Accordion
    invalid_text: gr.Markdown

    @property
    def components(self) -> list:
        return [self.picker, self.invalid_box, self.invalid_text]

    @staticmethod
    def updates(sim: Simulator) -> tuple:
        """The picker's choices and the invalid-files box, as the folder is now."""
        lang = sim.settings.language
        broken = sim.scenarios.broken
        return (gr.update(choices=scenario_choices(sim)),
                gr.update(visible=bool(broken), label=t(lang, "invalid_files", count=len(broken))),
                gr.update(value=invalid_files_markdown(broken)))


def build_practice_tab(sim: Simulator) -> PracticeTab:
    """Build the tab; returns the picker and the invalid-files box so other tabs can refresh them."""
    lang = sim.settings.language
    choices = scenario_choices(sim)
    first = choices[0][1] if choices else None

    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            scenario = gr.Dropdown(choices=choices, value=first, label=t(lang, "scenario"), elem_id="scenario-select")
            card = gr.HTML(scenario_card(sim.scenarios.scenarios.get(first), lang), elem_id="scenario-card")
            mode = gr.Radio([(t(lang, "mode_practice"), "practice"), (t(lang, "mode_exam"), "exam")], value="practice",
                            label=t(lang, "mode"), elem_id="call-mode")
            level = gr.Dropdown([(t(lang, "level_default"), ""), *((t(lang, f"difficulty_{d}"), d) for d in ("easy", "medium", "hard"))],
                                value="", label=t(lang, "level"), elem_id="call-level")
            start = gr.Button(t(lang, "start"), variant="primary", elem_id="start-call", interactive=bool(choices))
            end = gr.Button(t(lang, "end"), variant="stop", elem_id="end-call", interactive=False)
            if not choices:
                gr.Markdown(t(lang, "no_scenario"))
            # always built (hidden when every file is valid) so a reload or a save can show or hide it
            with gr.Accordion(t(lang, "invalid_files", count=len(sim.scenarios.broken)), open=False,
                              visible=bool(sim.scenarios.broken), elem_id="invalid-scenarios-box") as invalid_box:
                invalid_text = gr.Markdown(invalid_files_markdown(sim.scenarios.broken), elem_id="invalid-scenarios")
            gr.Markdown(f"{t(lang, 'backend')} : `{sim.model.name}`" if lang == "fr" else f"{t(lang, 'backend')}: `{sim.model.name}`")
        with gr.Column(scale=2):
            status = gr.Markdown(t(lang, "status_idle"), elem_id="call-status")
            gauges = gr.HTML("", elem_id="mood-gauges")
            feedback = gr.HTML("", elem_id="turn-score")  # practice mode: the last turn's badges and tips
            scorecard = gr.HTML("", elem_id="scorecard")  # both modes: at the end of the call
            chat = gr.Chatbot(label=t(lang, "chat_label"), elem_id="call-chat", height=460, feedback_options=None,
                              buttons=["copy_all"])
            with gr.Row():
                message = gr.Textbox(
                    label=t(lang, "input_label"), placeholder=t(lang, "input_placeholder"),
                    elem_id="trainee-input", scale=5, interactive=False, lines=1, max_lines=6,
                )
                send = gr.Button(t(lang, "send"), elem_id="send", scale=1, interactive=False)
    call_id = gr.State(None)

    def on_scenario(sid):
        return scenario_card(sim.scenarios.scenarios.get(sid), lang)

    def own_call(cid, request):
        """The live call `cid` if it belongs to the request's user (never trust a client-held id)."""
        user = require(sim.access, request, lang, "practice")
        call = sim.calls.get(cid) if cid else None
        trainee = None if sim.access.single_user() else user.username
        return call if call is not None and call.trainee == trainee else None

    def end_of_call(call, lang: str) -> str:
        """The scorecard, then every scored turn with its badges and tips."""
        return scorecard_panel(call.scorecard, lang) + turn_breakdown(
            [(call.history[index].text, score) for index, score in call.scored], lang)

    async def on_start(sid, chosen_mode, chosen_level, current, request: gr.Request):
        user = require(sim.access, request, lang, "practice")
        if own_call(current, request):
            await sim.end_call(current, reason="restarted")
        try:
            # With accounts, the trainee is the logged-in user, never a typed name.
            trainee = None if sim.access.single_user() else user.username
            call = await sim.start_call(sid, mode=chosen_mode or "practice", trainee=trainee,
                                        difficulty=chosen_level or None)
        except SimulatorError as exc:
            raise gr.Error(str(exc)) from exc
        history = [{"role": "assistant", "content": call.history[0].text}]
        name = call.scenario.persona.name
        return (call.id, history, t(lang, "status_active", name=name), gr.update(interactive=True, value=""),
                gr.update(interactive=True), gr.update(interactive=True), mood_gauges(call, lang), "", "")

    async def on_send(text, history, cid, request: gr.Request):
        keep = gr.update()
        call = own_call(cid, request)
        if call is None or not call.active:
            gr.Warning(t(lang, "no_call"))
            yield history, keep, keep, keep, keep, keep, keep, keep, keep
            return
        if not text or not text.strip():
            gr.Warning(t(lang, "empty_message"))
            yield history, keep, keep, keep, keep, keep, keep, keep, keep
            return
        history = list(history or []) + [{"role": "user", "content": text.strip()}, {"role": "assistant", "content": "…"}]
        yield history, gr.update(value="", interactive=False), keep, keep, keep, keep, keep, keep, keep
        async for update in call.say(text):
            if update.error:
                history = history[:-1]
                gr.Warning(t(lang, "status_backend_error", error=update.error))
                yield (history, gr.update(interactive=True), t(lang, "status_backend_error", error=update.error),
                       keep, keep, keep, keep, keep, keep)
                return
            history[-1] = {"role": "assistant", "content": update.text or "…"}
            badges = ""
            if call.mode == "practice":
                badges = turn_badges(update.score, lang, turn=len(call.scored))
                engine_flag = update.move is not None and update.move.weak_point == "disclosure"
                if engine_flag and not any(v.category == "third_party" for v in (update.score.violations if update.score else [])):
                    badges += f"<p class='tip' data-dim='disclosure'>{t(lang, 'hint_disclosure')}</p>"
            if update.ended:
                off = gr.update(interactive=False)
                await sim.end_call(call.id)  # already ended by the engine: just leaves the live calls
                yield (history, off, outcome_text(call, lang), mood_gauges(call, lang, ended=True), off, off, None,
                       badges, end_of_call(call, lang))
            elif update.done:
                status_line = t(lang, "status_active", name=call.scenario.persona.name)
                yield (history, gr.update(interactive=True), status_line, mood_gauges(call, lang), keep, keep, keep,
                       badges, keep)
            elif update.retrying:
                yield history, keep, t(lang, "status_retrying"), keep, keep, keep, keep, keep, keep
            else:
                yield history, keep, keep, keep, keep, keep, keep, keep, keep

    async def on_end(cid, request: gr.Request):
        status_text, gauge_html, card_html = t(lang, "status_idle"), "", ""
        call = own_call(cid, request)
        if call is not None:
            await sim.end_call(cid)
            status_text = f"{t(lang, 'status_ended', turns=len(call.history))}\n\n{outcome_text(call, lang)}"
            gauge_html = mood_gauges(call, lang, ended=True)
            card_html = end_of_call(call, lang)
        off = gr.update(interactive=False)
        return None, status_text, off, off, off, gauge_html, card_html

    scenario.change(on_scenario, scenario, card)
    start.click(on_start, [scenario, mode, level, call_id],
                [call_id, chat, status, message, send, end, gauges, feedback, scorecard])
    send_event = dict(fn=on_send, inputs=[message, chat, call_id],
                      outputs=[chat, message, status, gauges, send, end, call_id, feedback, scorecard])
    send.click(**send_event)
    message.submit(**send_event)
    end.click(on_end, call_id, [call_id, status, message, send, end, gauges, scorecard])
    chat.clear(on_end, call_id, [call_id, status, message, send, end, gauges, scorecard])  # clearing the call hangs up
    return PracticeTab(picker=scenario, invalid_box=invalid_box, invalid_text=invalid_text)
