"""Make the announcement clips with espeak-ng and sox (Debian packages), for the PC demo.

A real installation replaces them with recorded clips of the same names (see media/speech.py).
Usage: python tools/make_clips.py [FOLDER]   (default: var/clips)
"""

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.speech import DIGITS, LETTERS, WORDS  # noqa: E402

VOICES = {"zh": "cmn-latn-pinyin", "en": "en-us", "letters": "en-us"}  # -v cmn is broken in 1.51


def speak(voice: str, text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "175", "-w", raw.name, text], check=True)
        # Trim the silence espeak leaves at both ends, and settle on the player's format.
        subprocess.run(["sox", raw.name, "-r", "22050", "-c", "1", "-b", "16", str(path),
                        "silence", "1", "0.01", "1%", "reverse", "silence", "1", "0.01", "1%",
                        "reverse", "pad", "0", "0.05"], check=True)


def main(folder: Path) -> None:
    for language, words in WORDS.items():
        for name, text in words.items():
            speak(VOICES[language], text, folder / language / f"{name}.wav")
        for digit, text in enumerate(DIGITS[language]):
            speak(VOICES[language], text, folder / language / f"{digit}.wav")
    for letter, text in zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", LETTERS):
        speak(VOICES["letters"], text, folder / "letters" / f"{letter}.wav")
    subprocess.run(["sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(folder / "chime.wav"),
                    "synth", "0.35", "sine", "988", "fade", "0", "0.35", "0.3", ":",
                    "synth", "0.5", "sine", "784", "fade", "0", "0.5", "0.45", "pad", "0", "0.2"],
                   check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "var/clips"))
    print(f"clips written to {sys.argv[1] if len(sys.argv) > 1 else 'var/clips'}")
