"""Authoring: the generated JSON Schema, the `new-scenario` scaffold and the Character Card V2 import."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from simulator.authoring import scaffold, schema_ref
from simulator.cards import CardError, load_card, read_card
from simulator.scenario import load_scenarios, parse_scenario_text
from simulator.schemas import REGISTRY, SCHEMA_DIR, render, schema_for, stale_schemas, write_schemas
from simulator.selftest import dry_run_all
from simulator.settings import PROJECT_ROOT

DATA = Path(__file__).parent / "data"
CARD = DATA / "card_v2_gerard.json"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or PROJECT_ROOT)


# --- JSON Schema ---------------------------------------------------------------------------

def test_committed_schemas_are_up_to_date():
    assert stale_schemas() == [], "run `python -m simulator schema` and commit schemas/"
    for name in REGISTRY:
        assert json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")) == schema_for(name)


def _as_json(value):
    """What an editor's YAML server sees: dates are plain strings."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def _yaml(path: Path):
    from ruamel.yaml import YAML

    return _as_json(YAML(typ="safe").load(path.read_text(encoding="utf-8")))


def test_the_schema_accepts_every_shipped_scenario_and_flags_mistakes(scenarios_dir):
    validator = jsonschema.Draft202012Validator(schema_for("scenario"))
    for path in sorted(scenarios_dir.glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(_yaml(path))]
        assert errors == [], path
    doc = _yaml(scenarios_dir / "recalcitrant.yaml")
    doc["persona"]["age"] = 52
    doc["debt"]["amount"] = -3
    doc["difficulty"] = "impossible"
    messages = " | ".join(e.message for e in validator.iter_errors(doc))
    assert "'age' was unexpected" in messages and "-3 is less than or equal to the minimum of 0" in messages
    assert "'impossible' is not one of ['easy', 'medium', 'hard']" in messages


def test_the_schema_carries_the_field_descriptions_editors_show():
    schema = schema_for("scenario")
    assert schema["$schema"].endswith("2020-12/schema")
    assert "file name" in schema["properties"]["id"]["description"]
    assert "id" not in schema["required"]  # the loader takes it from the file name
    assert "signposting" in json.dumps(schema["$defs"]["Resolution"])


def test_schema_command_writes_and_checks(tmp_path):
    result = run_cli("schema", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "scenario.schema.json"
    assert written.read_text(encoding="utf-8") == render("scenario")
    assert run_cli("schema", "--check", "--out", str(tmp_path)).returncode == 0
    written.write_text("{}", encoding="utf-8")
    stale = run_cli("schema", "--check", "--out", str(tmp_path))
    assert stale.returncode == 1 and "out of date" in stale.stderr


def test_write_schemas_only_writes_registered_kinds(tmp_path):
    assert [p.name for p in write_schemas(tmp_path)] == [f"{name}.schema.json" for name in REGISTRY]


# --- new-scenario scaffold -----------------------------------------------------------------

@pytest.mark.parametrize("language", ["fr", "en"])
def test_scaffold_validates_and_its_selftests_pass(language, tmp_path):
    text = scaffold("nouveau-debiteur", language, scenario_dir=PROJECT_ROOT / "scenarios")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../schemas/scenario.schema.json"
    sf = parse_scenario_text(text, tmp_path / "nouveau-debiteur.yaml")
    assert sf.scenario.language == language and sf.id == "nouveau-debiteur"
    runs = dry_run_all(sf.scenario)
    assert len(runs) >= 2 and all(r.passed for r in runs), [(r.path, r.expected, r.outcome) for r in runs]
    assert text.count("\n#") > 20  # commented for trainers


def test_scaffold_rejects_a_bad_id():
    with pytest.raises(ValueError, match="invalid scenario id"):
        scaffold("Mon Scénario", "fr")


def test_schema_reference_is_relative_to_the_scenario_folder(tmp_path):
    assert schema_ref(PROJECT_ROOT / "scenarios") == "../schemas/scenario.schema.json"
    assert schema_ref(PROJECT_ROOT / "scenarios" / "clients") == "../../schemas/scenario.schema.json"
    assert schema_ref(tmp_path) == (PROJECT_ROOT / "schemas" / "scenario.schema.json").as_posix()


def test_new_scenario_command(tmp_path):
    folder = tmp_path / "lib"
    result = run_cli("new-scenario", "garage-martin", "--language", "en", "--scenarios-dir", str(folder))
    assert result.returncode == 0, result.stderr
    target = folder / "garage-martin.yaml"
    assert "wrote" in result.stdout and target.exists()
    loaded = load_scenarios(folder)
    assert loaded.errors == [] and loaded.scenarios["garage-martin"].scenario.language == "en"
    again = run_cli("new-scenario", "garage-martin", "--scenarios-dir", str(folder))
    assert again.returncode == 1 and "already exists" in again.stderr and "--force" in again.stderr
    assert run_cli("new-scenario", "garage-martin", "--force", "--scenarios-dir", str(folder)).returncode == 0
    assert load_scenarios(folder).scenarios["garage-martin"].scenario.language == "fr"
    validate = run_cli("validate", str(target))
    assert validate.returncode == 0, validate.stderr


# --- Character Card V2 import ----------------------------------------------------------------

def test_card_fields_map_onto_the_persona():
    persona = load_card(CARD, "fr")
    assert persona.name == "Gérard Ponsard"
    assert persona.personality.startswith("Gérard Ponsard est un viticulteur de 61 ans")
    assert "méfiant envers le chargé de relance" in persona.personality
    assert "*" not in persona.personality and "soupire" not in persona.personality  # *actions* dropped
    assert persona.situation.startswith("La grêle de juin") and "{{" not in persona.situation
    assert persona.opening_line == "Ouais, Ponsard. C'est pour quoi ?"
    assert persona.example_lines == [
        "La facture, la facture… Vous avez vu le temps qu'il a fait cet été ?",
        "La grêle, voilà ce qui s'est passé. La moitié des vignes par terre.",
        "Quand l'assurance aura payé, pas avant.",
    ]
    # enabled lorebook entries become hidden facts, their keys the topics
    assert persona.hidden_facts == [
        ("L'assurance a promis de verser 18 000 euros avant la fin du mois prochain.", ["assurance", "indemnisation"])]
    assert "tags: agriculture, sinistre" in persona.notes


def test_a_card_scaffold_validates_and_keeps_the_card(tmp_path):
    text = scaffold("ponsard", "fr", card=load_card(CARD, "fr"))
    sf = parse_scenario_text(text, tmp_path / "ponsard.yaml")
    s = sf.scenario
    assert s.persona.name == "Gérard Ponsard" and s.opening_line == "Ouais, Ponsard. C'est pour quoi ?"
    assert s.hidden_facts[0].topics == ["assurance", "indemnisation"]
    assert s.example_lines[2] == "Quand l'assurance aura payé, pas avant."
    assert "# Importé de la carte de personnage card_v2_gerard.json." in text
    assert all(r.passed for r in dry_run_all(s))


def test_english_card_macros(tmp_path):
    card = json.loads(CARD.read_text(encoding="utf-8"))
    card["data"].update(personality="Wary of {{user}}.", mes_example="<START>\n{{user}}: Hi\n{{char}}: Not now, {{user}}.")
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    persona = load_card(path, "en")
    assert persona.personality.endswith("Wary of the collector.")
    assert persona.example_lines == ["Not now."]


def test_new_scenario_from_card_command(tmp_path):
    result = run_cli("new-scenario", "ponsard", "--from-card", str(CARD), "--scenarios-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert load_scenarios(tmp_path).scenarios["ponsard"].scenario.persona.name == "Gérard Ponsard"


def test_a_png_card_is_read_too(tmp_path):
    import base64
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    payload = base64.b64encode(CARD.read_bytes())
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"tEXt", b"chara\0" + payload) + chunk(b"IEND", b""))
    path = tmp_path / "card.png"
    path.write_bytes(png)
    assert read_card(path).data.name == "Gérard Ponsard"


