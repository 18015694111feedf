"""Sequence-to-sequence tasks whose true alignment is known, for encoder-decoders with attention.

Bahdanau, Cho & Bengio (2015), "Neural machine translation by jointly learning to align and translate",
show attention weights that line up with a word alignment nobody gave the model. On these tasks the right
alignment is known exactly, so a page can *score* the attention against it:

* ``reverse``  -- a random string, written backwards: output i is aligned to input L-1-i (anti-diagonal);
* ``dates``    -- a date in one of several human formats ("3rd of march 1998", "march 3, 1998", "3/3/1998")
  -> ISO 8601 "1998-03-03"; each output digit is aligned to the source span that determines it;
* ``numbers``  -- English number words -> digits ("two hundred and six" -> "206");
* ``translate`` -- a toy translation between two invented languages: language A is subject-verb-object
  with adjectives before the noun, language B is subject-object-verb with every noun phrase mirrored
  (noun, adjectives, determiner) and postpositions. Every B word translates exactly one A word, so the
  alignment is a permutation far from the diagonal.

Every generator is a deterministic function of ``(n, seed, lengths)`` and every target is a function of its
source (:func:`Seq2SeqTask.target_of` recomputes it from the source text alone). Reverse, dates and
numbers are character-level; translate is word-level. ``alignment[i]`` lists the source token positions
that output token i comes from (empty for a separator such as the "-" of a date).
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass, field

from dlviz.data.core import DataError

TASK_NAMES = ("dates", "reverse", "numbers", "translate")
MONTHS = [calendar.month_name[i].lower() for i in range(1, 13)]
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
REVERSE_SYMBOLS = "abcdefgh"

# the invented languages: A word -> B word, by part of speech
LEX_NOUN = {"cat": "miru", "dog": "toka", "bird": "sepa", "fish": "luvo", "man": "dako", "girl": "neri",
            "king": "vosa", "horse": "pilu"}
LEX_ADJ = {"big": "zan", "small": "kip", "red": "rol", "old": "muk", "happy": "fel", "quick": "jas"}
LEX_VERB = {"sees": "wata", "likes": "holo", "chases": "gema", "bites": "kuru", "finds": "dosi", "helps": "ribe"}
LEX_DET = {"the": "ka", "a": "ni"}
LEX_PREP = {"with": "mo", "near": "sul", "under": "tep"}
LEXICON = {**LEX_NOUN, **LEX_ADJ, **LEX_VERB, **LEX_DET, **LEX_PREP}


@dataclass
class Example:
    """One source/target pair; tokens are characters (or words for ``translate``)."""

    source: list[str]
    target: list[str]
    alignment: list[list[int]]          # alignment[i]: source positions that target token i comes from


@dataclass
class TaskSpec:
    name: str
    label: str
    word_level: bool
    src_tokens: tuple[str, ...]
    tgt_tokens: tuple[str, ...]
    max_src_len: int                    # in tokens: the longest source the generator makes
    max_tgt_len: int
    example: str                        # a typed example for the page
    lengths: tuple[int, int] = (0, 0)   # reverse: the default length range


@dataclass
class Seq2SeqTask:
    """``n`` examples of one task, with its spec (vocabularies and limits)."""

    spec: TaskSpec
    examples: list[Example] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    def target_of(self, source: list[str]) -> list[str]:
        return target_and_alignment(self.spec.name, source)[0]


def tokenize(spec: TaskSpec, text: str) -> list[str]:
    """Typed text -> source tokens (lower-cased characters, or words for a word-level task); raises
    :class:`DataError` with a clear message for empty text, unknown tokens or text over the length limit."""
    text = text.strip().lower()
    if not text:
        raise DataError("The input is empty: type something, e.g. " + repr(spec.example) + ".")
    if len(text) > 40 * spec.max_src_len:                  # refuse by length before listing a megabyte of words
        raise DataError(f"The input has {len(text):,} characters; this model reads at most {spec.max_src_len} "
                        f"{'words' if spec.word_level else 'characters'}.")
    toks = text.split() if spec.word_level else list(" ".join(text.split()))
    known = set(spec.src_tokens)
    bad = [t for t in dict.fromkeys(toks) if t not in known]
    if bad:
        what = ("word" if spec.word_level else "character") + ("s" if len(bad) > 1 else "")
        allowed = " ".join(spec.src_tokens) if spec.word_level else "".join(spec.src_tokens)
        shown = ", ".join(repr(b if len(b) <= 24 else b[:24] + "…") for b in bad[:8])
        raise DataError(f"The {what} {shown} {'are' if len(bad) > 1 else 'is'} "
                        f"not in this task's vocabulary ({allowed!r}).")
    if len(toks) > spec.max_src_len:
        raise DataError(f"The input has {len(toks)} {'words' if spec.word_level else 'characters'}; this model "
                        f"reads at most {spec.max_src_len}.")
    return toks


def detokenize(spec: TaskSpec, toks: list[str]) -> str:
    return " ".join(toks) if spec.word_level else "".join(toks)


# ------------------------------------------------------------------ the target as a function of the source
def _span(words: list[tuple[str, int]], i: int) -> list[int]:
    w, start = words[i]
    return list(range(start, start + len(w)))


def _words_with_offsets(chars: list[str]) -> list[tuple[str, int]]:
    out, start = [], 0
    for w in "".join(chars).split(" "):
        out.append((w, start))
        start += len(w) + 1
    return out


def _day_value(word: str) -> int:
    digits = "".join(c for c in word if c.isdigit())
    return int(digits)


def date_target(chars: list[str]) -> tuple[list[str], list[list[int]]]:
    """Parse any of the generator's date formats (see :func:`_date_source`) -> ISO text and alignment."""
    text = "".join(chars)
    if "/" in text:                                              # d/m/yyyy (day first)
        d, m, y = text.split("/")
        o_m = len(d) + 1
        o_y = o_m + len(m) + 1
        day, month, year = (int(d), list(range(0, len(d)))), (int(m), list(range(o_m, o_m + len(m)))), y
        y_pos = list(range(o_y, o_y + 4))
    else:
        words = _words_with_offsets(chars)
        names = [w.rstrip(",") for w, _ in words]
        mi = next(i for i, w in enumerate(names) if w in MONTHS or w in [m[:3] for m in MONTHS])
        mname = names[mi]
        mnum = (MONTHS.index(mname) if mname in MONTHS else [m[:3] for m in MONTHS].index(mname)) + 1
        di = mi + 1 if mi == 0 else 0                            # "march 3rd, 1998" or "3rd of march 1998"
        year, ys = names[-1], words[-1][1]
        day = (_day_value(names[di]), list(range(words[di][1], words[di][1] + len(names[di]))))
        month = (mnum, list(range(words[mi][1], words[mi][1] + len(mname))))
        y_pos = list(range(ys, ys + 4))
    if not (len(year) == 4 and year.isdigit()) or max(y_pos) >= len(chars):
        raise ValueError("a date needs a four-digit year")
    tgt = list(f"{year}-{month[0]:02d}-{day[0]:02d}")
    align = [[p] for p in y_pos] + [[]] + [month[1], month[1]] + [[]] + [day[1], day[1]]
    return tgt, align


