"""Task metrics of generated answers against reference answers.

Every metric here is a few lines of exact arithmetic (string equality, a longest common
subsequence, an edit distance, n-gram counts), so each is implemented directly instead of pulling
in ``evaluate`` / ``jiwer`` / ``rouge-score`` / ``sacrebleu`` and their dependencies for one
formula each; the definitions follow the public papers cited per function, and
tests/test_metrics.py checks hand-computed values.

A metric has a per-row score (written beside each prediction) and a value over all rows: the
mean of the row scores, except for BLEU, CER and WER, whose standard value is computed over the
corpus (n-gram counts and edit counts summed over rows, then divided), not averaged per row.
``loss`` is the Trainer's evaluation loss: it is named in ``eval_metrics`` but computed by the
Trainer, never here.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

from mmtune.config.train_keys import EVAL_METRICS
from mmtune.errors import ConfigError

# Every name ``eval_metrics`` accepts; ``loss`` is the Trainer's own.
METRICS = EVAL_METRICS
GENERATED = tuple(m for m in METRICS if m != "loss")
ANLS_THRESHOLD = 0.5


def check_metric_names(names: Sequence[str]) -> list[str]:
    """``names`` as given, or a ConfigError naming the unknown one and listing the valid ones."""
    for n in names:
        if n not in METRICS:
            raise ConfigError(f"eval_metrics: unknown metric {n!r}; valid: {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def _squash(s: str) -> str:
    return " ".join(s.split())


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the answers are equal after stripping, collapsing whitespace runs and casefolding."""
    return float(_squash(pred).casefold() == _squash(ref).casefold())


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD v1.1's answer normalization (Rajpurkar et al. 2016, official evaluation script):
    lower case, punctuation removed, articles a/an/the removed, whitespace collapsed."""
    return _squash(_ARTICLES.sub(" ", s.lower().translate(_PUNCT)))


def accuracy(pred: str, ref: str) -> float:
    """Lenient answer match (the VQA / SQuAD habit): equal after ``normalize_answer``, so "The
    circle." counts for "circle"."""
    return float(normalize_answer(pred) == normalize_answer(ref))


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _lcs(a: Sequence, b: Sequence) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 (Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries", sec. 3.1)
    on lower-cased whitespace tokens: LCS length over the prediction's (precision) and the
    reference's (recall) length, combined as their harmonic mean (beta = 1, as rouge-score)."""
    p, r = pred.lower().split(), ref.lower().split()
    lcs = _lcs(p, r)
    if lcs == 0:
        return float(not p and not r)
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)


def _error_rate(pred: Sequence, ref: Sequence) -> float:
    if not ref:
        return float(bool(pred))
    return levenshtein(pred, ref) / len(ref)


def cer(pred: str, ref: str) -> float:
    """Character error rate: character edit distance / reference length (0 is perfect; it can
    exceed 1 when the prediction is longer than the reference)."""
    return _error_rate(pred.strip(), ref.strip())


def wer(pred: str, ref: str) -> float:
    """Word error rate: edit distance over whitespace words / reference word count."""
    return _error_rate(pred.split(), ref.split())


