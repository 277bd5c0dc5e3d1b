import subprocess
import sys

from simulator.settings import PROJECT_ROOT


def run(*args, input=None, env_extra=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "simulator", *args], input=input, capture_output=True,
                          text=True, cwd=PROJECT_ROOT, env=env, timeout=120)


def test_validate_shipped_scenarios():
    result = run("validate")
    assert result.returncode == 0, result.stderr
    shipped = len(list((PROJECT_ROOT / "scenarios").glob("*.yaml")))
    assert f"\n{shipped} scenario(s) valid" in result.stdout
    assert "(recalcitrant; self-tests 3/3 on the engine)" in result.stdout


def test_validate_reports_every_problem_and_exits_1(tmp_path):
    good = (PROJECT_ROOT / "scenarios" / "recalcitrant.yaml").read_text(encoding="utf-8")
    (tmp_path / "bad.yaml").write_text(good.replace("amount: 2350", "amount: -2350").replace("id: recalcitrant", "id: bad"))
    (tmp_path / "worse.yaml").write_text("title: [unclosed\n")
    result = run("validate", str(tmp_path), str(PROJECT_ROOT / "scenarios" / "sous-tension.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'bad.yaml'}:" in result.stderr and "debt.amount: Input should be greater than 0" in result.stderr
    assert f"{tmp_path / 'worse.yaml'}:" in result.stderr and "YAML syntax" in result.stderr
    assert "ok      " in result.stdout and "sous-tension" in result.stdout
    assert "2 invalid file(s)" in result.stderr


def test_play_a_call_in_the_terminal(tmp_path):
    replies = tmp_path / "replies.txt"
    replies.write_text("Oui, c'est moi.\nJe peux payer vendredi.\n", encoding="utf-8")
    result = run("play", "difficulte-passagere", "--backend", "scripted", "--data-dir", str(tmp_path / "data"),
                 input="Bonjour Monsieur Moreau ?\nQuand pouvez-vous payer ?\n/fin\n",
                 env_extra={"SIMULATOR_SCRIPTED_REPLIES": str(replies)})
    assert result.returncode == 0, result.stderr
    assert "Julien Moreau : Menuiserie Moreau, bonjour" in result.stdout
    assert "Oui, c'est moi." in result.stdout and "Je peux payer vendredi." in result.stdout
    assert "5 répliques enregistrées" in result.stdout
    assert (tmp_path / "data" / "simulator.db").exists()


def test_play_unknown_scenario_is_a_clear_error(tmp_path):
    result = run("play", "nope", "--backend", "scripted", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1
    assert "unknown scenario 'nope'" in result.stderr and "recalcitrant" in result.stderr


def test_selftest_transcripts_speak_the_scenarios_language(tmp_path):
    """An English scenario on the scripted backend: English canned lines (no language fallbacks), English labels."""
    result = run("selftest", "uk-cash-flow-b2b", "recalcitrant", "--backend", "scripted",
                 "--data-dir", str(tmp_path / "data"), "--transcripts")
    assert result.returncode == 0, result.stdout + result.stderr
    table, _, transcripts = result.stdout.partition("\n--- ")
    assert "language:" not in table  # no English call answered in French by the test double
    uk, _, fr = transcripts.partition("--- recalcitrant")
    assert "\nDebtor: Priya Shah speaking." in uk and "Débiteur" not in uk
    assert "Debtor: Yes, hello… Look, I know about the invoice" in uk
    assert "\nDébiteur : " in fr and "\nAgent : " in fr and "Debtor:" not in fr
