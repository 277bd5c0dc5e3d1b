"""`python -m simulator score …` and `calibrate …`: the rubric engine on real transcripts and labels."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer

from .errors import RubricError, SimulatorError, TranscriptError

RubricOpt = Annotated[Optional[str], typer.Option(
    "--rubric", help="Rubric id (fr-default, en-us, en-uk) or YAML path; default: by the transcript's language")]


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("calibrate")(calibrate)
    app.command("train-violations")(train_violations)
    app.command("train-scores")(train_scores)
    app.command("train-semantic")(train_semantic)
    app.command("rubric-schema")(rubric_schema)


def _err(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)


def _fail(exc: SimulatorError) -> NoReturn:
    """Print a library error (a rubric's problems one per line) and exit 1."""
    if isinstance(exc, RubricError):
        for problem in exc.problems:
            _err(problem)
    else:
        _err(f"error: {exc}")
    raise typer.Exit(1) from None


def score(
    paths: Annotated[list[Path], typer.Argument(help="Transcript files (.json, .jsonl, .csv, .txt) or folders")],
    rubric: RubricOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per transcript per line")] = False,
    scoring: Annotated[Optional[str], typer.Option("--scoring", help="lexical, judge or blend (default: the setting)")] = None,
    semantic: Annotated[Optional[str], typer.Option("--semantic", help="The semantic violation detector: auto, on or off (default: the setting SIMULATOR_SEMANTIC)")] = None,
) -> None:
    """Score real call transcripts with a rubric: per-turn scores, evidence, tips, violations, scorecard."""
    from .cli import make_settings

    try:
        settings = make_settings(scoring=scoring, semantic=semantic)
        ok = asyncio.run(_score(settings, paths, rubric, as_json))
    except SimulatorError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)


async def _score(settings, paths: list[Path], rubric_ref: str | None, as_json: bool) -> bool:
    from .rubric.loader import resolve_rubric
    from .rubric.qa import score_transcript, transcript_json
    from .rubric.service import TurnScorer
    from .rubric.transcripts import read_transcripts, transcript_paths

    judge = None
    if settings.scoring != "lexical":
        from .llm.factory import build_judge_model, build_model

        judge = build_judge_model(settings) or build_model(settings)
    ok = True
    files = transcript_paths(list(paths))
    if not files:
        _err("error: no transcript file found (give .json, .jsonl, .csv or .txt files, or a folder holding some)")
        return False
    try:
        for path in files:
            try:
                transcripts = read_transcripts(path)
            except TranscriptError as exc:
                for problem in exc.problems:
                    _err(problem)
                ok = False
                continue
            for transcript in transcripts:
                try:
                    rubric = resolve_rubric(rubric_ref or settings.rubric, transcript.language, settings.rubrics_dir)
                except RubricError as exc:
                    for problem in exc.problems:
                        _err(problem)
                    return False
                from .rubric.semantic import detector_for

                scorer = TurnScorer(rubric, transcript.language, mode=settings.scoring, judge=judge,
                                    semantic=detector_for(rubric.rubric, transcript.language, settings))
                scores, card = await score_transcript(scorer, transcript)
                if as_json:
                    sys.stdout.write(json.dumps(transcript_json(transcript, scores, card), ensure_ascii=False) + "\n")
                else:
                    typer.echo(format_table(transcript, scores, card))
    finally:
        if judge is not None:
            await judge.aclose()
    return ok


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(transcript, scores, card) -> str:
    lines = [f"== {transcript.id} ({transcript.language}, {transcript.path}) — rubric {card.rubric_id}@{card.rubric_version}",
             f"{'#':>3} {'speaker':7} {'E':>1} {'F':>1} {'C':>1} {'stage':14} text"]
    for i, (speaker, text) in enumerate(transcript.turns):
        s = scores.get(i)
        if s is None:
            lines.append(f"{i:>3} {speaker:7} {'':1} {'':1} {'':1} {'':14} {_short(text, 70)}")
            continue
        sc = s.scores
        lines.append(f"{i:>3} {speaker:7} {sc['empathy']} {sc['firmness']} {sc['clarity']} {s.stage or '-':14} "
                     f"{_short(text, 70)}")
        for v in s.violations:
            lines.append(f"{'':31}!! {v.rule} ({v.category}): «{v.text}» — {v.reference}")
        for v in s.review:
            lines.append(f"{'':31}?? to check, learned model: {v.rule} ({v.category}): «{v.text}»")
        for dim, tip in s.tips.items():
            lines.append(f"{'':31}tip {dim}: {tip}")
    means = "  ".join(f"{d} {v:.2f} ({card.trend[d]:+.2f}/turn)" for d, v in card.means.items())
    lines.append(f"means: {means}")
    lines.append(f"stages: {', '.join(card.stages_covered) or '-'}   outcome: {card.outcome}")
    verdict = "PASS" if card.passed else "FAIL"
    lines.append(f"overall {card.overall:.2f} / pass mark {card.pass_mark:.2f} — {verdict}"
                 + (f" ({len(card.critical_errors)} critical error(s))" if card.critical_errors else "")
                 + (f"; {len(card.review_flags)} possible violation(s) to check" if card.review_flags else ""))
    return "\n".join(lines)


