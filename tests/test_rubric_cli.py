"""`python -m simulator score` on real transcripts and `calibrate` on labels."""

import json
import subprocess
import sys

import pytest

from simulator.errors import TranscriptError
from simulator.rubric.transcripts import read_transcripts
from simulator.settings import PROJECT_ROOT

CALL = [
    ("debtor", "Oui, allô ? C'est à quel sujet ?"),
    ("agent", "Bonjour Madame Lefèvre, je suis Paul Girard de Rénov'Plus. Je vous appelle au sujet de la facture F-7781 de 2 350 euros."),
    ("debtor", "Ah oui… c'est compliqué en ce moment, on épargne pour la maison."),
    ("agent", "Je comprends. Mais la facture est due : pouvez-vous régler 2 350 € le 5 décembre ?"),
    ("debtor", "D'accord, le 5 décembre."),
    ("agent", "Parfait, je note 2 350 € le 5 décembre. Je vous envoie un mail de confirmation aujourd'hui."),
]


def run(*args):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=120)


@pytest.fixture
def files(tmp_path):
    obj = {"id": "lefevre-1", "language": "fr", "turns": [{"speaker": s, "text": t} for s, t in CALL]}
    (tmp_path / "call.json").write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")
    (tmp_path / "calls.jsonl").write_text("\n".join(json.dumps({**obj, "id": f"c{i}"}, ensure_ascii=False) for i in range(2)),
                                          encoding="utf-8")
    (tmp_path / "call.csv").write_text("speaker,text\n" + "\n".join(f'{s},"{t}"' for s, t in CALL), encoding="utf-8")
    (tmp_path / "call.txt").write_text("# outcome: PTP\n" + "\n".join(
        f"{'Agent' if s == 'agent' else 'Débiteur'}: {t}" for s, t in CALL), encoding="utf-8")
    return tmp_path


def test_every_format_reads_the_same_call(files):
    for name in ("call.json", "call.csv", "call.txt"):
        (transcript,) = read_transcripts(files / name)
        assert transcript.turns == [(s, " ".join(t.split())) for s, t in CALL] and transcript.language == "fr"
    assert [t.id for t in read_transcripts(files / "calls.jsonl")] == ["c0", "c1"]
    assert read_transcripts(files / "call.txt")[0].outcome == "PTP"


def test_bad_transcripts_say_file_line_and_fix(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "x",\n "turns": [\n  {"speaker": "agent", "text": "Bonjour"},\n  {"speaker": "boss", "text": "Hm"}\n ]}\n')
    with pytest.raises(TranscriptError) as exc:
        read_transcripts(bad)
    assert exc.value.problems[0].startswith(f"{bad}:4: turns.1.speaker:") and "(use agent or debtor" in exc.value.problems[0]
    broken = tmp_path / "broken.json"
    broken.write_text('{"turns": [\n  {"speaker": "agent" "text": "x"}]}')
    with pytest.raises(TranscriptError, match=r"broken.json:2: invalid JSON"):
        read_transcripts(broken)
    txt = tmp_path / "notes.txt"
    txt.write_text("bonjour\nAgent: salut\n")
    with pytest.raises(TranscriptError, match=r"notes.txt:1: the first turn has no speaker"):
        read_transcripts(txt)
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("who,what\nagent,hello\n")
    with pytest.raises(TranscriptError, match=r"c.csv:1: the header must name the columns speaker,text"):
        read_transcripts(csv_file)