def number_words(v: int) -> str:
    """0..999 in English words ("two hundred and six", "forty-five")."""
    if not 0 <= v <= 999:
        raise ValueError("only 0..999")
    h, r = divmod(v, 100)
    parts = []
    if h:
        parts.append(f"{_ONES[h]} hundred")
    if r or not h:
        if h:
            parts.append("and")
        if r < 10:
            parts.append(_ONES[r])
        elif r < 20:
            parts.append(_TEENS[r - 10])
        else:
            t, u = divmod(r, 10)
            parts.append(_TENS[t] + (f"-{_ONES[u]}" if u else ""))
    return " ".join(parts)


def number_target(chars: list[str]) -> tuple[list[str], list[list[int]]]:
    """Number words -> digits; each digit aligned to the word that determines it (a 0 to the word that
    forces it: "hundred" for the tens of 206 and both zeros of 200, "forty" for the units of 40)."""
    words = _words_with_offsets(chars)
    names = [w for w, _ in words]
    spans: list[list[int]] = []
    value, i = 0, 0
    hw_span: list[int] = []
    if len(names) >= 2 and names[1] == "hundred":
        value, hw_span = 100 * _ONES.index(names[0]), _span(words, 1)
        spans.append(_span(words, 0))
        i = 3                                                    # past "and"
    if i >= len(names):                                          # "two hundred"
        return list(str(value)), spans + [hw_span, hw_span]
    w, s = names[i], _span(words, i)
    if w in _TEENS:
        value += 10 + _TEENS.index(w)
        spans += [s, s]
    elif w in _ONES:
        value += _ONES.index(w)
        spans += ([hw_span] if value >= 100 else []) + [s]      # the 0 of 206 comes from "hundred"
    else:
        t, _, u = w.partition("-")
        value += 10 * _TENS.index(t) + (_ONES.index(u) if u else 0)
        t_span = s[:len(t)]
        spans += [t_span, s[len(t) + 1:] if u else t_span]
    return list(str(value)), spans


