from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.scenario import load_scenario, load_scenarios, parse_scenario_text

VALID = """\
id: demo
title: Demo
language: fr
difficulty: easy
persona:
  name: Jean Dupont
  role: gérant
  company: Dupont SARL
  personality: Calme.
debt:
  amount: 1200.5
  currency: EUR
  invoice_ref: F-1
  due_date: 2024-01-31
  days_overdue: 30
situation: Un client l'a payé en retard.
hidden_facts:
  - Il peut payer 500 euros.
opening_line: Allô ?
"""


def problems(text: str, name: str = "broken.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario_text(text, Path(name))
    return info.value.problems


def test_shipped_scenarios_are_valid(scenarios_dir):
    result = load_scenarios(scenarios_dir)
    assert result.errors == []
    assert {"difficulte-passagere", "recalcitrant", "sous-tension"} <= set(result.scenarios)
    languages = [sf.scenario.language for sf in result.scenarios.values()]
    assert languages.count("fr") >= 10 and languages.count("en") >= 3
    assert {sf.scenario.difficulty for sf in result.scenarios.values()} == {"easy", "medium", "hard"}
    for sf in result.scenarios.values():
        assert len(sf.sha256) == 64
        assert len(sf.scenario.selftest) >= 2, sf.path
        # editors validate and autocomplete the file against the generated JSON Schema
        first_line = sf.path.read_text(encoding="utf-8").splitlines()[0]
        assert first_line == "# yaml-language-server: $schema=../schemas/scenario.schema.json", sf.path


def test_valid_file_loads_with_its_values():
    sf = parse_scenario_text(VALID, Path("demo.yaml"))
    assert sf.scenario.debt.amount == 1200.5
    assert sf.scenario.persona.name == "Jean Dupont"
    assert [f.text for f in sf.scenario.hidden_facts] == ["Il peut payer 500 euros."]
    assert sf.scenario.hidden_facts[0].unlock.trust == 0.6  # a plain string unlocks at trust 0.6


def test_id_defaults_to_file_name():
    text = VALID.replace("id: demo\n", "")
    assert parse_scenario_text(text, Path("Mon Scénario.yaml")).id == "mon-sc-nario"


def test_bad_yaml_names_file_and_line():
    text = VALID.replace("  role: gérant", "  role: [gérant")
    (problem,) = problems(text)
    assert problem.startswith("broken.yaml:")
    assert "YAML syntax" in problem
    line = int(problem.split(":")[1])
    assert 7 <= line <= 9


def test_missing_field_names_field_and_parent_line():
    text = VALID.replace("  invoice_ref: F-1\n", "")
    assert problems(text) == ["broken.yaml:10: debt.invoice_ref: Field required (add this field)"]


def test_wrong_type_names_line():
    text = VALID.replace("days_overdue: 30", "days_overdue: trente")
    (problem,) = problems(text)
    assert problem.startswith("broken.yaml:15: debt.days_overdue: Input should be a valid integer")


def test_negative_amount():
    text = VALID.replace("amount: 1200.5", "amount: -5")
    assert problems(text) == ["broken.yaml:11: debt.amount: Input should be greater than 0 (use a positive number)"]


def test_unknown_key():
    text = VALID.replace("  company: Dupont SARL\n", "  company: Dupont SARL\n  age: 52\n")
    assert problems(text) == ["broken.yaml:9: persona.age: unknown key (remove this key or fix its spelling)"]


def test_every_problem_is_reported_at_once():
    text = VALID.replace("amount: 1200.5", "amount: 0").replace("language: fr", "language: de")
    found = problems(text)
    assert len(found) == 2
    assert any("language" in p and "'fr' or 'en'" in p for p in found)
    assert any("debt.amount" in p for p in found)


def test_bad_date():
    text = VALID.replace("due_date: 2024-01-31", "due_date: 31/01/2024")
    (problem,) = problems(text)
    assert "broken.yaml:14: debt.due_date:" in problem and "YYYY-MM-DD" in problem


def test_not_a_mapping():
    assert problems("- a\n- b\n") == [
        "broken.yaml:1: (file): a scenario must be a mapping of `key: value` lines, not CommentedSeq"
    ]


def test_loader_keeps_going_past_broken_files(tmp_path):
    (tmp_path / "good.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(VALID.replace("amount: 1200.5", "amount: -1").replace("id: demo", "id: bad"))
    (tmp_path / "dup.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a scenario")
    result = load_scenarios(tmp_path)
    assert list(result.scenarios) == ["demo"]
    assert {p.name for p in result.broken} == {"bad.yaml", "good.yaml"}  # dup.yaml came first
    assert any("already used" in e for e in result.errors)
    assert any("debt.amount" in e for e in result.errors)


def test_unreadable_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: é".encode("latin-1"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "cannot read the file" in info.value.problems[0]


def test_scenario_files_parse_from_several_threads_at_once():
    """The app's handlers run in threads (the scenarios tab checks a draft while another user reloads): one
    shared ruamel parser read by two threads at once mixed their files up, as it did for rubric files."""
    from concurrent.futures import ThreadPoolExecutor

    from simulator.settings import PROJECT_ROOT

    paths = sorted((PROJECT_ROOT / "scenarios").glob("*.yaml")) * 4
    texts = [p.read_text(encoding="utf-8") for p in paths]
    with ThreadPoolExecutor(4) as pool:
        parsed = list(pool.map(parse_scenario_text, texts, paths))
    assert [s.id for s in parsed] == [parse_scenario_text(t, p).id for t, p in zip(texts, paths)]
