"""Golden output of the deterministic scorer: every result of a frozen corpus, to check speed work changes none.

The corpus (`tests/data/rubric_golden_inputs.json`) is frozen: the French turn texts of
`calibration/fr_turns.csv` (texts only, labels unused), hand-written English turns, long and
odd turns (shouting, unicode, empty), and turns sampled from the rubric patterns themselves
(every indicator, rule, stage and cue pattern expanded once, then mixed) so each gate and
alternation of the scorer is exercised. Each shipped rubric scores it turn by turn out of a call
(`score_isolated`, also as a b2c call), in calls (sessions: history, repeated formulas, required
disclosures), with the language overridden, and hears the debtor lines (`debtor_cues`). The
complete output (scores, raw, evidence spans, tips, violations, stages, flags, caps, notes,
metrics, scorecards) goes to `tests/data/rubric_golden.jsonl.xz`, one case per line (xz-compressed:
the plain file is 16 MB; `--check` prints the differing fields of each case that changed).

    python tests/rubric_golden.py --check     # compare with the golden file (what the test does)
    python tests/rubric_golden.py --write     # rewrite it (after an intended change of scores)
    python tests/rubric_golden.py --make-inputs   # rebuild the frozen corpus (changes the cases!)

Run from a checkout (it imports `simulator` from the current directory), so the golden file of one
checkout can be produced by the code of another: to check that an optimisation changes nothing on
new rubric patterns, `--write --out X` with the old scorer and `--check --golden X` with the new.
When the rubric YAML changes on purpose, the scores change too: rewrite the file and read the diff.
"""

from __future__ import annotations

import argparse
import csv
import json
import lzma
import random
import sys
from pathlib import Path

try:  # Python 3.11+
    from re import _constants as _c, _parser as _p
except ImportError:  # pragma: no cover
    import sre_constants as _c
    import sre_parse as _p

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from any checkout: import that checkout's simulator
    sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "data"
INPUTS = DATA / "rubric_golden_inputs.json"
GOLDEN = DATA / "rubric_golden.jsonl.xz"  # xz: 16 MB of JSON lines in ~250 kB
RUBRICS = ("fr-default", "en-us", "en-uk")

