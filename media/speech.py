"""Call announcements: the words in each language, and the recorded clips that speak them.

Clips live in one folder: chime.wav, letters/A.wav … Z.wav (letters are said in English in both
languages, as halls do), and per language zh/ and en/: the digits 0.wav … 9.wav and the words
below. Numbers are said digit by digit: "A 0 1 2", "counter 1 2".
"""

from __future__ import annotations

import string
from dataclasses import dataclass

WORDS = {
    "zh": {"qing": "qing3", "hao": "hao4", "dao": "dao4", "chuangkou": "chuang1 kou3"},
    "en": {"ticket": "ticket", "please_go_to_counter": "please go to counter"},
}
DIGITS = {
    "zh": ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"),
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
}
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


def _spell(text: str, language: str) -> list[str]:
    return [f"letters/{c}" if c.isalpha() else f"{language}/{c}" for c in text]


def call_announcement(label: str, counter: int, languages: tuple[str, ...]) -> Announcement:
    """'请 A012 号到 3 号窗口' / 'Ticket A012, please go to counter 3', in `languages` order."""
    text, clips = [], ["chime"]
    for language in languages:
        if language == "zh":
            text.append(f"请 {label} 号到 {counter} 号窗口")
            clips += ["zh/qing", *_spell(label, "zh"), "zh/hao", "zh/dao",
                      *_spell(str(counter), "zh"), "zh/hao", "zh/chuangkou"]
        else:
            text.append(f"Ticket {label}, please go to counter {counter}")
            clips += ["en/ticket", *_spell(label, "en"), "en/please_go_to_counter",
                      *_spell(str(counter), "en")]
    return Announcement(tuple(text), tuple(clips))
