"""The injection classifier's ONNX graph evaluated directly: character n-gram TF-IDF and a
logistic regression, read out of the model file.

The bundled classifier is a scikit-learn pipeline exported by skl2onnx: a ``Tokenizer`` that
makes every character a token, a ``TfIdfVectorizer`` over 2- to 5-grams (``TF`` mode), then
``log(1 + tf) * idf``, an L2 ``Normalizer`` and a two-class ``LinearClassifier`` with a
logistic output. ONNX Runtime runs the string operators slowly (about 0.35 ms for a short
message, most of the gateway's per-call screening cost), while the same arithmetic on the few
n-grams a message holds is a dictionary look-up per n-gram and a short dot product.

``NgramLinear.from_onnx`` recognises exactly that graph and returns None for any other (the
caller then keeps ONNX Runtime); the classifier also checks that both give the same
probabilities on probe texts before it uses this path, so a model whose graph means
something else is never scored wrongly. The model file stays the one source of truth.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: The op types, in order, of the graph this module evaluates.
GRAPH = (
    "Tokenizer",
    "Flatten",
    "TfIdfVectorizer",
    "Add",
    "Log",
    "Mul",
    "Normalizer",
    "LinearClassifier",
)


@dataclass(frozen=True)
class NgramLinear:
    columns: dict[str, int]  # n-gram (its characters joined) -> feature column
    lengths: tuple[int, ...]  # the n-gram lengths the vocabulary holds
    offset: NDArray[np.float64]  # added to each count before the log (the graph's ``ones``)
    idf: NDArray[np.float64]
    coefficients: NDArray[np.float64]  # of the positive class
    intercept: float
    token: re.Pattern[str]  # what one token is (``.``: any character, as ONNX Runtime reads it)

    @classmethod
    def from_onnx(cls, path: Path) -> NgramLinear | None:
        """The model's parameters when its graph is exactly ``GRAPH``; None otherwise (and
        when the ``onnx`` package that reads the graph is not installed)."""
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            return None
        try:
            return cls._read(onnx.load(str(path)).graph, numpy_helper)
        except (KeyError, IndexError, ValueError, UnicodeDecodeError, re.error):
            return None

    @classmethod
    def _read(cls, graph: Any, numpy_helper: Any) -> NgramLinear | None:
        if tuple(n.op_type for n in graph.node) != GRAPH:
            return None
        nodes = {n.op_type: _attributes(n) for n in graph.node}
        initial = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        tokenizer, tfidf = nodes["Tokenizer"], nodes["TfIdfVectorizer"]
        linear = nodes["LinearClassifier"]
        if not _supported(tokenizer, tfidf, nodes["Normalizer"], linear):
            return None
        columns, lengths = _vocabulary(tfidf)
        size = len(tfidf["ngram_indexes"])
        add, mul = graph.node[3], graph.node[5]
        coefficients = np.asarray(linear["coefficients"], dtype=np.float64).reshape(2, size)
        return cls(
            columns=columns,
            lengths=lengths,
            offset=np.asarray(initial[add.input[1]], dtype=np.float64).reshape(size),
            idf=np.asarray(initial[mul.input[1]], dtype=np.float64).reshape(size),
            coefficients=coefficients[1],
            intercept=float(linear["intercepts"][1]),
            # ONNX Runtime's tokenizer (RE2) lets ``.`` match a newline too.
            token=re.compile(tokenizer["tokenexp"].decode(), re.DOTALL),
        )

    def probability(self, text: str) -> float:
        """P(injection) for one text, as the graph computes it. Plain Python: a message holds
        a few hundred n-grams, too few for NumPy's per-call overhead to pay off. Most
        n-grams occur once in a message: their weight is read, not computed."""
        chars = "".join(self.token.findall(text))
        grams = Counter([chars[i : i + n] for n in self.lengths for i in range(len(chars) - n + 1)])
        column_of = self.columns.get
        offset, idf, coefficients, once, once_dot = self._lists
        squares = dot = 0.0
        for gram, tf in grams.items():
            column = column_of(gram)
            if column is None:
                continue
            if tf == 1:
                weight = once[column]
                dot += once_dot[column]
            else:
                weight = math.log(tf + offset[column]) * idf[column]
                dot += weight * coefficients[column]
            squares += weight * weight
        if squares == 0.0:
            return _sigmoid(self.intercept)
        return _sigmoid(dot / math.sqrt(squares) + self.intercept)

    @cached_property
    def _lists(self) -> tuple[list[float], ...]:
        """The per-column parameters as lists (indexing a list is cheaper than an array),
        and the weight of an n-gram seen once, alone and times its coefficient."""
        once = np.log(1.0 + self.offset) * self.idf
        return (
            self.offset.tolist(),
            self.idf.tolist(),
            self.coefficients.tolist(),
            once.tolist(),
            (once * self.coefficients).tolist(),
        )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _supported(
    tokenizer: dict[str, Any],
    tfidf: dict[str, Any],
    normalizer: dict[str, Any],
    linear: dict[str, Any],
) -> bool:
    """The options this module implements (and no others)."""
    return (
        tokenizer.get("mark", 0) == 0
        and "separators" not in tokenizer
        and tfidf.get("mode") == b"TF"
        and tfidf.get("max_skip_count", 0) == 0
        and "pool_int64s" not in tfidf
        and all(w == 1.0 for w in tfidf.get("weights", [1.0]))
        and normalizer.get("norm") == b"L2"
        and linear.get("post_transform") == b"LOGISTIC"
        and list(linear.get("classlabels_ints", [])) == [0, 1]
        and len(linear.get("intercepts", [])) == 2
    )


def _vocabulary(tfidf: dict[str, Any]) -> tuple[dict[str, int], tuple[int, ...]]:
    """n-gram -> column, from the pool (n-grams of each length laid end to end, lengths
    starting at the offsets in ``ngram_counts``) and ``ngram_indexes``."""
    pool = [s.decode() for s in tfidf["pool_strings"]]
    starts = [*tfidf["ngram_counts"], len(pool)]
    indexes = list(tfidf["ngram_indexes"])
    columns: dict[str, int] = {}
    lengths = []
    k = 0
    for n in range(1, len(starts)):
        begin, end = starts[n - 1], starts[n]
        if end > begin:
            lengths.append(n)
        for at in range(begin, end, n):
            columns["".join(pool[at : at + n])] = indexes[k]
            k += 1
    return columns, tuple(lengths)