# --- the frozen corpus --------------------------------------------------------------------------------------
EN_TURNS: list[tuple[str, str]] = [  # (debtor line before, agent turn)
    ("Hello?", "Hi, this is Paul Girard from ABC Collections. This is an attempt to collect a debt and any information obtained will be used for that purpose. Am I speaking with Mr. Smith?"),
    ("Yes, speaking.", "Thank you, Mr. Smith. I'm calling about invoice 7781 for $2,350, which was due on October 31."),
    ("Who is this?", "Hi, you owe us $2,350 for invoice 7781. When can you pay?"),
    ("Hello?", "Good morning, my name is Sarah from Northwind Recoveries, calling on behalf of Fibreo. May I speak with Mrs. Jones?"),
    ("She's not here, I'm her husband.", "No problem. Could you tell her that Sarah from Northwind called? I'll call back tomorrow morning."),
    ("She's not here, I'm her husband.", "Then tell your wife she owes us £1,200 and we will take her to court if she doesn't pay this week."),
    ("I lost my job last month and I'm really struggling.", "I'm so sorry to hear that. That must be really hard. What can you manage at the moment?"),
    ("I lost my job last month and I'm really struggling.", "Not my problem. You owe $900 and you need to pay it today."),
    ("I lost my job last month and I'm really struggling.", "The balance is $900. When can you pay?"),
    ("We never received the goods, the order was wrong.", "I understand. I'll log your dispute and we will look into the invoice before asking for anything. Can you tell me what was missing?"),
    ("We never received the goods, the order was wrong.", "Doesn't matter, you still owe it. Pay it anyway and dispute it later."),
    ("I'll pay when I can.", "Whenever you can, no rush."),
    ("I'll pay when I can.", "I need a date. Can you pay $450 on Friday, December 5?"),
    ("I'll pay when I can.", "So if I understand correctly, your main client paid you late and cash flow is tight this month. Could we agree on three monthly payments of $300, starting on the 15th?"),
    ("OK, that works.", "Thank you. So we agree: $300 on December 15, January 15 and February 15. I'll send you a written confirmation today. Have a good day."),
    ("This is ridiculous, stop calling me!", "I hear you. I'll be quick: the invoice is $2,350, due since October 31. What date can you pay?"),
    ("This is ridiculous, stop calling me!", "YOU WILL PAY NOW OR WE SEND THE POLICE!!! THIS IS YOUR LAST WARNING BEFORE WE SEIZE YOUR HOUSE!!!"),
    ("I can't pay.", "You're a deadbeat and a liar. Pay up or we'll garnish your wages and call your employer."),
    ("I can't pay.", "If you don't pay, a collection fee will be added and your credit will be ruined forever. It's a crime not to pay."),
    ("I can't pay.", "I'm an attorney from the district attorney's office and this is a legal summons."),
    ("I can't pay.", "Sell your car or borrow the money from your family. You have one hour to pay."),
    ("I can't pay.", "We don't accept payment plans, it's the full amount or nothing."),
    ("I'm struggling with debts, I don't know what to do.", "That sounds really stressful. You can get free debt advice from StepChange or Citizens Advice, and I can put the account on hold while you do."),
    ("I'm struggling with debts, I don't know what to do.", "We will call you every day until you pay. We won't leave you alone."),
    ("Can you hear me? You're breaking up!", "I SAID THE INVOICE IS 2,350 DOLLARS, DUE ON THE 15TH."),
    ("It's 11pm, I was asleep.", "Sorry for the late call. I'll call back tomorrow at 10 am, does that work for you?"),
    ("What does that mean?", "Pursuant to the accrued principal on the receivable ledger, the acceleration clause applies to the outstanding balance."),
    ("What does that mean?", "It means the invoice of $2,350 is unpaid. Can you pay it by Friday?"),
    ("I don't know when.", "When can you pay, how much can you pay, and which account will you use?"),
    ("I don't know when.", "Will you pay by card, by transfer or by check, today or tomorrow or next week?"),
    ("I don't know when.", "I understand, I understand, I understand. I hear you, I hear you."),
    ("I don't know when.", "Empathy, active listening, understood, I see, I get it, thank you, please."),
    ("Fine.", "Great. Can I count on you for $500 by next Friday? Do I have your commitment?"),
    ("Fine.", "Thank you."),
    ("", "Hello, this is Mark from Acme Credit. Is this Ms. Taylor? I'm calling about the past due balance on your account."),
    ("", "Pay what you owe."),
    ("My husband passed away in March and everything is a mess.", "I'm truly sorry for your loss. Take your time. We can find an arrangement that works for you, there is no pressure today."),
    ("My husband passed away in March and everything is a mess.", "Everyone has problems. The bill must be paid by tomorrow."),
    ("I filed for bankruptcy.", "Thank you for telling me. Can you give me your case number? I'll note it and we will stop collection activity on this account."),
    ("(voicemail) You've reached the Miller family, leave a message.", "Hi, this is Anna from Delta Recovery for John Miller, please call me back at 555 0100 about your overdue debt of $1,800."),
    ("(voicemail) You've reached the Miller family, leave a message.", "Hi, this is Anna, please call me back at 555 0100. Thank you."),
    ("The debt is from 2015.", "That debt is time barred but you still have to pay it now, otherwise we'll sue you today."),
    ("I'm confused, what is this?", "Let me make sure I understand: you didn't get our letter? The invoice is number INV-20931, for £640, issued on 3 September 2024."),
    ("Not now, I'm in a meeting.", "I won't keep you. When suits you for a call back, this afternoon or tomorrow at 9?"),
    ("I already paid!", "Thank you, I'll verify the payment. Can you tell me the date and the amount you sent?"),
    ("I already paid!", "Yeah right, sure you did. How convenient."),
    ("We'll see.", "I'm asking you to pay £1,200 by the end of the month. If not, the file goes to our legal department, which may start a county court claim."),
    ("We'll see.", "The county court bailiffs will be round tomorrow to seize your furniture."),
    ("We'll see.", "Put it on a credit card, you have no choice. Pay it in full today."),
    ("I'm not Mr. Jones, wrong number.", "Sorry for the trouble, I will update our records. Have a good evening."),
    ("I'm not Mr. Jones, wrong number.", "Tell Mr. Jones his debt of $3,000 is overdue and everyone will know about it."),
    ("Okay okay, I'll pay on Monday.", "Thanks. To recap: $700 on Monday, November 11, by bank transfer to the account on the invoice. You'll get a receipt by email. Goodbye."),
    ("Can you explain the fees?", "There are no extra fees. The amount is exactly the invoice: $1,150. Could you settle it this week?"),
    ("Can you explain the fees?", "We'll add an admin fee of $75 and a processing fee for every month late."),
    ("I'm depressed and can't cope.", "I'm sorry you're going through this. Your wellbeing comes first. Would it help if I paused the account for 30 days and sent you the details of free, independent advice services?"),
    ("I'm depressed and can't cope.", "Calm down, it's simple: pay the balance and stop complaining."),
    ("Leave me alone!", "Listen to me, let me finish. You never pay, you always have an excuse. Shut up and pay."),
    ("Hello?", "Hi! Hi! Hi!"),
    ("Hello?", "Is this John Smith? This is Kate from Summit Recovery, a debt collector. This is an attempt to collect a debt."),
    ("Sorry, who?", "Kate, from Summit Recovery. I'm calling about invoice #4471 for $820, in two instalments of $410 if that helps."),
    ("Hmm.", "Could you make a payment of $200 on the 1st and $200 on the 15th? In other words, two payments over this month."),
    ("Hmm.", "ok so um basically like you know the thing is that we sort of maybe need some kind of payment at some point perhaps soon-ish"),
]