def _np_b(np_words: list[str]) -> list[tuple[str, int]]:
    """Mirror a noun phrase (det adj* noun -> noun adj*-reversed det), keeping source offsets."""
    return [(LEXICON[w], j) for w, j in reversed(np_words)]


def translate_target(words: list[str]) -> tuple[list[str], list[list[int]]]:
    """Language A (det adj* noun verb det adj* noun [prep det adj* noun]) -> language B
    (S' [PP'] O' V', each noun phrase mirrored, the preposition after its phrase)."""
    idx = list(enumerate(words))
    vi = next(i for i, w in idx if w in LEX_VERB)
    pi = next((i for i, w in idx if w in LEX_PREP), len(words))
    subj = [(w, j) for j, w in idx[:vi]]
    obj = [(w, j) for j, w in idx[vi + 1:pi]]
    out = _np_b(subj)
    if pi < len(words):
        out += _np_b([(w, j) for j, w in idx[pi + 1:]]) + [(LEXICON[words[pi]], pi)]
    out += _np_b(obj) + [(LEXICON[words[vi]], vi)]
    return [w for w, _ in out], [[j] for _, j in out]


class NotInGrammar(DataError):
    """The source is made of known tokens but is not a sentence the task's grammar makes."""


def target_and_alignment(name: str, source: list[str]) -> tuple[list[str], list[list[int]]]:
    """The target of ``source`` under task ``name``, and its true alignment; raises :class:`NotInGrammar` for a
    source the task's grammar cannot make (e.g. "march march", "two two", "3/13/1998")."""
    try:
        tgt, align = _target_and_alignment(name, source)
        if name != "reverse" and _source_text(name, source) != _canonical(name, tgt, source):
            raise ValueError("the parse did not read every token")
    except (ValueError, IndexError, StopIteration, KeyError) as e:
        raise NotInGrammar(f"{_source_text(name, source)!r} is not an input the {name} task's grammar makes, "
                           "so it has no right answer.") from e
    return tgt, align


def _source_text(name: str, source: list[str]) -> str:
    return " ".join(source) if name == "translate" else "".join(source)


def _canonical(name: str, tgt: list[str], source: list[str]) -> str:
    """The source text again, regenerated from the target where the grammar allows only one (a check that the
    parse read every token): numbers -> their words; dates -> a valid date; translate -> well-formed phrases."""
    text = _source_text(name, source)
    if name == "numbers":
        return number_words(int("".join(tgt)))
    if name == "dates":
        import datetime

        y, m, d = "".join(tgt).split("-")
        datetime.date(int(y), int(m), int(d))                   # raises for 1998-13-03
        if not (len(y) == 4 and y.isdigit()):
            raise ValueError("year")
        return text
    if name == "translate":
        ok = _well_formed(source)
        if not ok:
            raise ValueError("not a sentence")
    return text


def _well_formed(words: list[str]) -> bool:
    """det adj* noun verb det adj* noun [prep det adj* noun], adjectives distinct within a phrase."""
    def np_ok(ws: list[str]) -> bool:
        return len(ws) >= 2 and ws[0] in LEX_DET and ws[-1] in LEX_NOUN and all(w in LEX_ADJ for w in ws[1:-1])

    verbs = [i for i, w in enumerate(words) if w in LEX_VERB]
    preps = [i for i, w in enumerate(words) if w in LEX_PREP]
    if len(verbs) != 1 or len(preps) > 1 or (preps and preps[0] < verbs[0]):
        return False
    v, p = verbs[0], (preps[0] if preps else len(words))
    return np_ok(words[:v]) and np_ok(words[v + 1:p]) and (not preps or np_ok(words[p + 1:]))


