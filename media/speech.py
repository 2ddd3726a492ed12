"""Call announcements: the words in each language, and the recorded clips that speak them.

Clips live in one folder: chime.wav, letters/A.wav … Z.wav (letters are said in English in both
languages, as halls do), and per language zh/ and en/: the digits 0.wav … 9.wav and the words
below. Numbers are said as numbers, as halls say them: "A 十二 号" (shi2 er4), "A twelve",
"一百零五", "one hundred five"; a label's leading zeros are not said. A call names the counter's
kind (queue_core's COUNTER_KINDS): "3 号窗口", "3 号诊室", "3 号桌"; "counter 3", "room 3".
"""

from __future__ import annotations

import string
from dataclasses import dataclass

TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
WORDS = {
    "zh": {"qing": "qing3", "hao": "hao4", "dao": "dao4", "chuangkou": "chuang1 kou3",
           "zhenshi": "zhen3 shi4", "zhuo": "zhuo1",
           "shi": "shi2", "bai": "bai3", "qian": "qian1"},
    "en": {"ticket": "ticket", "please_go_to_counter": "please go to counter",
           "please_go_to_window": "please go to window", "please_go_to_room": "please go to room",
           "please_go_to_table": "please go to table",
           "hundred": "hundred", "thousand": "thousand",
           **{str(10 + n): word for n, word in enumerate(TEENS)},
           **{str(20 + 10 * n): word for n, word in enumerate(TENS)}},
}
DIGITS = {
    "zh": ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}
# A counter's kind in words: (Chinese, its clip, English); "counter" is the words of old.
PLACES = {"counter": ("窗口", "chuangkou", "counter"), "window": ("窗口", "chuangkou", "window"),
          "room": ("诊室", "zhenshi", "room"), "table": ("桌", "zhuo", "table")}
LETTERS = ("ay", "bee", "see", "dee", "ee", "eff", "jee", "aitch", "eye", "jay", "kay", "el",
           "em", "en", "oh", "pee", "cue", "are", "ess", "tee", "you", "vee", "double you", "ex",
           "why", "zed")
CLIPS = frozenset(("chime", *(f"letters/{c}" for c in string.ascii_uppercase),
                   *(f"{lang}/{d}" for lang in DIGITS for d in range(10)),
                   *(f"{lang}/{word}" for lang, words in WORDS.items() for word in words)))


@dataclass(frozen=True)
class Announcement:
    text: tuple[str, ...]    # one sentence per language
    clips: tuple[str, ...]   # clip names relative to the clip folder, without .wav
    label: str = ""          # the ticket called


def zh_number(n: int) -> list[str]:
    """0 to 9999 in Chinese clips: 十二, 一百零五, 一千零一十."""
    if n == 0:
        return ["zh/0"]
    clips, started, gap = [], False, False
    for digit, unit in zip(f"{n:04d}", ("qian", "bai", "shi", "")):
        if digit == "0":
            gap = started
            continue
        if gap:
            clips.append("zh/0")   # 零, once for a run of zeros inside the number
            gap = False
        if not (unit == "shi" and digit == "1" and not started):   # 十二, not 一十二
            clips.append(f"zh/{digit}")
        if unit:
            clips.append(f"zh/{unit}")
        started = True
    return clips


def en_number(n: int) -> list[str]:
    """0 to 9999 in English clips: twelve, one hundred five, two thousand thirty."""
    if n == 0:
        return ["en/0"]
    clips = []
    for size, word in ((1000, "thousand"), (100, "hundred")):
        if n >= size:
            clips += [f"en/{n // size}", f"en/{word}"]
            n %= size
    if n >= 20:
        clips.append(f"en/{n - n % 10}")
        n %= 10
    if n:
        clips.append(f"en/{n}")
    return clips


NUMBERS = {"zh": zh_number, "en": en_number}


def _say(label: str, language: str) -> list[str]:
    """A ticket label: its letter, then its number as a number."""
    letters = [f"letters/{c}" for c in label if c.isalpha()]
    digits = "".join(c for c in label if c.isdigit())
    return letters + (NUMBERS[language](int(digits)) if digits else [])


def call_announcement(label: str, counter: int, languages: tuple[str, ...],
                      kind: str = "counter") -> Announcement:
    """'请 A012 号到 3 号窗口' / 'Ticket A012, please go to counter 3', in `languages` order;
    `kind` names the place: 'room' makes '请 A012 号到 3 号诊室' / '… please go to room 3'."""
    zh, zh_clip, en = PLACES[kind]
    text, clips = [], ["chime"]
    for language in languages:
        if language == "zh":
            text.append(f"请 {label} 号到 {counter} 号{zh}")
            clips += ["zh/qing", *_say(label, "zh"), "zh/hao", "zh/dao", *zh_number(counter),
                      "zh/hao", f"zh/{zh_clip}"]
        else:
            text.append(f"Ticket {label}, please go to {en} {counter}")
            clips += ["en/ticket", *_say(label, "en"), f"en/please_go_to_{en}",
                      *en_number(counter)]
    return Announcement(tuple(text), tuple(clips), label)
