"""Token ids to text pieces, handing out every token as soon as it is final.

transformers' ``TextIteratorStreamer`` holds text back until the next space,
so an answer without spaces (code, an untrained model) arrives all at once
and time-to-first-token means nothing. Here only what a later token can still
change is held back: an incomplete UTF-8 character (decoded as U+FFFD) and
trailing spaces (which tokenizer clean-up may remove before punctuation).
"""

UNSETTLED = " \ufffd"


class IncrementalDecoder:
    """Feed it token ids as they come; it returns the text that became final (special tokens skipped)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.shown = 0

    def add(self, ids: list[int]) -> str:
        self.ids.extend(ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        settled = len(text.rstrip(UNSETTLED))
        if settled <= self.shown:
            return ""
        piece, self.shown = text[self.shown : settled], settled
        return piece

    def flush(self) -> str:
        """What is left once no more tokens come."""
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        piece, self.shown = text[self.shown :], max(self.shown, len(text))
        return piece
