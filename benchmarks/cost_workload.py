"""A month-shaped LLM workload for benchmarks/cost_replay.py, scaled down.

The month: 500,000 calls of a bank's support stack, two kinds of request:

* classification (``--classification``, default 40%): ticket triage into six intents, the
  answer a short JSON object; in real traffic the same job a text classifier can do.
* generative (the rest): the support assistant; ``--complex`` of them (default 35%) ask for
  reasoning (over a pasted statement excerpt, or with several steps of arithmetic), the
  others are FAQ-like and short.

Every request is a *novel* one (a new family: a situation from
``benchmarks/data/cost_workload.yaml`` with fresh slot values), a *repeat* (``--repeat``,
default 30%: an earlier text verbatim: the same FAQ asked again, a retried job, a template
button) or a *paraphrase* (``--paraphrase``, default 15%: an earlier family in another
wording, same numbers and names). Repeats and paraphrases pick earlier families of the same
kind and level, with a Zipf-like preference for the popular ones. Novel requests of one
situation differ only in their slots (numbers, dates, names), so they are the hard negatives
a cache must not serve; a novel draw that happens to repeat an earlier family's slots (there
are only five deposit terms) means the same thing and counts as that family
(``novel/known`` in ``describe``). Deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any, Literal

import yaml

DATA = Path(__file__).resolve().parent / "data" / "cost_workload.yaml"
Kind = Literal["classification", "generative"]
Level = Literal["simple", "complex"]
Origin = Literal["novel", "repeat", "paraphrase"]


@dataclass(frozen=True)
class Mix:
    calls: int = 2000
    classification: float = 0.40
    complex: float = 0.35  # of generative requests
    repeat: float = 0.30
    paraphrase: float = 0.15
    seed: int = 7

    def __post_init__(self) -> None:
        if self.repeat + self.paraphrase > 1 or min(self.repeat, self.paraphrase) < 0:
            raise ValueError("repeat + paraphrase must be a share between 0 and 1")


@dataclass(frozen=True)
class Request:
    kind: Kind
    level: Level
    origin: Origin
    family: int
    intent: str | None  # classification: the true intent
    feature: str
    system: str
    text: str


@dataclass
class _Family:
    id: int
    kind: Kind
    level: Level
    intent: str | None
    wordings: list[str]
    slots: dict[str, str]
    context: str
    used: list[int] = field(default_factory=list)

    def text(self, wording: int) -> str:
        body = self.wordings[wording].format(**self.slots)
        return f"{body}\n\n{self.context}" if self.context else body


class Generator:
    def __init__(self, mix: Mix, data: dict[str, Any]) -> None:
        self.mix = mix
        self.data = data
        self.rng = random.Random(mix.seed)
        self.families: dict[tuple[Kind, Level], list[_Family]] = {}
        self.meanings: dict[tuple[Any, ...], _Family] = {}

    def requests(self) -> list[Request]:
        return [self._next() for _ in range(self.mix.calls)]

    def _next(self) -> Request:
        kind: Kind = "generative"
        level: Level = "simple"
        if self.rng.random() < self.mix.classification:
            kind = "classification"
        elif self.rng.random() < self.mix.complex:
            level = "complex"
        roll = self.rng.random()
        earlier = self.families.setdefault((kind, level), [])
        if earlier and roll < self.mix.repeat:
            family = self._popular(earlier)
            return self._request(family, self.rng.choice(family.used), "repeat")
        open_ = [f for f in earlier if len(f.used) < len(f.wordings)]
        if open_ and roll < self.mix.repeat + self.mix.paraphrase:
            family = self._popular(open_)  # a wording not seen yet: a new text, same meaning
            unused = [w for w in range(len(family.wordings)) if w not in family.used]
            return self._request(family, self.rng.choice(unused), "paraphrase")
        family = self._new_family(kind, level)
        return self._request(family, self.rng.randrange(len(family.wordings)), "novel")

    def _popular(self, families: list[_Family]) -> _Family:
        """An earlier family: half the time any, half the time biased to the first ones (the
        month's popular questions: the first 10% get about half of these picks)."""
        if self.rng.random() < 0.5:
            return self.rng.choice(families)
        return families[int(len(families) * self.rng.random() ** 3)]

    def _request(self, family: _Family, wording: int, origin: Origin) -> Request:
        if wording not in family.used:
            family.used.append(wording)
        section = self.data[family.kind]
        return Request(
            family.kind, family.level, origin, family.id, family.intent,
            section["feature"], section["system"].strip(), family.text(wording),
        )  # fmt: skip

    def _new_family(self, kind: Kind, level: Level) -> _Family:
        """A fresh draw; when it means exactly what an earlier family means (same situation,
        same slot values), that family: the request is new, its meaning is not."""
        section = self.data[kind]
        situations = section["situations" if kind == "classification" else level]
        index = self.rng.randrange(len(situations))
        situation = situations[index]
        wordings = list(situation["wordings"])
        slots = self._slots()
        context = self._statement() if situation.get("context") == "statement" else ""
        names = sorted({n for w in wordings for _, n, _, _ in Formatter().parse(w) if n})
        key = (kind, level, index, tuple(slots[n] for n in names), context)
        if key in self.meanings:
            return self.meanings[key]
        family = _Family(
            id=len(self.meanings),
            kind=kind,
            level=level,
            intent=situation.get("intent"),
            wordings=wordings,
            slots=slots,
            context=context,
        )
        self.meanings[key] = family
        self.families[(kind, level)].append(family)
        return family

    def _slots(self) -> dict[str, str]:
        rng, lists = self.rng, self.data["slots"]
        name = rng.choice(lists["name"])
        return {
            "amount": f"{rng.choice([1, 5, 10, 25, 50, 100]) * rng.randint(11, 999):,}",
            "last4": f"{rng.randint(0, 9999):04d}",
            "date": f"{rng.randint(1, 28)} {rng.choice(lists['month'])}",
            "month": rng.choice(lists["month"]),
            "merchant": rng.choice(lists["merchant"]),
            "city": rng.choice(lists["city"]),
            "name": name,
            "email": f"{name.split()[0].lower()}.{rng.randint(10, 99)}@example.com",
            "ref": f"TXN{rng.randint(10**7, 10**8 - 1)}",
            "attempts": str(rng.randint(3, 6)),
            "years": str(rng.randint(1, 5)),
        }

    def _statement(self) -> str:
        """A pasted statement excerpt (10-16 lines), the context of complex requests."""
        rng, lists = self.rng, self.data["slots"]
        month = rng.choice(lists["month"])[:3]
        balance = rng.randint(40_000, 120_000)
        lines = ["Date | Description | Amount | Balance"]
        for day in sorted(rng.sample(range(1, 29), rng.randint(10, 16))):
            amount = rng.randint(120, 6_000)
            balance -= amount
            shop = rng.choice(lists["merchant"])
            lines.append(f"{day:02d} {month} | POS {shop} | -{amount:,} | {balance:,}")
        return "\n".join(lines)


def load_templates(path: Path = DATA) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def workload(mix: Mix, path: Path = DATA) -> list[Request]:
    return Generator(mix, load_templates(path)).requests()


def describe(requests: list[Request]) -> dict[str, int]:
    """How many requests of each kind, level and origin the replay holds; ``novel/known``:
    novel draws that mean what an earlier request meant all the same (slot-light FAQ
    questions such as the rate of a 2-year deposit)."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    for r in requests:
        keys = [r.kind, f"{r.kind}/{r.level}", f"origin/{r.origin}"]
        if r.origin == "novel" and r.family in seen:
            keys.append("novel/known")
        seen.add(r.family)
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
