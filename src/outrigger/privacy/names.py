"""Person names without spaCy: a small token classifier (the bundled ``name-tagger`` model).

Each token gets sparse binary features (its lower-cased form, shape, affixes, whether it opens
a sentence, whether a first-name/surname gazetteer knows it, and the same for two neighbours on
each side); a logistic regression in ONNX (Gather + ReduceSum + Sigmoid over the feature ids)
gives the probability that the token is part of a name; runs of name tokens become ``PERSON``
spans. ``scripts/train_name_tagger.py`` trains it; the feature code here is shared with
training, so the two cannot drift. About 0.1-0.3 ms for a short message on one core.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from outrigger.errors import ConfigError
from outrigger.privacy import entities as E
from outrigger.privacy.base import Span
from outrigger.resources import bundled_root

MODEL_NAME: Final = "name-tagger"
#: A single-letter initial with its dot ("R."), a word (letters/digits, inner apostrophes and
#: hyphens), or one other character; a possessive "'s" is a token of its own. "Dr." splits
#: into "Dr" and ".", so the title is the context two tokens back.
TOKEN: Final = re.compile(r"[^\W\d_]\.(?=\s|$)|[^\W_]+(?:(?:['\u2019](?!s\b)|-)[^\W_]+)*|\S")
#: A sentence (or line) opens after these tokens: a capital there says little.
_OPENERS: Final = frozenset({".", "!", "?", "\n", "\u2022", "*", "-", '"', "\u201c", "(", ">"})


#: Per token: its own feature ids, its ids as a neighbour (w-1, w+1, w-2, w+2, sg-1, sg+1,
#: s-2, s+2), its lower-cased form, its shape, and shape+gazetteer+common.
_TokenInfo = tuple[tuple[int, ...], tuple[int, ...], str, str, str]
_PAD_INFO: Final[_TokenInfo] = ((), (), "<s>", "<s>", "")
_END_INFO: Final[_TokenInfo] = ((), (), "</s>", "</s>", "")
_CACHE_SIZE: Final = 20_000  # distinct tokens; a few MB at most


def tokenize(text: str) -> list[re.Match[str]]:
    return list(TOKEN.finditer(text))


def shape(token: str) -> str:
    """A coarse word shape: ``Xx`` (capitalised), ``x``, ``X`` (one capital), ``XX``, ``X.``
    (initial), ``xX`` (mixed, iPhone/McKay), ``d``; others collapse character classes."""
    if token.isalpha():
        if token.islower():
            return "x"
        if token.isupper():
            return "X" if len(token) == 1 else "XX"
        if token[0].isupper() and token[1:].islower():
            return "Xx"
        return "xX"
    if token.isdigit():
        return "d"
    if len(token) == 2 and token[1] == "." and token[0].isalpha():
        return "X." if token[0].isupper() else "x."
    out: list[str] = []
    for ch in token:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """What the features look up: lower-cased names to ``F`` (first), ``L`` (surname) or
    ``B`` (both), and common English words."""

    names: Mapping[str, str]
    common: frozenset[str]

    def name_class(self, lower: str) -> str:
        found = self.names.get(lower)
        if found is None and ("-" in lower or "'" in lower):
            part = re.split(r"['\-]", lower)[-1]
            found = self.names.get(part)
        return found or "-"


def token_features(tokens: Sequence[str], lexicon: Lexicon) -> list[list[str]]:
    """The feature strings of every token (identical in training and at run time)."""
    n = len(tokens)
    low = [t.lower() for t in tokens]
    shp = [shape(t) for t in tokens]
    gaz = [lexicon.name_class(w) if s != "d" else "-" for w, s in zip(low, shp, strict=True)]
    com = ["c" if w in lexicon.common else "-" for w in low]
    pad = ["<s>", "<s>"]
    lw, ls, lg = pad + low + ["</s>"] * 2, pad + shp + ["</s>"] * 2, pad + gaz + ["-", "-"]
    out: list[list[str]] = []
    for i in range(n):
        j = i + 2
        w, s, g = low[i], shp[i], gaz[i]
        start = "S" if i == 0 or tokens[i - 1] in _OPENERS else "M"
        out.append(
            [
                "b",
                "w=" + w,
                "s=" + s,
                "p3=" + w[:3],
                "x3=" + w[-3:],
                "x2=" + w[-2:],
                "g=" + g,
                "c=" + com[i] + s,
                "sg=" + s + g,
                "st=" + start + s + g + com[i],
                "w-1=" + lw[j - 1],
                "w+1=" + lw[j + 1],
                "w-2=" + lw[j - 2],
                "w+2=" + lw[j + 2],
                "sg-1=" + ls[j - 1] + lg[j - 1],
                "sg+1=" + ls[j + 1] + lg[j + 1],
                "s-2=" + ls[j - 2],
                "s+2=" + ls[j + 2],
                "ww-1=" + lw[j - 1] + "|" + s,
                "ww+1=" + s + "|" + lw[j + 1],
                "sss=" + ls[j - 1] + s + ls[j + 1],
            ]
        )
    return out


class NameTagger:
    """The bundled model: ``spans(text)`` gives the ``PERSON`` spans."""

    def __init__(
        self,
        session: Any,
        vocab: Mapping[str, int],
        lexicon: Lexicon,
        threshold: float,
        version: str = "",
    ) -> None:
        self._session = session
        self._input = str(session.get_inputs()[0].name)
        self._vocab = vocab
        self._lexicon = lexicon
        self.threshold = threshold
        self.version = version
        self._cache: dict[str, _TokenInfo] = {}

    @classmethod
    def load(cls, directory: Path | None = None, *, threads: int = 1) -> NameTagger:
        import onnxruntime as ort

        directory = directory or bundled_directory()
        meta = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
        blob = (directory / "model.onnx").read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
            raise ConfigError(f"{directory / 'model.onnx'}: SHA-256 differs from metadata.json")
        features = (directory / "features.txt").read_text(encoding="utf-8").split("\n")
        vocab = {f: i + 1 for i, f in enumerate(features) if f}  # 0: padding, weight 0
        names: dict[str, str] = {}
        for line in (directory / "names.tsv").read_text(encoding="utf-8").splitlines():
            name, _, cls_ = line.partition("\t")
            names[name] = cls_
        common = frozenset((directory / "common.txt").read_text(encoding="utf-8").split())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        return cls(
            session,
            vocab,
            Lexicon(names, common),
            float(meta["threshold"]),
            str(meta.get("version", directory.name)),
        )

    def probabilities(self, tokens: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        ids = np.array(self.feature_ids(tokens), dtype=np.int64).reshape(len(tokens), -1)
        out = self._session.run(None, {self._input: ids})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def feature_ids(self, tokens: Sequence[str]) -> list[int]:
        """The ids of ``token_features`` (same multiset per token, ``FEATURES`` per token),
        from a per-token cache: only the four features that pair a token with its context
        are looked up per position."""
        get = self._vocab.get
        infos = [self._token(t) for t in tokens]
        out: list[int] = []
        n = len(tokens)
        for i, (uni, _, _, s, start_key) in enumerate(infos):
            prev = infos[i - 1] if i > 0 else _PAD_INFO
            prev2 = infos[i - 2] if i > 1 else _PAD_INFO
            nxt = infos[i + 1] if i + 1 < n else _END_INFO
            nxt2 = infos[i + 2] if i + 2 < n else _END_INFO
            start = "S" if i == 0 or tokens[i - 1] in _OPENERS else "M"
            out.extend(uni)
            out.extend(
                (
                    prev[1][0] if prev[1] else get("w-1=<s>", 0),
                    nxt[1][1] if nxt[1] else get("w+1=</s>", 0),
                    prev2[1][2] if prev2[1] else get("w-2=<s>", 0),
                    nxt2[1][3] if nxt2[1] else get("w+2=</s>", 0),
                    prev[1][4] if prev[1] else get("sg-1=<s><s>", 0),
                    nxt[1][5] if nxt[1] else get("sg+1=</s>-", 0),
                    prev2[1][6] if prev2[1] else get("s-2=<s>", 0),
                    nxt2[1][7] if nxt2[1] else get("s+2=</s>", 0),
                    get("st=" + start + start_key, 0),
                    get("ww-1=" + prev[2] + "|" + s, 0),
                    get("ww+1=" + s + "|" + nxt[2], 0),
                    get("sss=" + prev[3] + s + nxt[3], 0),
                )
            )
        return out

    def _token(self, token: str) -> _TokenInfo:
        info = self._cache.get(token)
        if info is None:
            if len(self._cache) > _CACHE_SIZE:
                self._cache.clear()
            get = self._vocab.get
            low, s = token.lower(), shape(token)
            g = self._lexicon.name_class(low) if s != "d" else "-"
            c = "c" if low in self._lexicon.common else "-"
            uni = tuple(
                get(f, 0)
                for f in ("b", "w=" + low, "s=" + s, "p3=" + low[:3], "x3=" + low[-3:],
                          "x2=" + low[-2:], "g=" + g, "c=" + c + s, "sg=" + s + g)
            )  # fmt: skip
            roles = tuple(
                get(f, 0)
                for f in ("w-1=" + low, "w+1=" + low, "w-2=" + low, "w+2=" + low,
                          "sg-1=" + s + g, "sg+1=" + s + g, "s-2=" + s, "s+2=" + s)
            )  # fmt: skip
            info = (uni, roles, low, s, s + g + c)
            self._cache[token] = info
        return info

    def spans(self, text: str) -> list[Span]:
        matches = tokenize(text)
        tokens = [m.group() for m in matches]
        if not _has_candidate(tokens, self._lexicon):
            return []
        probs = self.probabilities(tokens)
        keep = self._decide(tokens, probs)
        spans: list[Span] = []
        run: list[tuple[int, int, float]] = []
        for match, p, k in zip(matches, probs, keep, strict=True):
            if k:
                run.append((match.start(), match.end(), float(p)))
            else:
                _close(run, spans)
        _close(run, spans)
        return spans

    def _decide(self, tokens: Sequence[str], probs: Any) -> list[bool]:
        """Name tokens: over the threshold, or (hysteresis) over half of it next to one, when
        capitalised; a lower-case token only when the gazetteer knows it as a name and it is
        not a common English word ("how long" is not Mr Long)."""
        ok = [_may_name(t, self._lexicon) for t in tokens]
        keep = [o and p >= self.threshold for o, p in zip(ok, probs, strict=True)]
        low = self.threshold / 2
        for order in (range(1, len(tokens)), range(len(tokens) - 2, -1, -1)):
            for i in order:
                neighbour = i - 1 if order.step == 1 else i + 1
                if not keep[i] and keep[neighbour] and ok[i] and tokens[i][:1].isupper():
                    keep[i] = probs[i] >= low
        return keep


def _nameish(token: str) -> bool:
    return any(c.isalpha() for c in token) and not any(c.isdigit() for c in token)


#: Capitalised wherever it stands, so its capital says nothing of a name; never one alone.
_PRONOUN = "I"


def _may_name(token: str, lexicon: Lexicon) -> bool:
    """Whether a token may be (part of) a name: a letter and no digit, and capitalised, or
    lower-case where the gazetteer knows it as a name and it is not a common English word
    ("how long" is not Mr Long); the pronoun "I" never."""
    if not _nameish(token) or token == _PRONOUN:
        return False
    if token[:1].isupper():
        return True
    low = token.lower()
    return low not in lexicon.common and lexicon.name_class(low) != "-"


def _has_candidate(tokens: Sequence[str], lexicon: Lexicon) -> bool:
    """Whether the model has anything to look at: a token that may be a name (``_may_name``,
    the same test the decision applies, so a text without one could have no name found in
    it). A capital that opens a sentence on a common English word the gazetteer does not know
    ("What", "My", "Please") does not count either: it says nothing of a name, and most chat
    messages hold no other."""
    for i, token in enumerate(tokens):
        if not _may_name(token, lexicon):
            continue
        low = token.lower()
        opens = token[:1].isupper() and (i == 0 or tokens[i - 1] in _OPENERS)
        if not (opens and low in lexicon.common and lexicon.name_class(low) == "-"):
            return True
    return False


def _close(run: list[tuple[int, int, float]], spans: list[Span]) -> None:
    if run:
        score = round(min(p for _, _, p in run), 4)
        spans.append(Span(run[0][0], run[-1][1], E.PERSON, score))
        run.clear()


def bundled_directory() -> Path:
    """The newest bundled version's directory."""
    root = bundled_root() / "models" / MODEL_NAME
    versions = sorted(
        (p for p in root.glob("*") if (p / "model.onnx").is_file()),
        key=lambda p: tuple(int(x) if x.isdigit() else 0 for x in p.name.split(".")),
    )
    if not versions:
        raise ConfigError(f"no bundled name tagger under {root}")
    return versions[-1]