def _target_and_alignment(name: str, source: list[str]) -> tuple[list[str], list[list[int]]]:
    if name == "reverse":
        n = len(source)
        return source[::-1], [[n - 1 - i] for i in range(n)]
    if name == "dates":
        return date_target(source)
    if name == "numbers":
        return number_target(source)
    if name == "translate":
        return translate_target(source)
    raise DataError(f"Unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}.")


# ------------------------------------------------------------------ generators (the source only)
def _ordinal(d: int) -> str:
    suf = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suf}"


def _date_source(r: random.Random) -> str:
    y, m = r.randint(1900, 2099), r.randint(1, 12)
    d = r.randint(1, calendar.monthrange(y, m)[1])
    mon = MONTHS[m - 1] if r.random() < 0.6 else MONTHS[m - 1][:3]
    day = _ordinal(d) if r.random() < 0.5 else str(d)
    fmt = r.randrange(4)
    if fmt == 0:
        return f"{day} of {mon} {y}"
    if fmt == 1:
        return f"{mon} {day}, {y}"
    if fmt == 2:
        return f"{day} {mon} {y}"
    return f"{d}/{m}/{y}" if r.random() < 0.5 else f"{d:02d}/{m:02d}/{y}"


def _np_a(r: random.Random) -> list[str]:
    adjs = r.sample(sorted(LEX_ADJ), r.choice([0, 0, 1, 1, 2]))
    return [r.choice(sorted(LEX_DET)), *adjs, r.choice(sorted(LEX_NOUN))]


def _sentence_a(r: random.Random) -> list[str]:
    s = _np_a(r) + [r.choice(sorted(LEX_VERB))] + _np_a(r)
    if r.random() < 0.5:
        s += [r.choice(sorted(LEX_PREP))] + _np_a(r)
    return s


def _source(name: str, r: random.Random, lengths: tuple[int, int]) -> list[str]:
    if name == "reverse":
        return [r.choice(REVERSE_SYMBOLS) for _ in range(r.randint(*lengths))]
    if name == "dates":
        return list(_date_source(r))
    if name == "numbers":
        return list(number_words(r.randint(0, 999)))
    return _sentence_a(r)


def task_spec(name: str, reverse_lengths: tuple[int, int] = (4, 24)) -> TaskSpec:
    """Vocabularies and limits of task ``name`` (``reverse_lengths``: the reversal task's length range)."""
    if name == "reverse":
        lo, hi = reverse_lengths
        if not 1 <= lo <= hi <= 64:
            raise DataError("reverse lengths must satisfy 1 <= min <= max <= 64")
        return TaskSpec(name, "reverse a string", False, tuple(REVERSE_SYMBOLS), tuple(REVERSE_SYMBOLS), hi, hi,
                        "abcdefgh", (lo, hi))
    if name == "dates":
        chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789 ,/"))
        return TaskSpec(name, "dates → ISO 8601", False, tuple(chars), tuple("0123456789-"), 24, 10,
                        "3rd of march 1998")
    if name == "numbers":
        chars = sorted(set("abcdefghijklmnopqrstuvwxyz -"))
        return TaskSpec(name, "number words → digits", False, tuple(chars), tuple("0123456789"), 34, 3,
                        "two hundred and six")
    if name == "translate":
        src = tuple(sorted(LEXICON))
        return TaskSpec(name, "toy translation A → B", True, src, tuple(sorted(LEXICON.values())), 14, 14,
                        "the big cat sees a small dog with the red fish")
    raise DataError(f"Unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}.")


def seq2seq_task(name: str, n: int = 1000, seed: int = 0, reverse_lengths: tuple[int, int] = (4, 24)) -> Seq2SeqTask:
    """``n`` deterministic examples of task ``name`` (the same ``seed`` gives the same examples)."""
    spec = task_spec(name, reverse_lengths)
    r = random.Random(f"{name}-{seed}")
    out = []
    for _ in range(n):
        src = _source(name, r, spec.lengths)
        tgt, align = target_and_alignment(name, src)
        out.append(Example(src, tgt, align))
    return Seq2SeqTask(spec, out)