def calibrate(
    rubric: Annotated[str, typer.Argument(help="Rubric id or YAML path")],
    labels: Annotated[list[str], typer.Argument(
        help="Labelled CSV file(s) or glob pattern(s), read as one set "
             "(id,split,debtor_before,agent_text,empathy,firmness,clarity,violations,kind,note)")],
    split: Annotated[Optional[list[str]], typer.Option("--split", help="tune, holdout or all (repeatable; default: all three)")] = None,
    by_file: Annotated[bool, typer.Option("--by-file", help="With several files: also report each split file by file")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON")] = False,
    rules_only: Annotated[bool, typer.Option("--rules-only", help="Without the learned detector and the calibrated scores (the phrase rules alone)")] = False,
    semantic: Annotated[Optional[str], typer.Option("--semantic", help="The semantic violation detector: auto, on or off (default: the setting SIMULATOR_SEMANTIC); its vectors are cached in the data directory")] = None,
) -> None:
    """Compare the rubric's scores with human labels: Spearman, quadratic-weighted kappa, violation P/R.

    Several label files (or a glob such as 'calibration/fr_turns*.csv') are read as one set: e.g. the
    shipped set and the tune-only supplement, for tune figures on both.
    """
    from .rubric.calibrate import calibrate as run, expand_label_paths, format_reports, read_label_files
    from .rubric.loader import resolve_rubric
    from .rubric.service import get_scorer

    splits = tuple(split or ("tune", "holdout", "all"))
    bad = [s for s in splits if s not in ("tune", "holdout", "all")]
    try:
        if bad:
            raise SimulatorError(f"unknown split {', '.join(bad)} (use tune, holdout or all)")
        rubric_file = resolve_rubric(rubric)
        files = expand_label_paths(labels)
        rows = read_label_files(files)
        if rules_only:
            from .rubric.scorer import Scorer

            scorer = Scorer(rubric_file, learned=False)
        else:
            scorer = get_scorer(rubric_file)
        detector = None
        if not rules_only:
            from .cli import make_settings
            from .rubric.semantic import VectorCache, detector_for

            settings = make_settings(semantic=semantic)
            detector = detector_for(rubric_file.rubric, rubric_file.rubric.language, settings)
            if detector is not None:
                detector.cache = VectorCache.for_embedder(settings.data_dir / "cache", detector.model.spec)
        reports = run(scorer, rows, splits, by_file=by_file, semantic=detector)
    except SimulatorError as exc:
        _fail(exc)
    names = ", ".join(str(f) for f in files)
    if as_json:
        typer.echo(json.dumps({"rubric": rubric_file.rubric.ref, "semantic": detector is not None, "labels": names if len(files) > 1 else str(files[0]),
                               "files": [str(f) for f in files], "reports": [r.to_json() for r in reports]},
                              ensure_ascii=False))
    else:
        how = " (rules only)" if rules_only else " (with the semantic detector)" if detector is not None else ""
        typer.echo(f"rubric {rubric_file.rubric.ref}{how} vs {names}")
        typer.echo(format_reports(reports))


def train_violations(
    labels: Annotated[list[str], typer.Argument(
        help="Labelled CSV file(s) or glob pattern(s); only their split=tune rows are trained on")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the model here (e.g. rubrics/models/fr-violations.json)")] = None,
    cross_check: Annotated[bool, typer.Option("--cross-check", help="Leave one file out: how the model does on a writer it was not trained on")] = False,
    rubric: Annotated[Optional[str], typer.Option("--rubric", help="With --cross-check: also the rubric's phrase rules, alone and with the model")] = None,
    language: Annotated[str, typer.Option("--language", help="Language of the labelled turns")] = "fr",
    stem: Annotated[int, typer.Option("--stem", min=2, help="Letters kept of each word")] = 5,
    window: Annotated[int, typer.Option("--window", min=0, help="Pairs of stems at most this many words apart (0: none)")] = 1,
    debtor: Annotated[bool, typer.Option("--debtor/--no-debtor", help="Also the words of the debtor's line before the turn")] = True,
    c: Annotated[float, typer.Option("--c", min=0.0001, help="Inverse regularisation strength of the logistic regressions")] = 10.0,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", help="Probability from which a category is flagged: 0.4, or threat=0.35 (repeatable)")] = None,
) -> None:
    """Train the learned violation detector on labelled turns (scikit-learn needed here only), or cross-check it."""
    from .rubric.learned import FeatureSpec
    from .rubric.train import cross_check as run_check, format_cross_check, parse_thresholds, train_to

    if out is None and not cross_check:
        _err("error: give --out PATH to write the model, or --cross-check to measure it")
        raise typer.Exit(2)
    try:
        spec = FeatureSpec(stem=stem, window=window, debtor=debtor)
        thresholds = parse_thresholds(threshold)
        if cross_check:
            rules_scorer = None
            if rubric:
                from .rubric.loader import resolve_rubric
                from .rubric.scorer import Scorer

                rules_scorer = Scorer(resolve_rubric(rubric), learned=False)
            checks = run_check(labels, language, spec, c, thresholds, rules_scorer=rules_scorer)
            typer.echo(format_cross_check(checks, rules_scorer is not None))
        if out is not None:
            data = train_to(out, labels, language=language, spec=spec, c=c, thresholds=thresholds)
            from .rubric.train import trained_counts

            rows, skipped = trained_counts(data)
            typer.echo(f"wrote {out}: {len(data['categories'])} categories, {len(data['vocabulary'])} features, "
                       f"trained on {rows} tune rows ({skipped} holdout rows skipped)")
    except SimulatorError as exc:
        _fail(exc)


def train_scores(
    labels: Annotated[list[str], typer.Argument(
        help="Labelled CSV file(s) or glob pattern(s); only their split=tune rows are trained on")],
    rubric: Annotated[str, typer.Option("--rubric", help="The rubric whose phrase rules the model reads (id or YAML path)")] = "fr-default",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the model here (e.g. rubrics/models/fr-scores.json)")] = None,
    cross_check: Annotated[bool, typer.Option("--cross-check", help="Leave one file out: kappa of the rules and of the model on a writer it was not trained on")] = False,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0001, help="Regularisation strength of the ridge regressions")] = 1.0,
    stretch: Annotated[float, typer.Option("--stretch", min=0.5, max=2.0, help="Stretch of the predictions around the mean label (ridge pulls them in)")] = 1.25,
) -> None:
    """Train the rubric's dimension-score model on labelled turns (scikit-learn needed here only), or cross-check it."""
    from .rubric.loader import resolve_rubric
    from .rubric.train_scores import cross_check as run_check, format_score_check, train_scores as train

    if out is None and not cross_check:
        _err("error: give --out PATH to write the model, or --cross-check to measure it")
        raise typer.Exit(2)
    try:
        rubric_file = resolve_rubric(rubric)
        if cross_check:
            typer.echo(format_score_check(run_check(labels, rubric_file, alpha=alpha, stretch=stretch)))
        if out is not None:
            from .rubric.calibrated import write_score_model

            data = train(labels, rubric_file, language=rubric_file.rubric.language, alpha=alpha, stretch=stretch)
            write_score_model(data, out)
            from .rubric.train import trained_counts

            rows, skipped = trained_counts(data)
            typer.echo(f"wrote {out}: {len(data['numeric'])} rule measures and {len(data['vocabulary'])} word features, "
                       f"trained on {rows} tune rows ({skipped} holdout rows skipped) with {rubric_file.rubric.ref}")
    except SimulatorError as exc:
        _fail(exc)


