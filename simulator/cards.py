"""Character Card V2 import: start a debtor from a role-play character many authors already have.

The card format is the community "Character Card V2" specification
(`{"spec": "chara_card_v2", "spec_version": "2.0", "data": {...}}`). We read
the JSON card (or a PNG card, where the same JSON sits base64-encoded in a
`chara` text chunk) and map it onto a scenario's persona:

| card field                | scenario field              |
|---------------------------|-----------------------------|
| name                      | persona.name                |
| description, personality  | persona.personality         |
| scenario                  | situation                   |
| first_mes                 | opening_line                |
| mes_example               | example_lines (the character's lines only) |
| character_book.entries    | hidden_facts (entry keys become topics) |
| creator_notes, tags, creator | a comment at the top of the file |

`{{char}}` becomes the character's name and `{{user}}` the collector;
`*actions between asterisks*` are dropped, since the debtor speaks on the phone.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import SimulatorError

COLLECTOR = {"fr": "le chargé de relance", "en": "the collector"}


class CardError(SimulatorError):
    """A character card cannot be read or is not a Character Card V2."""


class CardBookEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    keys: list[str] = Field(default_factory=list)
    content: str = ""
    enabled: bool = True


class CardBook(BaseModel):
    model_config = ConfigDict(extra="allow")
    entries: list[CardBookEntry] = Field(default_factory=list)


class CardData(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown fields are kept by other tools; we ignore them
    name: str = Field(min_length=1)
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    creator_notes: str = ""
    tags: list[str] = Field(default_factory=list)
    creator: str = ""
    character_book: CardBook | None = None


class CharacterCardV2(BaseModel):
    model_config = ConfigDict(extra="allow")
    spec: str
    spec_version: str = "2.0"
    data: CardData


@dataclass
class CardPersona:
    """What a card gives a new scenario (every text already cleaned)."""

    name: str
    personality: str
    situation: str
    opening_line: str
    example_lines: list[str] = field(default_factory=list)
    hidden_facts: list[tuple[str, list[str]]] = field(default_factory=list)  # (text, topics)
    notes: list[str] = field(default_factory=list)
    source: str = ""


def _png_card_text(raw: bytes, path: Path) -> str:
    """The JSON inside a PNG card's `chara` tEXt chunk."""
    pos = 8
    while pos + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        chunk = raw[pos + 8:pos + 8 + length]
        if kind == b"tEXt" and b"\0" in chunk:
            keyword, value = chunk.split(b"\0", 1)
            if keyword == b"chara":
                try:
                    return base64.b64decode(value).decode("utf-8")
                except ValueError as exc:
                    raise CardError(f"{path}: the PNG's `chara` chunk is not base64 JSON ({exc})") from None
        pos += 12 + length
    raise CardError(f"{path}: this PNG has no character card inside (no `chara` text chunk); export the card as JSON")


def read_card(path: Path) -> CharacterCardV2:
    """Read and check a Character Card V2 file (JSON, or PNG with the card embedded)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CardError(f"{path}: cannot read the card ({exc.strerror})") from None
    text = _png_card_text(raw, path) if raw.startswith(b"\x89PNG") else raw.decode("utf-8", errors="replace")
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise CardError(f"{path}: a character card is a JSON object, not {type(doc).__name__}")
    if doc.get("spec") != "chara_card_v2":
        found = f"\"spec\": {json.dumps(doc['spec'])}" if "spec" in doc else "no \"spec\" field"
        hint = (" It looks like a V1 card (name and description at the top level): wrap it as "
                "{\"spec\": \"chara_card_v2\", \"spec_version\": \"2.0\", \"data\": {…the V1 fields…}}."
                if "name" in doc and "data" not in doc else "")
        raise CardError(f"{path}: not a Character Card V2 (expected \"spec\": \"chara_card_v2\", found {found}).{hint}")
    try:
        return CharacterCardV2.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CardError(f"{path}: invalid Character Card V2: {problems}") from None


_MACROS = re.compile(r"\{\{\s*(char|user)\s*\}\}|<(BOT|USER)>", re.IGNORECASE)
_ACTION = re.compile(r"\*[^*\n]{1,300}\*")


_VOCATIVE = re.compile(r"\s*,?\s*(?:\{\{\s*user\s*\}\}|<USER>)(?=\s*[,.!?…])", re.IGNORECASE)
SPOKEN_USER = {"fr": "vous", "en": "you"}


def clean(text: str, name: str, language: str, *, spoken: bool = False) -> str:
    """Replace the macros, drop *actions*, collapse whitespace.

    In a line the character says, `{{user}}` is the person they talk to: a vocative
    ("payé, {{user}}, pas avant") is dropped, anything else becomes "vous"/"you".
    """
    if spoken:
        text = _VOCATIVE.sub("", text)
        text = re.sub(r"\{\{\s*user\s*\}\}|<USER>", SPOKEN_USER[language], text, flags=re.IGNORECASE)

    def macro(m: re.Match) -> str:
        which = (m.group(1) or m.group(2)).lower()
        return name if which in ("char", "bot") else COLLECTOR[language]

    text = _MACROS.sub(macro, text)
    text = _ACTION.sub(" ", text)
    return " ".join(text.split())


def example_lines(mes_example: str, name: str, language: str, limit: int = 6) -> list[str]:
    """The character's own lines in the card's example dialogues."""
    lines: list[str] = []
    speaker_is_char = False
    for raw in mes_example.replace("\r", "").split("\n"):
        line = raw.strip()
        if not line or line.upper().startswith("<START>"):
            speaker_is_char = False
            continue
        m = re.match(r"^(\{\{\s*(?:char|user)\s*\}\}|<BOT>|<USER>|[^:]{1,40}):\s*(.*)$", line, re.IGNORECASE)
        if m:
            label = m.group(1).strip().lower()
            speaker_is_char = label in ("{{char}}", "<bot>", name.lower()) or re.fullmatch(r"\{\{\s*char\s*\}\}", label) is not None
            line = m.group(2)
        if speaker_is_char:
            said = clean(line, name, language, spoken=True)
            if said:
                if m or not lines:
                    lines.append(said)
                else:  # a continuation line of the same turn
                    lines[-1] = f"{lines[-1]} {said}"
    return [line for line in lines if line][:limit]


def card_persona(card: CharacterCardV2, language: str = "fr", source: str = "") -> CardPersona:
    d = card.data
    name = " ".join(d.name.split())
    personality = clean(" ".join(part for part in (d.description, d.personality) if part.strip()), name, language)
    facts = []
    if d.character_book:
        for entry in d.character_book.entries:
            text = clean(entry.content, name, language)
            if entry.enabled and text:
                facts.append((text, [k.strip() for k in entry.keys if k.strip()][:8]))
    notes = []
    if d.creator_notes.strip():
        notes.append(clean(d.creator_notes, name, language))
    if d.tags:
        notes.append("tags: " + ", ".join(d.tags))
    if d.creator.strip():
        notes.append(f"creator: {d.creator.strip()}")
    return CardPersona(
        name=name, personality=personality, situation=clean(d.scenario, name, language),
        opening_line=clean(d.first_mes, name, language, spoken=True), example_lines=example_lines(d.mes_example, name, language),
        hidden_facts=facts, notes=notes, source=source,
    )


def load_card(path: Path, language: str = "fr") -> CardPersona:
    return card_persona(read_card(path), language, source=path.name)
