"""The Gradio app: one Blocks with a tab per use."""

from __future__ import annotations

import gradio as gr

from ..runtime import Simulator
from ..report import REVIEW_CSS
from .i18n import t
from .login import can_manage_scenarios, check_listen_address, launch_auth, who_is_here
from .practice import build_practice_tab
from .progress import build_progress_tab
from .review import build_review_tab
from .scenarios_tab import build_scenarios_tab
from .scoring import CSS as SCORING_CSS

CSS = """
.scenario-card table { width: 100%; border-collapse: collapse; }
.scenario-card th { text-align: left; padding-right: .8em; font-weight: 600; white-space: nowrap; }
.scenario-card td, .scenario-card th { padding: 2px 0; border: 0; }
.mood { display: flex; gap: 1.2em; align-items: center; flex-wrap: wrap; }
.gauge { min-width: 160px; font-size: .9em; }
.gauge .bar { height: 8px; background: #e0e0e0; border-radius: 4px; overflow: hidden; }
.gauge .bar div { height: 100%; }
.scenario-library table { width: 100%; border-collapse: collapse; font-size: .9em; }
.scenario-library th, .scenario-library td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
.st-ok { color: #2e7d32; font-weight: 600; } .st-fail { color: #c62828; font-weight: 600; } .st-warn { color: #ef6c00; }
""" + REVIEW_CSS


def build_app(sim: Simulator) -> gr.Blocks:
    lang = sim.settings.language
    with gr.Blocks(title=t(lang, "title")) as demo:
        gr.Markdown(f"# {t(lang, 'title')}\n{t(lang, 'subtitle')}")
        who = gr.Markdown("", elem_id="who-is-here")
        with gr.Tabs():
            with gr.Tab(t(lang, "tab_practice"), id="practice"):
                practice = build_practice_tab(sim)
            with gr.Tab(t(lang, "tab_review"), id="review"):
                build_review_tab(sim, demo)
            with gr.Tab(t(lang, "tab_progress"), id="progress"):
                build_progress_tab(sim, demo)
            # trainers and admins only (everyone in single-user mode); each handler checks it again
            with gr.Tab(t(lang, "tab_scenarios"), id="scenarios", elem_id="tab-scenarios") as scenarios_tab:
                scenarios = build_scenarios_tab(sim, allowed=can_manage_scenarios(sim.access), practice=practice)
        scenarios.attach(demo, scenarios_tab, practice)

        def header(request: gr.Request) -> str:
            return who_is_here(sim.access, request, lang)

        demo.load(header, None, who, api_visibility="private")
    return demo


def launch(sim: Simulator, *, prevent_thread_lock: bool = False):
    check_listen_address(sim.settings, sim.access.single_user())
    sim.warm_up()  # the semantic detector's model, in the background: the page is served meanwhile
    demo = build_app(sim)
    demo.queue(default_concurrency_limit=8)
    return demo.launch(
        server_name=sim.settings.host,
        server_port=sim.settings.port or None,
        prevent_thread_lock=prevent_thread_lock,
        css=CSS + SCORING_CSS,
        show_error=True,
        footer_links=[],
        **launch_auth(sim.access, sim.settings.language),
    )