def train_semantic(
    labels: Annotated[list[str], typer.Argument(
        help="Labelled CSV file(s), glob pattern(s) or probe .txt files; only their split=tune rows are trained on")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the model here (e.g. rubrics/models/fr-semantic.json)")] = None,
    cross_check: Annotated[bool, typer.Option("--cross-check", help="Leave one file out: the rules, each detector and the shipped policy on a writer the models were not trained on")] = False,
    rubric: Annotated[str, typer.Option("--rubric", help="The rubric whose phrase rules are measured too (--cross-check) and decide where the stack is trained")] = "fr-default",
    language: Annotated[str, typer.Option("--language", help="Language of the labelled turns")] = "fr",
    layers: Annotated[str, typer.Option("--layers", help="Blocks of the embedded model kept for the vectors: 14+p14 (the shipped model: the mean after 14 blocks and the prompted vector, i.e. the debtor's line and the turn in a question, last token after 14 blocks), 14+20 (blocks 14 and 20 side by side), one depth (14), or 14+20+p14")] = "14+p14",
    c: Annotated[float, typer.Option("--c", min=0.0001, help="Inverse regularisation strength of the logistic regressions")] = 0.05,
    neighbours: Annotated[int, typer.Option("--neighbours", min=0, help="How many of the nearest labelled turns vote beside the regressions (0: none; the model file then keeps no turns)")] = 10,
    stack: Annotated[bool, typer.Option("--stack/--no-stack", help="Weigh the detectors' readings per category with a regression trained leaving one file out (needs --neighbours > 0; minutes more); --no-stack: their plain mean")] = True,
    review_at: Annotated[Optional[list[str]], typer.Option("--review-at", help="Mean (or stacked) probability (the regressions, the votes and the lexical detector) from which a category is a review flag: 0.3, or disclosure_missing=0.5 (repeatable; default 0.4)")] = None,
    critical_at: Annotated[Optional[list[str]], typer.Option("--critical-at", help="Mean (or stacked) probability from which it is a critical error: 0.4, or disclosure_missing=0.7 (repeatable; default 0.6)")] = None,
    rule_check_below: Annotated[float, typer.Option("--rule-check-below", min=0.0, max=1.0, help="With the stack: a phrase rule's hit whose rule check (a regression on the same readings, trained where the rules fired) gives it less than this is a review flag, not a critical error (0: no rule check)")] = 0.3,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Where the embedded model and the vectors' cache are (default: the setting)")] = None,
) -> None:
    """Train the semantic violation detector on labelled turns with the embedded model's vectors (about a second
    a new turn; scikit-learn needed here only), or cross-check it."""
    from .cli import make_settings
    from .llm.embedded import EMBEDDED_MODEL
    from .rubric.embedder import Embedder, EmbedderSpec
    from .rubric.semantic import embedded_source, write_semantic
    from .rubric.train_semantic import cross_check as run_check, format_cross_check, train

    if out is None and not cross_check:
        _err("error: give --out PATH to write the model, or --cross-check to measure it")
        raise typer.Exit(2)
    try:
        from .rubric.train_semantic import thresholds

        review, critical = thresholds(review_at, critical_at)
    except SimulatorError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(2)
    try:
        spec = EmbedderSpec(EMBEDDED_MODEL.sha256, layers)  # a wrong --layers: EmbedderError
        settings = make_settings(data_dir=data_dir)
        source = embedded_source(settings.data_dir, EMBEDDED_MODEL.sha256)
        if source is None:
            raise SimulatorError("the embedded model is not installed (run `make install`, then "
                                 "`python -m simulator prepare-model`)")
        embedder = Embedder(spec, source)
        cache_dir = settings.data_dir / "cache"

        def progress(done: int, total: int) -> None:
            if done == 1 or done % 50 == 0 or done == total:
                typer.echo(f"vectors of new turns: {done}/{total}", err=True)

        def done(name: str, rows: int) -> None:
            typer.echo(f"left out {name}: {rows} turns read", err=True)

        rules_scorer = None
        if cross_check or stack:
            from .rubric.loader import resolve_rubric
            from .rubric.scorer import Scorer

            rules_scorer = Scorer(resolve_rubric(rubric), learned=False)
        if cross_check:
            typer.echo(format_cross_check(run_check(labels, embedder, cache_dir, rules_scorer, language, c,
                                                    review, critical, progress, neighbours, stack, done,
                                                    rule_check_below)))
        if out is not None:
            data = train(labels, embedder, cache_dir, language, c, review, critical, progress, neighbours,
                         rules_scorer if stack else None, done, rule_check_below)
            write_semantic(data, out)
            from .rubric.train import trained_counts

            rows, skipped = trained_counts(data)
            kept = f", {rows} labelled turns kept to vote" if data.get("neighbours") else ""
            kept += f", stacked in {len(data['stack']['categories'])} categories" if data.get("stack") else ""
            kept += (f", rule check in {len(data['rule_check']['categories'])} categories"
                     if data.get("rule_check") else "")
            typer.echo(f"wrote {out}: {len(data['categories'])} categories on {embedder.spec.key()} vectors, trained on "
                       f"{rows} tune rows ({skipped} holdout rows skipped){kept}")
    except SimulatorError as exc:
        _fail(exc)


def rubric_schema(
    out: Annotated[Path, typer.Option("--out", help="Folder for the JSON Schemas")] = Path("schemas"),
) -> None:
    """Write the JSON Schemas of rubric files and compliance packs (`schema` writes every kind)."""
    from .schemas import write_schemas

    for path in write_schemas(out, ["rubric", "compliance-pack"]):
        typer.echo(f"wrote {path}")