def test_non_v2_files_are_refused_clearly(tmp_path):
    with pytest.raises(CardError, match=r"not a Character Card V2 .*no \"spec\" field.*looks like a V1 card"):
        read_card(DATA / "card_v1_plain.json")
    v3 = tmp_path / "v3.json"
    v3.write_text(json.dumps({"spec": "chara_card_v3", "data": {"name": "X"}}), encoding="utf-8")
    with pytest.raises(CardError, match=r'found "spec": "chara_card_v3"'):
        read_card(v3)
    broken = tmp_path / "broken.json"
    broken.write_text('{"spec": "chara_card_v2",\n "data": {"name": }}', encoding="utf-8")
    with pytest.raises(CardError, match=r"broken.json:2: not valid JSON"):
        read_card(broken)
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({"spec": "chara_card_v2", "data": {"description": "x"}}), encoding="utf-8")
    with pytest.raises(CardError, match=r"invalid Character Card V2: data.name: Field required"):
        read_card(nameless)
    png = tmp_path / "plain.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\0IEND\xaeB`\x82")
    with pytest.raises(CardError, match="no character card inside"):
        read_card(png)


def test_new_scenario_from_a_bad_card_fails_with_the_reason(tmp_path):
    result = run_cli("new-scenario", "old", "--from-card", str(DATA / "card_v1_plain.json"), "--scenarios-dir", str(tmp_path))
    assert result.returncode == 1 and "not a Character Card V2" in result.stderr
    assert not (tmp_path / "old.yaml").exists()


def test_validate_strict_flags_a_path_that_misses(tmp_path):
    text = (PROJECT_ROOT / "scenarios" / "recalcitrant.yaml").read_text(encoding="utf-8")
    (tmp_path / "recalcitrant.yaml").write_text(text.replace("    expect: PTP", "    expect: PLAN"), encoding="utf-8")
    lenient = run_cli("validate", str(tmp_path))
    assert lenient.returncode == 0 and "self-tests 2/3 on the engine" in lenient.stdout
    assert "selftest 'ferme-et-poli' (medium): expected PLAN, the engine reaches PTP" in lenient.stderr
    assert run_cli("validate", "--strict", str(tmp_path)).returncode == 1


def test_the_guide_exists_and_its_worked_example_works():
    guide = (PROJECT_ROOT / "docs" / "trainers-guide.md").read_text(encoding="utf-8")
    for heading in ("## 4. The state rules in plain language", "## 5. Difficulty levels",
                    "## 6. Validation messages and how to fix them"):
        assert heading in guide
    block = guide.split("<!-- guide-example: fleuriste-inondee -->\n```yaml\n", 1)[1].split("```", 1)[0]
    sf = parse_scenario_text(block, PROJECT_ROOT / "scenarios" / "fleuriste-inondee.yaml")
    runs = dry_run_all(sf.scenario)
    assert [(r.path, r.outcome) for r in runs] == [("ecoute-puis-echeancier", "PLAN"), ("soupconneux", "HUNG_UP")]
