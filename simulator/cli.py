"""`python -m simulator …`: validate scenarios, play a call in the terminal, serve the app."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ConfigError, SimulatorError
from .settings import Settings

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="Collector training simulator: practise collection calls against an LLM-played debtor.",
)

BackendOpt = Annotated[Optional[str], typer.Option("--backend", help="embedded, openai or scripted")]
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model name for the openai backend")]
ModelPathOpt = Annotated[Optional[Path], typer.Option("--model-path", help="GGUF file for the embedded backend")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="Database and model cache folder")]
ScenariosOpt = Annotated[Optional[Path], typer.Option("--scenarios-dir", help="Folder of scenario files")]
LanguageOpt = Annotated[Optional[str], typer.Option("--language", help="Interface language: fr or en")]
DifficultyOpt = Annotated[Optional[str], typer.Option("--difficulty", help="easy, medium or hard (default: the scenario's)")]


def make_settings(**flags) -> Settings:
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        return Settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: show it as a setting problem
        raise SimulatorError(f"invalid setting: {exc}") from exc


def _fail(exc: SimulatorError) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def validate(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Scenario files or folders (default: the scenarios folder)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Also exit 1 when a self-test path misses its outcome on the engine")] = False,
) -> None:
    """Check scenario files; print every problem as file:line: field: message. Exit 1 if any."""
    from .scenario import load_scenarios
    from .selftest import dry_run_all

    targets = paths or [Settings().scenarios_dir]
    result = load_scenarios(list(targets))
    missed = 0
    for sid, sf in result.scenarios.items():
        runs = dry_run_all(sf.scenario)
        passed = sum(r.passed for r in runs)
        typer.echo(f"ok      {sf.path}  ({sid}; self-tests {passed}/{len(runs)} on the engine)")
        for r in runs:
            if not r.passed:
                missed += 1
                typer.secho(f"{sf.path}: selftest {r.path!r} ({r.level}): expected {r.expected}, the engine reaches "
                            f"{r.outcome} (rewrite the turns or retune the numbers)", fg=typer.colors.YELLOW, err=True)
    for problem in result.errors:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    if result.errors:
        typer.secho(f"{len(result.broken)} invalid file(s), {len(result.errors)} problem(s)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(result.scenarios)} scenario(s) valid")
    if strict and missed:
        typer.secho(f"{missed} self-test path(s) miss their outcome", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@app.command()
def play(
    scenario: Annotated[str, typer.Argument(help="Scenario id (file name without .yaml)")],
    backend: BackendOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    model_path: ModelPathOpt = None, data_dir: DataDirOpt = None, scenarios_dir: ScenariosOpt = None,
    difficulty: DifficultyOpt = None,
) -> None:
    """Play a call in the terminal with the same engine as the app. Empty line or /fin to hang up."""
    try:
        if difficulty not in (None, "easy", "medium", "hard"):
            raise SimulatorError(f"--difficulty {difficulty}: use easy, medium or hard")
        settings = make_settings(backend=backend, base_url=base_url, model=model, model_path=model_path,
                                 data_dir=data_dir, scenarios_dir=scenarios_dir)
        asyncio.run(_play(settings, scenario, difficulty))
    except SimulatorError as exc:
        _fail(exc)


async def _play(settings: Settings, scenario_id: str, difficulty: str | None = None) -> None:
    from .runtime import Simulator

    sim = Simulator(settings)
    try:
        call = await sim.start_call(scenario_id, difficulty=difficulty)
        name = call.scenario.persona.name
        typer.secho(f"📞 {call.scenario.title} — {name} ({call.scenario.persona.company})", bold=True)
        typer.echo(f"{name} : {call.history[0].text}")
        while call.active:
            try:
                line = await asyncio.to_thread(input, "Vous : ")
            except EOFError:
                break
            if not line.strip() or line.strip().lower() in ("/fin", "/end", "/quit"):
                break
            shown = ""
            typer.echo(f"{name} : ", nl=False)
            async for update in call.say(line):
                if update.error:
                    typer.secho(f"\n[{update.error}] — votre réplique est enregistrée, réessayez.", fg=typer.colors.RED)
                    break
                text = update.text
                if update.retrying:
                    typer.echo(" …", nl=False)
                    text = ""
                elif text.startswith(shown):
                    typer.echo(text[len(shown):], nl=False)
                else:  # the guard trimmed what was shown: say the line again
                    typer.echo(f"\n{name} : {text}", nl=False)
                shown = text
                if update.done:
                    typer.echo()
        turns = len(call.history)
        await sim.end_call(call.id)
        typer.echo(f"— appel terminé, {turns} répliques enregistrées (session {call.id})")
    finally:
        await sim.aclose()


@app.command()
def serve(
    backend: BackendOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    model_path: ModelPathOpt = None, data_dir: DataDirOpt = None, scenarios_dir: ScenariosOpt = None,
    language: LanguageOpt = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Listen address")] = None,
    port: Annotated[Optional[int], typer.Option("--port", help="Listen port")] = None,
) -> None:
    """Start the web app (http://127.0.0.1:7860 by default)."""
    try:
        settings = make_settings(backend=backend, base_url=base_url, model=model, model_path=model_path,
                                 data_dir=data_dir, scenarios_dir=scenarios_dir, language=language, host=host, port=port)
        _serve(settings)
    except SimulatorError as exc:
        _fail(exc)


def _serve(settings: Settings) -> None:
    from .runtime import Simulator
    from .ui.app import launch

    sim = Simulator(settings)
    for problem in sim.scenarios.errors:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    if hasattr(sim.model, "start"):
        typer.echo("starting the embedded model (llama.cpp server on 127.0.0.1)…", err=True)
        asyncio.run(sim.model.start())
    typer.echo(f"backend: {sim.model.name}", err=True)
    try:
        launch(sim)
    finally:
        asyncio.run(sim.aclose())


@app.command()
def selftest(
    scenarios: Annotated[Optional[list[str]], typer.Argument(help="Scenario ids (default: every valid scenario)")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs of each path")] = 1,
    backend: BackendOpt = None, base_url: BaseUrlOpt = None, model: ModelOpt = None,
    model_path: ModelPathOpt = None, data_dir: DataDirOpt = None, scenarios_dir: ScenariosOpt = None,
    transcripts: Annotated[bool, typer.Option("--transcripts", help="Print a sample transcript of each path")] = False,
    prompt_format: Annotated[Optional[str], typer.Option(
        "--prompt-format", help="transcript or chat (default: the setting, auto)")] = None,
) -> None:
    """Play each scenario's scripted trainee paths; exit 1 when a path misses its outcome too often."""
    try:
        settings = make_settings(backend=backend, base_url=base_url, model=model, model_path=model_path,
                                 data_dir=data_dir, scenarios_dir=scenarios_dir)
        if prompt_format:
            settings = settings.model_copy(update={"prompt_format": prompt_format})
            if prompt_format not in ("transcript", "chat", "auto"):
                raise ConfigError(f"--prompt-format {prompt_format!r}: use transcript, chat or auto")
        ok = asyncio.run(_selftest(settings, scenarios, runs, transcripts))
    except SimulatorError as exc:
        _fail(exc)
    if not ok:
        raise typer.Exit(1)


async def _selftest(settings: Settings, scenario_ids: list[str] | None, runs: int, transcripts: bool) -> bool:
    from .runtime import Simulator
    from .selftest import format_results, run_selftests

    sim = Simulator(settings)
    try:
        ids = scenario_ids or sorted(sim.scenarios.scenarios)
        unknown = [s for s in ids if s not in sim.scenarios.scenarios]
        if unknown:
            raise SimulatorError(f"unknown scenario(s): {', '.join(unknown)} (valid: {', '.join(sorted(sim.scenarios.scenarios))})")
        results = await run_selftests(sim, ids, runs)
        typer.echo(format_results(results))
        if transcripts:
            for r in results:
                typer.echo(f"\n--- {r.scenario_id} / {r.path} (first run)")
                english = sim.scenarios.scenarios[r.scenario_id].scenario.language == "en"
                agent, debtor, sep = ("Agent", "Debtor", ": ") if english else ("Agent", "Débiteur", " : ")
                for speaker, text in r.sample:
                    typer.echo(f"{agent if speaker == 'agent' else debtor}{sep}{text}")
        return all(r.passed for r in results)
    finally:
        await sim.aclose()


@app.command()
def schema(
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the *.schema.json files (default: schemas/)")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if a committed schema is out of date")] = False,
) -> None:
    """Write the JSON Schemas of scenario (and rubric) files, generated from the pydantic models."""
    from .schemas import SCHEMA_DIR, stale_schemas, write_schemas

    out_dir = out or SCHEMA_DIR
    if check:
        stale = stale_schemas(out_dir)
        for path in stale:
            typer.secho(f"{path}: out of date (run `python -m simulator schema`)", fg=typer.colors.RED, err=True)
        if stale:
            raise typer.Exit(1)
        typer.echo("schemas up to date")
        return
    for path in write_schemas(out_dir):
        typer.echo(f"wrote {path}")