WEIRD: list[tuple[str, str]] = [
    ("", ""),
    ("Allô ?", "   "),
    ("Allô ?", "?"),
    ("Allô ?", "…"),
    ("Allô ?", "Bonjour\tMadame,\r\nje vous appelle\u00a0au sujet de la facture\u202fF-7781 de 2\u202f350\u00a0€."),
    ("Allô ?", "İSTANBUL Œuvre cœur ﬁnance Straße ÆGIS — « d’accord » … 😀 ça marche ✔"),
    ("Je suis à sec.", "JE COMPRENDS. MAIS VOUS DEVEZ PAYER LES 2 350 € AVANT VENDREDI !!!"),
    ("Je suis à sec.", "Je comprends, je comprends, je comprends, je comprends vraiment."),
    ("Je suis à sec.", "Je comprends… je comprends !! Je comprends ?? je-comprends"),
    ("Allô ?", "Le 15/12/2024, le 3, fin du mois, d'ici dix jours, dans 2 semaines, en trois fois, 4 mensualités, 1 fois."),
    ("Allô ?", "Facture n° 0458, dossier numéro 2024-77, contrat n°A-991, F-7781, INV/2024/003, 12 000€, €2,350, 2k, deux mille cinq cents euros, 40 €."),
    ("Allô ?", "((( [[[ ]]] ))) \\ \\\\ .* +? ^ $ | {2,3}"),
    ("", "a" * 300),
    ("", " ".join(["mot"] * 400)),
]


