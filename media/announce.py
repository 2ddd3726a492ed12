"""The words of a call announcement, in Chinese and in English."""


def call_phrases(label: str, counter: int) -> tuple[str, str]:
    """'请 A012 号到 3 号窗口' and 'Ticket A012, please go to counter 3'."""
    return f"请 {label} 号到 {counter} 号窗口", f"Ticket {label}, please go to counter {counter}"