@app.command("new-scenario")
def new_scenario(
    scenario_id: Annotated[str, typer.Argument(metavar="ID", help="Id of the new scenario, e.g. garage-en-difficulte")],
    language: Annotated[str, typer.Option("--language", help="Language the debtor speaks: fr or en")] = "fr",
    from_card: Annotated[Optional[Path], typer.Option("--from-card", help="Start from a Character Card V2 (JSON or PNG)")] = None,
    scenarios_dir: ScenariosOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented scenario file that validates, ready to edit (ID.yaml in the scenarios folder)."""
    from .authoring import scaffold
    from .cards import load_card

    try:
        if language not in ("fr", "en"):
            raise SimulatorError(f"--language {language}: use fr or en")
        folder = scenarios_dir or make_settings().scenarios_dir
        target = folder / f"{scenario_id}.yaml"
        if target.exists() and not force:
            raise SimulatorError(f"{target} already exists: choose another id, or add --force to overwrite it")
        card = load_card(from_card, language) if from_card else None
        try:
            text = scaffold(scenario_id, language, card=card, scenario_dir=folder)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except SimulatorError as exc:
        _fail(exc)
    typer.echo(f"wrote {target}")
    typer.echo(f"next: edit it, then `python -m simulator validate {target}` and "
               f"`python -m simulator selftest {scenario_id} --backend scripted --transcripts`")


@app.command("prepare-model")
def prepare_model(data_dir: DataDirOpt = None, model_path: ModelPathOpt = None) -> None:
    """Assemble and verify the embedded model now (otherwise done on first start)."""
    from .llm.embedded import assemble_model

    try:
        settings = make_settings(data_dir=data_dir, model_path=model_path)
        if settings.model_path:
            typer.echo(f"using {settings.model_path}")
            return
        path = assemble_model(settings.data_dir / "models")
        typer.echo(f"embedded model ready: {path}")
    except SimulatorError as exc:
        _fail(exc)


from .cli_admin import register as _register_admin_commands  # noqa: E402  (users, export, import)

_register_admin_commands(app)

from .cli_rubric import register as _register_rubric_commands  # noqa: E402  (score, calibrate, rubric-schema)

_register_rubric_commands(app)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(args=argv if argv is not None else sys.argv[1:], prog_name="python -m simulator")


if __name__ == "__main__":
    main()