def _fr_rows() -> list[tuple[str, str]]:
    with (ROOT / "calibration" / "fr_turns.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["debtor_before"], row["agent_text"]) for row in csv.DictReader(handle)]


class _Sampler:
    """A string that a regular expression matches, chosen at random (to exercise every pattern)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def sample(self, pattern: str) -> str:
        try:
            return "".join(self._items(_p.parse(pattern).data)).strip()
        except Exception:  # noqa: BLE001 - a pattern the sampler cannot expand is skipped
            return ""

    def _items(self, items) -> list[str]:
        out: list[str] = []
        for op, av in items:
            out.extend(self._one(op, av))
        return out

    def _one(self, op, av) -> list[str]:
        rng = self.rng
        if op is _c.LITERAL:
            return [chr(av)]
        if op is _c.NOT_LITERAL:
            return ["x" if av != ord("x") else "y"]
        if op is _c.ANY:
            return [rng.choice("ab ")]
        if op is _c.IN:
            chars = []
            for kind, value in av:
                if kind is _c.LITERAL:
                    chars.append(chr(value))
                elif kind is _c.RANGE:
                    chars.extend(chr(x) for x in range(value[0], value[1] + 1))
                elif kind is _c.CATEGORY:
                    chars.extend(self._category(value))
                elif kind is _c.NEGATE:
                    return ["q"]
            return [rng.choice(chars)] if chars else []
        if op is _c.CATEGORY:
            return [rng.choice(self._category(av))]
        if op is _c.SUBPATTERN:
            return self._items(av[-1].data)
        if op is _c.BRANCH:
            return self._items(rng.choice(av[1]).data)
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            top = low + 1 if high is _c.MAXREPEAT or high > low + 1 else high
            n = rng.randint(low, min(top, low + 2))
            out = []
            for _ in range(n):
                out.extend(self._items(sub.data))
            return out
        return []  # anchors, look-arounds, group references: nothing to write

    @staticmethod
    def _category(cat) -> list[str]:
        name = str(cat)
        if "NOT_WORD" in name or "NOT_DIGIT" in name:
            return [" "]
        if "DIGIT" in name:
            return list("0123456789")
        if "NOT_SPACE" in name:
            return ["z"]
        if "SPACE" in name:
            return [" "]
        return list("abcdefgh")


def _patterns(rubric, lang: str) -> tuple[list[str], list[str]]:
    """(agent-side patterns, debtor-cue patterns) of a rubric in one language."""
    agent: list[str] = []
    for ind in rubric.indicators:
        agent.extend(ind.patterns.get(lang, []))
    for stage in rubric.stages:
        agent.extend(stage.patterns.get(lang, []))
    for rule in rubric.rules:
        for field in (rule.patterns, rule.trigger, rule.unless):
            agent.extend(field.get(lang, []))
    cues = [p for by_lang in rubric.debtor_cues.values() for p in by_lang.get(lang, [])]
    return agent, cues


def _synthetic(lang: str, rubrics, rng: random.Random, n_turns: int) -> list[tuple[str, str]]:
    sampler = _Sampler(rng)
    agent: list[str] = []
    cues: list[str] = []
    for rubric in rubrics:
        a, c = _patterns(rubric, lang)
        agent.extend(a)
        cues.extend(c)
    agent = sorted(set(agent))
    cues = sorted(set(cues))
    pieces = [s for s in (sampler.sample(p) for p in agent) for _ in range(2) if s]
    debtor = [s for s in (sampler.sample(p) for p in cues) if s]
    rng.shuffle(pieces)
    prefixes = {"fr": ["", "", "", "nous n'allons pas ", "si vous ne payez pas, ", "je ne vais jamais ", "alors ", "mais "],
                "en": ["", "", "", "we will not ", "if you don't pay, ", "i never said ", "so ", "but "]}[lang]
    seps = [", ", ". ", " ? ", " ! ", " ", " ; ", "\n", " - "]
    out = []
    for i in range(n_turns):
        k = rng.randint(1, 5)
        chosen = [rng.choice(pieces) for _ in range(k)]
        text = ""
        for j, piece in enumerate(chosen):
            piece = rng.choice(prefixes) + piece
            if rng.random() < 0.3:
                piece = piece[:1].upper() + piece[1:]
            text += piece + (rng.choice(seps) if j < k - 1 else rng.choice([".", " ?", "", " !"]))
        before = "" if rng.random() < 0.15 else " ".join(rng.choice(debtor) for _ in range(rng.randint(1, 2)))
        out.append((before, text))
    return out


def _long(rows: list[tuple[str, str]], rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        k = rng.randint(5, 14)
        picked = [rows[rng.randrange(len(rows))] for _ in range(k)]
        out.append((picked[0][0], " ".join(agent for _, agent in picked)))
    return out


def make_inputs() -> dict:
    from simulator.rubric.loader import resolve_rubric

    rng = random.Random(20261122)
    rubrics = [resolve_rubric(r).rubric for r in RUBRICS]
    fr = _fr_rows()
    en = list(EN_TURNS)
    turns = {
        "fr": fr,
        "en": en,
        "weird": list(WEIRD),
        "long_fr": _long(fr, rng, 24),
        "long_en": _long(en, rng, 12),
        "synthetic_fr": _synthetic("fr", rubrics, rng, 260),
        "synthetic_en": _synthetic("en", rubrics, rng, 260),
    }
    # calls: consecutive rows as one call, then the same call with repeated turns and formulas
    calls: dict[str, list[list[tuple[str, str]]]] = {"fr": [], "en": []}
    for lang, pool in (("fr", fr + turns["synthetic_fr"][:60]), ("en", en + turns["synthetic_en"][:60])):
        for start in range(0, len(pool), 12):
            calls[lang].append(pool[start:start + 12])
        for _ in range(6):
            base = [pool[rng.randrange(len(pool))] for _ in range(8)]
            call = []
            for pair in base:
                call.append(pair)
                if rng.random() < 0.5:
                    call.append(pair if rng.random() < 0.5 else (pair[0], pair[1] + " " + pair[1].split(".")[0] + "."))
            calls[lang].append(call)
    return {"turns": turns, "calls": calls}


# --- scoring -----------------------------------------------------------------------------------------------
def _safe(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - an error is an output too: it must stay the same
        return {"error": f"{type(exc).__name__}: {exc}"}


def cases(inputs: dict):
    """Every (case key, output) of the golden corpus, in a fixed order."""
    from simulator.rubric.loader import resolve_rubric
    from simulator.rubric.scorecard import build_scorecard
    from simulator.rubric.scorer import Scorer

    turns = inputs["turns"]
    for rid in RUBRICS:
        rubric_file = resolve_rubric(rid)
        native = rubric_file.rubric.language
        for lang in ("fr", "en"):
            scorer = Scorer(rubric_file, lang)
            tag = rid if lang == native else f"{rid}/{lang}"
            groups = list(turns) if lang == native else [g for g in turns if g.endswith(lang) or g == "weird"]
            for group in groups:
                for i, (debtor, agent) in enumerate(turns[group]):
                    yield f"{tag}|isolated|{group}|{i}", _safe(lambda: scorer.score_isolated(agent, debtor).to_json())
                    if lang == native and i % 4 == 0:
                        yield (f"{tag}|b2c|{group}|{i}",
                               _safe(lambda: scorer.score_isolated(agent, debtor, segment="b2c").to_json()))
                    if lang == native and debtor:
                        yield f"{tag}|cues|{group}|{i}", _safe(lambda: scorer.debtor_cues(debtor))
            if lang != native:
                continue
            for call_lang, calls in inputs["calls"].items():
                for c, call in enumerate(calls):
                    for mode, kwargs in (("call", {}), ("b2b-disclosed", {"segment": "b2b", "disclosed": True}),
                                         ("unknown-context", {"context_known": False})):
                        session = scorer.session(**kwargs)
                        scored = []
                        for t, (debtor, agent) in enumerate(call):
                            if debtor:
                                session.hear(debtor)
                            out = _safe(lambda: session.score(agent))
                            if isinstance(out, dict):
                                yield f"{tag}|{mode}|{call_lang}{c}|{t}", out
                                continue
                            scored.append((2 * t + 1, out))
                            yield f"{tag}|{mode}|{call_lang}{c}|{t}", out.to_json()
                        yield (f"{tag}|{mode}|{call_lang}{c}|card",
                               _safe(lambda: build_scorecard(scorer.rubric, scored, outcome="PTP").to_json()))


def _line(key: str, out) -> str:
    # keys in their own order: the order of a stored score's JSON keys is output too
    return json.dumps({"case": key, "out": out}, ensure_ascii=False, separators=(",", ":"))


def load_inputs(path: Path = INPUTS) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def produce(inputs: dict) -> list[str]:
    return [_line(key, out) for key, out in cases(inputs)]


def read_golden(path: Path = GOLDEN) -> list[str]:
    return lzma.decompress(path.read_bytes()).decode("utf-8").splitlines()


def write_golden(lines: list[str], path: Path = GOLDEN) -> None:
    path.write_bytes(lzma.compress(("\n".join(lines) + "\n").encode("utf-8"), preset=9))


def compare(lines: list[str], golden: list[str]) -> list[str]:
    """Human-readable differences (empty: identical)."""
    problems = []
    if len(lines) != len(golden):
        problems.append(f"{len(lines)} cases produced, {len(golden)} in the golden file")
    for got, want in zip(lines, golden):
        if got != want:
            g, w = json.loads(got), json.loads(want)
            if g["case"] != w["case"]:
                problems.append(f"case order differs: {g['case']} vs {w['case']}")
                break
            out_g, out_w = g["out"], w["out"]
            if isinstance(out_g, dict) and isinstance(out_w, dict):
                fields = sorted(k for k in set(out_g) | set(out_w) if out_g.get(k) != out_w.get(k))
                detail = "; ".join(f"{k}: {out_w.get(k)!r} -> {out_g.get(k)!r}"[:300] for k in fields)
            else:
                detail = f"{out_w!r} -> {out_g!r}"[:300]
            problems.append(f"{g['case']}: {detail}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python tests/rubric_golden.py")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="store_true")
    group.add_argument("--write", action="store_true")
    group.add_argument("--make-inputs", action="store_true")
    parser.add_argument("--inputs", type=Path, default=INPUTS)
    parser.add_argument("--golden", "--out", type=Path, default=GOLDEN)
    args = parser.parse_args(argv)
    if args.make_inputs:
        args.inputs.write_text(json.dumps(make_inputs(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.inputs}")
        return 0
    lines = produce(load_inputs(args.inputs))
    if args.write:
        write_golden(lines, args.golden)
        print(f"wrote {len(lines)} cases to {args.golden}")
        return 0
    problems = compare(lines, read_golden(args.golden))
    for p in problems[:40]:
        print(p)
    print(f"{len(lines)} cases, {len(problems)} differ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
