"""Real call transcripts in, for QA with the same rubric as role-play.

Formats (by extension):
- `.json`  one object `{"id", "language", "turns": [{"speaker": "agent"|"debtor", "text"}]}` (or a list of them);
  optional `outcome` and `segment` (b2b/b2c).
- `.jsonl` one such object per line.
- `.csv`   a header with `speaker,text` (optional `id`, `language` columns), one turn per row.
- `.txt`   `Agent: …` / `Débiteur: …` lines; a line without a speaker continues the previous turn;
           `# language: en`, `# id: …`, `# outcome: PTP` header comments.

Every problem is reported as `file:line: problem (fix)`; the other files are still read.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML

from ..errors import TranscriptError
from ..scenario import _line_of

_AGENT = {"agent", "collector", "collecteur", "collectrice", "charge", "chargee", "charge de relance",
          "chargee de relance", "conseiller", "conseillere", "trainee", "stagiaire", "a", "rep", "operator"}
_DEBTOR = {"debtor", "debiteur", "debitrice", "client", "cliente", "customer", "d", "caller", "interlocuteur"}
_FR_WORDS = {"je", "vous", "le", "la", "les", "est", "pas", "une", "des", "facture", "pour", "que", "bonjour", "oui",
             "c'est", "merci", "nous", "avec", "votre", "sur", "du", "de", "et"}
_EN_WORDS = {"i", "you", "the", "is", "not", "a", "invoice", "for", "that", "hello", "yes", "it's", "thank", "we",
             "with", "your", "on", "of", "and", "to", "can"}


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    speaker: Literal["agent", "debtor"] = Field(description="agent (the collector) or debtor.")
    text: str = Field(min_length=1)


class TranscriptIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    language: Literal["fr", "en"] | None = None
    segment: Literal["b2b", "b2c"] | None = None
    outcome: str | None = None
    turns: list[TurnIn] = Field(min_length=1)


@dataclass
class Transcript:
    id: str
    language: str
    turns: list[tuple[str, str]]
    path: Path
    outcome: str | None = None
    segment: str | None = None
    lines: list[int] = field(default_factory=list)


def _fold_speaker(name: str) -> str:
    import unicodedata

    name = unicodedata.normalize("NFKD", name.strip().lower())
    name = "".join(c for c in name if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", name.strip(" :-"))


def speaker_of(name: str) -> str | None:
    folded = _fold_speaker(name)
    if folded in _AGENT:
        return "agent"
    if folded in _DEBTOR:
        return "debtor"
    return None


def detect_language(texts: list[str]) -> str:
    words = re.findall(r"[\w']+", " ".join(texts).lower())
    fr = sum(w in _FR_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    return "en" if en > fr else "fr"


def _normalise_turns(raw_turns) -> None:
    """Accept French speaker names and capitals in JSON too ("Débiteur", "Agent")."""
    if isinstance(raw_turns, list):
        for turn in raw_turns:
            if isinstance(turn, dict) and isinstance(turn.get("speaker"), str):
                turn["speaker"] = speaker_of(turn["speaker"]) or turn["speaker"]


def _from_object(obj, path: Path, default_id: str, tree=None, base_line: int = 1,
                 prefix: tuple = ()) -> tuple[Transcript | None, list[str]]:
    if not isinstance(obj, dict):
        return None, [f"{path}:{base_line}: expected an object with \"turns\" (see the transcript format in docs/rubrics.md)"]
    _normalise_turns(obj.get("turns"))
    try:
        model = TranscriptIn.model_validate(obj)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(tree, prefix + loc) if tree is not None else base_line
            where = ".".join(str(p) for p in loc)
            fix = {
                "literal_error": "use agent or debtor for speaker, fr or en for language",
                "missing": "add this field",
                "string_too_short": "write the turn's text",
                "too_short": "add at least one turn",
            }.get(err["type"], "see the transcript format in docs/rubrics.md")
            problems.append(f"{path}:{line}: {where}: {err['msg']} ({fix})")
        return None, problems
    turns = [(t.speaker, " ".join(t.text.split())) for t in model.turns]
    lines = [(_line_of(tree, prefix + ("turns", i)) if tree is not None else base_line) for i in range(len(turns))]
    return Transcript(model.id or default_id, model.language or detect_language([t for _, t in turns]), turns, path,
                      model.outcome, model.segment, lines), []


def _read_json(path: Path, text: str) -> tuple[list[Transcript], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (check commas, quotes and brackets)"]
    tree = YAML(typ="rt").load(text)  # same data, with the line of every key
    items = data if isinstance(data, list) else [data]
    found, problems = [], []
    for i, obj in enumerate(items):
        default_id = path.stem if len(items) == 1 else f"{path.stem}-{i + 1}"
        prefix = (i,) if isinstance(data, list) else ()
        transcript, errs = _from_object(obj, path, default_id, tree, prefix=prefix)
        problems.extend(errs)
        if transcript:
            found.append(transcript)
    return found, problems


def _read_jsonl(path: Path, text: str) -> tuple[list[Transcript], list[str]]:
    found, problems = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{n}: invalid JSON: {exc.msg} (one transcript object per line)")
            continue
        transcript, errs = _from_object(obj, path, f"{path.stem}-{n}", base_line=n)
        problems.extend(errs)
        if transcript:
            found.append(transcript)
    return found, problems


def _read_csv(path: Path, text: str) -> tuple[list[Transcript], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "speaker" not in header or "text" not in header:
        return [], [f"{path}:1: the header must name the columns speaker,text (got {','.join(header) or 'nothing'})"]
    reader.fieldnames = header
    turns, lines, problems = [], [], []
    tid = language = None
    for row in reader:
        n = reader.line_num
        speaker = speaker_of(row.get("speaker") or "")
        body = " ".join((row.get("text") or "").split())
        tid = tid or (row.get("id") or "").strip() or None
        language = language or (row.get("language") or "").strip() or None
        if speaker is None:
            problems.append(f"{path}:{n}: unknown speaker {row.get('speaker')!r} (use agent or debtor)")
            continue
        if not body:
            problems.append(f"{path}:{n}: empty text (write what was said, or remove the row)")
            continue
        turns.append((speaker, body))
        lines.append(n)
    if problems:
        return [], problems
    if not turns:
        return [], [f"{path}:2: no turn (add rows speaker,text under the header)"]
    if language not in (None, "fr", "en"):
        return [], [f"{path}:2: language: {language!r} (use fr or en)"]
    return [Transcript(tid or path.stem, language or detect_language([t for _, t in turns]), turns, path,
                       lines=lines)], []


_TXT_LINE = re.compile(r"^\s*([^:\n]{1,30}?)\s*:\s*(.*)$")
_TXT_META = re.compile(r"^\s*#\s*(language|langue|id|outcome|segment)\s*:\s*(\S+)", re.IGNORECASE)


def _read_txt(path: Path, text: str) -> tuple[list[Transcript], list[str]]:
    turns: list[list] = []
    meta: dict[str, str] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            m = _TXT_META.match(line)
            if m:
                key = {"langue": "language"}.get(m.group(1).lower(), m.group(1).lower())
                meta[key] = m.group(2)
            continue
        m = _TXT_LINE.match(line)
        speaker = speaker_of(m.group(1)) if m else None
        if speaker is not None:
            turns.append([speaker, m.group(2).strip(), n])
        elif turns:
            turns[-1][1] = f"{turns[-1][1]} {line.strip()}".strip()  # a continuation line
        else:
            problems.append(f"{path}:{n}: the first turn has no speaker (start lines with \"Agent:\" or \"Débiteur:\")")
            break
    turns = [t for t in turns if t[1]]
    if problems:
        return [], problems
    if not turns:
        return [], [f"{path}:1: no turn found (write lines \"Agent: …\" and \"Débiteur: …\")"]
    language = meta.get("language")
    if language not in (None, "fr", "en"):
        return [], [f"{path}:1: language: {language!r} (use fr or en)"]
    segment = meta.get("segment") if meta.get("segment") in ("b2b", "b2c") else None
    return [Transcript(meta.get("id", path.stem), language or detect_language([t[1] for t in turns]),
                       [(t[0], t[1]) for t in turns], path, meta.get("outcome"), segment, [t[2] for t in turns])], []


_READERS = {".json": _read_json, ".jsonl": _read_jsonl, ".csv": _read_csv, ".txt": _read_txt}


def read_transcripts(path: Path) -> list[Transcript]:
    """Every transcript in a file; raise TranscriptError listing every problem."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise TranscriptError([f"{path}:1: unknown transcript format {path.suffix or '(none)'} "
                               "(use .json, .jsonl, .csv or .txt)"])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TranscriptError([f"{path}:1: no such file (check the path)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError([f"{path}:1: cannot read the file ({exc}) (save it as UTF-8 text)"]) from None
    found, problems = reader(path, text)
    if problems:
        raise TranscriptError(problems)
    return found


def transcript_paths(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in _READERS))
        else:
            out.append(p)
    return out