def anls(pred: str, ref: str, threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS for one answer (Biten et al. 2019, "Scene Text Visual Question Answering", ST-VQA):
    1 - normalized Levenshtein distance (distance / the longer length) of the lower-cased,
    stripped strings, or 0 when that distance is at or above ``threshold`` (0.5)."""
    p, r = pred.strip().lower(), ref.strip().lower()
    if not p and not r:
        return 1.0
    nl = levenshtein(p, r) / max(len(p), len(r))
    return 1.0 - nl if nl < threshold else 0.0


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _bleu_stats(pred: str, ref: str, order: int = 4) -> list[int]:
    """[hypothesis length, reference length, matches_1, totals_1, ..., matches_n, totals_n]:
    clipped n-gram matches (Papineni et al. 2002, "BLEU", sec. 2.1) on whitespace tokens."""
    p, r = pred.split(), ref.split()
    stats = [len(p), len(r)]
    for n in range(1, order + 1):
        hyp, refs = _ngrams(p, n), _ngrams(r, n)
        stats += [sum(min(c, refs[g]) for g, c in hyp.items()), max(0, len(p) - n + 1)]
    return stats


def _bleu_from_stats(stats: list[int], order: int = 4, effective_order: bool = False) -> float:
    """BLEU in [0, 1] from summed statistics: geometric mean of the n-gram precisions times the
    brevity penalty exp(1 - r/c) when c < r (Papineni et al. 2002, sec. 2.2-2.3). A zero count of
    matches is smoothed as sacrebleu's default 'exp' method does (Chen & Cherry 2014, method 3:
    the k-th order without matches counts 1 / (2^k * total)). ``effective_order`` (sentence BLEU)
    averages only over the orders the hypothesis has n-grams of, so a two-word answer is not 0 by
    construction."""
    hyp_len, ref_len = stats[0], stats[1]
    if hyp_len == 0:
        return float(ref_len == 0)
    if not any(stats[2::2]):  # no n-gram of any order matches: 0, smoothing or not (as sacrebleu)
        return 0.0
    logs: list[float] = []
    smooth = 1.0
    for n in range(order):
        correct, total = stats[2 + 2 * n], stats[3 + 2 * n]
        if total == 0:
            if effective_order:
                break
            logs.append(-math.inf)
            continue
        if correct == 0:
            smooth *= 2
            logs.append(math.log(1 / (smooth * total)))
        else:
            logs.append(math.log(correct / total))
    if not logs or -math.inf in logs:
        return 0.0
    bp = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(sum(logs) / len(logs))


def bleu(pred: str, ref: str) -> float:
    """Sentence BLEU of one answer (effective order, 'exp' smoothing), in [0, 1]."""
    return _bleu_from_stats(_bleu_stats(pred, ref), effective_order=True)


def corpus_bleu(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU-4 in [0, 1]: n-gram matches and lengths summed over rows, then one score
    (not a mean of sentence scores), as BLEU is defined. Tokens are whitespace-separated words
    (sacrebleu's default '13a' tokenizer also splits punctuation off; scores differ where it matters)."""
    total = [0] * 10
    for p, r in zip(preds, refs):
        total = [a + b for a, b in zip(total, _bleu_stats(p, r))]
    return _bleu_from_stats(total)


def _corpus_error_rate(preds: Sequence[str], refs: Sequence[str], unit: Callable[[str], Sequence]) -> float:
    """Edits summed over rows / reference units summed over rows (as jiwer and the NIST scoring
    tools compute WER over a test set)."""
    edits = sum(levenshtein(unit(p), unit(r)) for p, r in zip(preds, refs))
    length = sum(len(unit(r)) for r in refs)
    if length == 0:
        return float(any(unit(p) for p in preds))
    return edits / length


ROW_METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "accuracy": accuracy,
    "rouge_l": rouge_l,
    "bleu": bleu,
    "cer": cer,
    "wer": wer,
    "anls": anls,
}


def row_scores(pred: str, ref: str, names: Sequence[str]) -> dict[str, float]:
    """Each named generation metric for one answer (``loss`` is skipped: it is the Trainer's)."""
    return {n: ROW_METRICS[n](pred, ref) for n in names if n in ROW_METRICS}


def corpus_scores(preds: Sequence[str], refs: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Each named generation metric over all rows (mean of row scores, or the corpus form of
    BLEU / CER / WER). No rows: no values."""
    if not preds:
        return {}
    out: dict[str, float] = {}
    for n in names:
        if n == "bleu":
            out[n] = corpus_bleu(preds, refs)
        elif n == "cer":
            out[n] = _corpus_error_rate(preds, refs, str.strip)
        elif n == "wer":
            out[n] = _corpus_error_rate(preds, refs, str.split)
        elif n in ROW_METRICS:
            out[n] = sum(ROW_METRICS[n](p, r) for p, r in zip(preds, refs)) / len(preds)
    return out