def test_score_json_prints_one_object_per_transcript(files):
    result = run("score", str(files / "call.json"), str(files / "calls.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in lines] == ["lefevre-1", "c0", "c1"]
    first = lines[0]
    agent = [t for t in first["turns"] if t["speaker"] == "agent"]
    debtor = [t for t in first["turns"] if t["speaker"] == "debtor"]
    assert all("scores" not in t for t in debtor)
    assert all(set(t["scores"]) == {"empathy", "firmness", "clarity"} for t in agent)
    assert [t["index"] for t in agent] == [1, 3, 5] and agent[0]["stage"] == "amount_stated"
    card = first["scorecard"]
    assert card["outcome"] == "PTP" and card["passed"] and card["rubric_id"] == "fr-default"
    assert card["turns_scored"] == 3 and "recap" in card["stages_covered"]


def test_score_table_and_errors_for_bad_files(files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("speaker,text\nboss,hello\n")
    result = run("score", str(files / "call.txt"), str(bad))
    assert result.returncode == 1
    assert "== call" in result.stdout and "overall" in result.stdout and "PASS" in result.stdout
    assert f"{bad}:2: unknown speaker 'boss' (use agent or debtor)" in result.stderr


def test_score_english_call_with_the_uk_rubric(tmp_path):
    path = tmp_path / "uk.txt"
    path.write_text("Debtor: Hello?\nAgent: Hi, this is Sam from Acme Credit. You need to sell your car and pay the "
                    "full balance today, or else.\n")
    result = run("score", str(path), "--rubric", "en-uk", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["language"] == "en" and out["scorecard"]["rubric_id"] == "en-uk"
    assert {v["rule"] for v in out["turns"][1]["violations"]} >= {"UK-PRESSURE"}
    assert out["scorecard"]["passed"] is False


def test_calibrate_reports_each_split():
    result = run("calibrate", "fr-default", "calibration/fr_turns.csv", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [r["split"] for r in data["reports"]] == ["tune", "holdout", "all"]
    for rep in data["reports"]:
        assert set(rep["kappa"]) == {"empathy", "firmness", "clarity"} and 0 <= rep["recall"] <= 1
    table = run("calibrate", "fr-default", "calibration/fr_turns.csv", "--split", "tune")
    assert "== tune" in table.stdout and "QW kappa" in table.stdout and "holdout" not in table.stdout
    missing = run("calibrate", "fr-default", "nope.csv")
    assert missing.returncode == 1 and "nope.csv:1: cannot read the labels" in missing.stderr


def test_calibrate_reads_several_label_files_and_globs(tmp_path):
    # the tune-only supplement with the shipped file: one tune set, reported per file too
    result = run("calibrate", "fr-default", "calibration/fr_turns.csv", "calibration/fr_turns_extra.csv",
                 "--split", "tune", "--by-file", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["files"] == ["calibration/fr_turns.csv", "calibration/fr_turns_extra.csv"]
    reports = {r["split"]: r for r in data["reports"]}
    assert list(reports) == ["tune", "tune · fr_turns.csv", "tune · fr_turns_extra.csv"]
    assert reports["tune"]["rows"] == reports["tune · fr_turns.csv"]["rows"] + reports["tune · fr_turns_extra.csv"]["rows"]
    assert reports["tune · fr_turns_extra.csv"]["rows"] >= 150
    # a glob stands for the files it matches; the supplement alone has no holdout split to report
    table = run("calibrate", "fr-default", "calibration/fr_turns_e*.csv")
    assert table.returncode == 0, table.stderr
    assert "== tune (" in table.stdout and "== all (" in table.stdout and "== holdout" not in table.stdout
    nothing = run("calibrate", "fr-default", str(tmp_path / "none*.csv"))
    assert nothing.returncode == 1 and "no label file matches this pattern" in nothing.stderr
    # the same id in two files is an error naming both places
    clash = tmp_path / "clash.csv"
    lines = (PROJECT_ROOT / "calibration" / "fr_turns_extra.csv").read_text(encoding="utf-8").splitlines()
    clash.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    dup = run("calibrate", "fr-default", "calibration/fr_turns_extra.csv", str(clash), "--split", "tune")
    assert dup.returncode == 1
    assert f"{clash}:2: id x001 is already used in calibration/fr_turns_extra.csv:2" in dup.stderr
