"""Scenarios tab (trainers): the library, a YAML editor with live validation, "try it", save.

The library lists every file of the scenarios folder, valid or not, with its
problems and its self-test status (played on the engine alone: instant, and
the outcome is the engine's whatever model voices the debtor). The editor
validates on every change and shows `line: field: message`; "Essayer" plays
the file's self-test paths on the current backend; "Enregistrer" writes only a
valid file, then reloads the library and the practice tab's scenario list.

Everything here is a thin adapter over `scenario.py`, `selftest.py`,
`authoring.py` and `cards.py`. Who may use the tab is decided by a permission
hook (`allowed(request) -> bool`), checked by every callback that writes or
runs something and used to show or hide the tab per user.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from ..authoring import schema_comment, scaffold
from ..cards import CardError, load_card
from ..debtor.proposals import fold
from ..errors import ScenarioError, SimulatorError
from ..runtime import Simulator
from ..scenario import ScenarioFile, parse_scenario_text
from ..selftest import DryRun, PathResult, dry_run_all, run_path
from .i18n import t
from .practice import PracticeTab

Permission = Callable[[gr.Request | None], bool]


def everyone(request: gr.Request | None = None) -> bool:
    """Default permission: anyone who can open the app (swap for a trainer-only check once users exist)."""
    return True


# --- pure helpers (tested without a browser) ---------------------------------------------

@dataclass
class Check:
    """The result of validating one scenario text."""

    name: str
    problems: list[str] = field(default_factory=list)  # `line: field: message (fix)`
    scenario_file: ScenarioFile | None = None
    runs: list[DryRun] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.scenario_file is not None


def _strip_file(problem: str, name: str) -> str:
    prefix = f"{name}:"
    return problem[len(prefix):] if problem.startswith(prefix) else problem


def check_text(text: str, name: str) -> Check:
    """Validate a scenario text as if it were the file `name`; on success, dry-run its self-tests."""
    if not (text or "").strip():
        return Check(name, ["1: (file): the file is empty (write a scenario, or start from a new one)"])
    try:
        sf = parse_scenario_text(text, Path(name))
    except ScenarioError as exc:
        return Check(name, [_strip_file(p, name) for p in exc.problems])
    return Check(name, scenario_file=sf, runs=dry_run_all(sf.scenario))


@dataclass
class LibraryRow:
    file: str
    id: str = ""
    title: str = ""
    language: str = ""
    difficulty: str = ""
    problems: list[str] = field(default_factory=list)
    runs: list[DryRun] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def library_rows(sim: Simulator) -> list[LibraryRow]:
    rows = []
    for sid, sf in sim.scenarios.scenarios.items():
        s = sf.scenario
        rows.append(LibraryRow(sf.path.name, sid, s.title, s.language, s.difficulty, runs=dry_run_all(s)))
    for path, problems in sim.scenarios.broken.items():
        rows.append(LibraryRow(path.name, problems=[_strip_file(p, str(path)) for p in problems]))
    return sorted(rows, key=lambda r: (not r.valid, r.file))


def _selftest_cell(runs: list[DryRun], lang: str) -> str:
    if not runs:
        return f"<span class='st-warn'>{html.escape(t(lang, 'sc_no_selftest'))}</span>"
    passed = sum(r.passed for r in runs)
    details = "; ".join(f"{r.path}: {r.expected} → {r.outcome}" for r in runs)
    css = "st-ok" if passed == len(runs) else "st-fail"
    return f"<span class='{css}' title='{html.escape(details)}'>{passed}/{len(runs)}</span>"


def library_html(rows: list[LibraryRow], lang: str) -> str:
    head = "".join(f"<th>{html.escape(t(lang, k))}</th>" for k in
                   ("sc_col_file", "sc_col_title", "sc_col_language", "sc_col_difficulty", "sc_col_status", "sc_col_selftests"))
    body = []
    for r in rows:
        if r.valid:
            status = f"<span class='st-ok'>{html.escape(t(lang, 'sc_valid'))}</span>"
            level = html.escape(t(lang, f"difficulty_{r.difficulty}"))
            body.append(f"<tr data-file='{html.escape(r.file)}' data-status='valid'><td><code>{html.escape(r.file)}</code></td>"
                        f"<td>{html.escape(r.title)}</td><td>{r.language}</td><td>{level}</td><td>{status}</td>"
                        f"<td>{_selftest_cell(r.runs, lang)}</td></tr>")
        else:
            problems = "<br>".join(f"<code>{html.escape(p)}</code>" for p in r.problems)
            body.append(f"<tr data-file='{html.escape(r.file)}' data-status='invalid'><td><code>{html.escape(r.file)}</code></td>"
                        f"<td colspan='3'>{problems}</td><td><span class='st-fail'>{html.escape(t(lang, 'sc_invalid'))}</span></td>"
                        f"<td>–</td></tr>")
    valid = sum(r.valid for r in rows)
    summary = t(lang, "sc_library_summary", valid=valid, invalid=len(rows) - valid)
    return f"<div class='scenario-library'><p>{html.escape(summary)}</p><table><tr>{head}</tr>{''.join(body)}</table></div>"


def validation_markdown(check: Check, lang: str) -> str:
    if not check.valid:
        lines = [f"❌ **{t(lang, 'sc_invalid_title', count=len(check.problems))}**", "",
                 t(lang, "sc_problem_format"), ""]
        lines += [f"- `{p}`" for p in check.problems]
        return "\n".join(lines)
    s = check.scenario_file.scenario
    lines = [f"✅ **{t(lang, 'sc_valid_title', id=s.id)}**"]
    if len(s.selftest) < 2:
        lines.append(f"⚠️ {t(lang, 'sc_need_two_paths')}")
    for r in check.runs:
        mark = "✅" if r.passed else "❌"
        sep = " :" if lang == "fr" else ":"
        lines.append(f"- {mark} `{r.path}` ({t(lang, f'difficulty_{r.level}')}){sep} "
                     f"{t(lang, 'sc_expected')} {r.expected}, {t(lang, 'sc_reached')} {r.outcome}")
    return "\n".join(lines)


def ensure_schema_line(text: str, folder: Path) -> str:
    """Make the first line point editors at the JSON Schema (added if missing, kept otherwise)."""
    if text.lstrip().startswith("# yaml-language-server:"):
        return text
    return f"{schema_comment(folder)}\n{text}"


def save_text(sim: Simulator, text: str, *, editing: str | None, draft_name: str | None = None, replace: bool,
              lang: str) -> Path:
    """Write a valid scenario into the library; raise SimulatorError (nothing written) otherwise.

    `editing` is the library file the text was opened from (it is overwritten); otherwise the text
    is saved as `<id>.yaml`, and `draft_name` (an uploaded file's name) gives the id when the text has none.
    """
    folder = sim.settings.scenarios_dir
    check = check_text(text, editing or draft_name or "nouveau.yaml")
    if not check.valid:
        raise SimulatorError(t(lang, "sc_save_invalid", count=len(check.problems)))
    sid = check.scenario_file.id
    target = folder / editing if editing and (folder / editing).exists() else folder / f"{sid}.yaml"
    other = sim.scenarios.scenarios.get(sid)
    if other is not None and other.path.resolve() != target.resolve():
        raise SimulatorError(t(lang, "sc_save_id_taken", id=sid, file=other.path.name))
    if target.exists() and target.name != editing and not replace:
        raise SimulatorError(t(lang, "sc_save_exists", file=target.name))
    body = ensure_schema_line(text if text.endswith("\n") else text + "\n", folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(tmp, target)  # atomic: a reader never sees half a file
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SimulatorError(t(lang, "sc_save_failed", file=str(target), error=exc.strerror or str(exc))) from None
    sim.reload_scenarios()
    return target


def results_markdown(results: list[PathResult], lang: str) -> str:
    lines = [f"| {t(lang, 'sc_col_path')} | {t(lang, 'sc_expected')} | {t(lang, 'sc_hit')} | {t(lang, 'sc_outcomes')} | "
             f"{t(lang, 'sc_fallbacks')} |", "|---|---|---|---|---|"]
    for r in results:
        outcomes = ", ".join(f"{k} × {v}" for k, v in r.outcomes.most_common())
        mark = "✅" if r.passed else "❌"
        lines.append(f"| {mark} `{r.path}` | {r.expected} | {r.hit_rate:.0%} | {outcomes} | {r.fallback_rate:.0%} |")
    return "\n".join(lines)


def transcript_markdown(result: PathResult, debtor: str, lang: str) -> str:
    lines = [f"**{t(lang, 'sc_sample', path=result.path)}**", ""]
    for speaker, text in result.sample:
        who = t(lang, "sc_agent") if speaker == "agent" else debtor
        lines.append(f"> **{html.escape(who)}** : {html.escape(text)}" if lang == "fr" else f"> **{html.escape(who)}**: {html.escape(text)}")
        lines.append(">")
    return "\n".join(lines[:-1])


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-") or "nouveau-scenario"


def free_id(sim: Simulator, base: str) -> str:
    taken = set(sim.scenarios.scenarios) | {p.stem for p in sim.scenarios.broken}
    sid, n = base, 2
    while sid in taken or (sim.settings.scenarios_dir / f"{sid}.yaml").exists():
        sid, n = f"{base}-{n}", n + 1
    return sid


def file_choices(sim: Simulator) -> list[str]:
    return [row.file for row in library_rows(sim)]


# --- the tab ---------------------------------------------------------------------------------

@dataclass
class ScenariosTab:
    """Handles the app needs after building the tab."""

    library: gr.HTML
    opener: gr.Dropdown
    allowed: Permission
    refresh: Callable

    def attach(self, demo: gr.Blocks, tab: gr.Tab, practice: PracticeTab | None = None) -> None:
        """On every page load: fresh library, practice list and invalid-files box; the tab shown only to those allowed."""
        outputs = [tab, self.library, self.opener] + (practice.components if practice is not None else [])

        def on_load(request: gr.Request):
            updates = self.refresh(practice is not None)
            return (gr.update(visible=self.allowed(request)), *updates)

        demo.load(on_load, None, outputs)


def build_scenarios_tab(sim: Simulator, *, allowed: Permission = everyone,
                        practice: PracticeTab | None = None) -> ScenariosTab:
    lang = sim.settings.language

    def guard(request: gr.Request | None) -> None:
        if not allowed(request):
            raise gr.Error(t(lang, "sc_not_allowed"))

    def refresh(with_practice: bool = practice is not None) -> tuple:
        rows = library_rows(sim)
        updates = (library_html(rows, lang), gr.update(choices=[r.file for r in rows], value=None))
        if with_practice:
            updates += PracticeTab.updates(sim)
        return updates

    gr.Markdown(t(lang, "sc_intro"))
    library = gr.HTML(library_html(library_rows(sim), lang), elem_id="scenario-library")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            with gr.Row():
                opener = gr.Dropdown(choices=file_choices(sim), value=None, label=t(lang, "sc_open"),
                                     elem_id="scenario-open", scale=3)
                reload = gr.Button(t(lang, "sc_reload"), elem_id="scenario-reload", scale=1, size="sm")
            upload = gr.File(label=t(lang, "sc_upload"), file_types=[".yaml", ".yml"], elem_id="scenario-upload",
                             height=110)
            new_fr = gr.Button(t(lang, "sc_new_fr"), elem_id="scenario-new-fr", size="sm")
            new_en = gr.Button(t(lang, "sc_new_en"), elem_id="scenario-new-en", size="sm")
            card = gr.UploadButton(t(lang, "sc_import_card"), file_types=[".json", ".png"], elem_id="card-import",
                                   size="sm")
        with gr.Column(scale=3):
            editing_label = gr.Markdown(t(lang, "sc_editing_new"), elem_id="scenario-editing")
            editor = gr.Code(value="", language="yaml", interactive=True, lines=24, max_lines=40,
                             label=t(lang, "sc_editor"), elem_id="scenario-editor")
            validation = gr.Markdown(t(lang, "sc_validation_empty"), elem_id="scenario-validation")
            with gr.Row():
                replace = gr.Checkbox(False, label=t(lang, "sc_replace"), elem_id="scenario-replace")
                save = gr.Button(t(lang, "sc_save"), variant="primary", elem_id="scenario-save")
            save_status = gr.Markdown("", elem_id="scenario-save-status")
            with gr.Accordion(t(lang, "sc_try_title"), open=True):
                with gr.Row():
                    runs = gr.Slider(1, 10, value=3, step=1, label=t(lang, "sc_try_runs"), elem_id="scenario-try-runs")
                    try_it = gr.Button(t(lang, "sc_try"), elem_id="scenario-try")
                try_results = gr.Markdown("", elem_id="scenario-try-results")
                try_transcript = gr.Markdown("", elem_id="scenario-try-transcript")
    editing = gr.State(None)  # file name being edited in the scenarios folder (None: a new text)
    draft = gr.State(None)  # name of an uploaded or generated text not in the library yet

    def name_for(current: str | None, draft_name: str | None) -> str:
        return current or draft_name or "nouveau.yaml"

    def on_change(text, current, draft_name):
        return validation_markdown(check_text(text or "", name_for(current, draft_name)), lang)

    def open_file(name):
        if not name:
            return gr.update(), gr.update(), None, None
        path = sim.settings.scenarios_dir / name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise gr.Error(t(lang, "sc_cannot_read", file=name, error=str(exc))) from None
        return text, t(lang, "sc_editing_file", file=name), name, None

    def new_text(language):
        def make():
            sid = free_id(sim, "nouveau-scenario" if language == "fr" else "new-scenario")
            text = scaffold(sid, language, scenario_dir=sim.settings.scenarios_dir)
            return text, t(lang, "sc_editing_new"), None, f"{sid}.yaml"
        return make

    def read_upload(file) -> tuple[Path, str]:
        path = Path(file if isinstance(file, str) else file.name)
        try:
            return path, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise gr.Error(t(lang, "sc_cannot_read", file=path.name, error=str(exc))) from None

    def on_upload(file):
        if not file:
            return gr.update(), gr.update(), gr.update(), gr.update(), None
        path, text = read_upload(file)
        # the drop zone is emptied so the next file can be dropped straight away
        return text, t(lang, "sc_editing_upload", file=path.name), None, path.name, None

    def on_card(file):
        if not file:
            return gr.update(), gr.update(), gr.update(), gr.update()
        path = Path(file if isinstance(file, str) else file.name)
        try:
            persona = load_card(path, lang)
        except CardError as exc:
            raise gr.Error(str(exc)) from None
        sid = free_id(sim, slug(persona.name))
        text = scaffold(sid, lang, card=persona, scenario_dir=sim.settings.scenarios_dir)
        return text, t(lang, "sc_editing_card", file=path.name), None, f"{sid}.yaml"

    def on_save(text, current, draft_name, replace_existing, request: gr.Request):
        guard(request)
        try:
            target = save_text(sim, text or "", editing=current, draft_name=draft_name, replace=bool(replace_existing),
                               lang=lang)
        except SimulatorError as exc:
            return (f"❌ {exc}", gr.update(), gr.update(), *(gr.update() for _ in refresh_outputs))
        return (f"✅ {t(lang, 'sc_saved', file=target.name)}", target.name,
                t(lang, "sc_editing_file", file=target.name), *refresh())

    async def on_try(text, current, draft_name, n_runs, request: gr.Request):
        guard(request)
        check = check_text(text or "", name_for(current, draft_name))
        if not check.valid:
            yield f"❌ {t(lang, 'sc_try_invalid')}", ""
            return
        sf = check.scenario_file
        if not sf.scenario.selftest:
            yield f"⚠️ {t(lang, 'sc_no_selftest')}", ""
            return
        results: list[PathResult] = []
        for path in sf.scenario.selftest:
            yield (results_markdown(results, lang) + f"\n\n⏳ {t(lang, 'sc_try_running', path=path.name, backend=sim.model.name)}"
                   if results else f"⏳ {t(lang, 'sc_try_running', path=path.name, backend=sim.model.name)}"), ""
            try:
                results.append(await run_path(sim, sf, path, int(n_runs)))
            except SimulatorError as exc:
                yield f"❌ {exc}", ""
                return
        summary = t(lang, "sc_try_done", backend=sim.model.name, runs=int(n_runs))
        yield (f"{summary}\n\n{results_markdown(results, lang)}",
               transcript_markdown(results[0], sf.scenario.persona.name, lang))

    refresh_outputs = [library, opener] + (practice.components if practice is not None else [])
    def on_reload():
        sim.reload_scenarios()
        return refresh()

    loaded = [editor, editing_label, editing, draft]
    editor.change(on_change, [editor, editing, draft], validation, trigger_mode="always_last", show_progress="hidden")
    opener.input(open_file, opener, loaded)
    reload.click(on_reload, None, refresh_outputs)
    new_fr.click(new_text("fr"), None, loaded)
    new_en.click(new_text("en"), None, loaded)
    upload.upload(on_upload, upload, [*loaded, upload])
    card.upload(on_card, card, loaded)
    save.click(on_save, [editor, editing, draft, replace], [save_status, editing, editing_label, *refresh_outputs])
    try_it.click(on_try, [editor, editing, draft, runs], [try_results, try_transcript])
    return ScenariosTab(library=library, opener=opener, allowed=allowed, refresh=refresh)
