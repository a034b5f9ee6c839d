"""A text streamer that hands out every token as soon as it is final.

transformers' ``TextIteratorStreamer`` holds text back until the next space,
so an answer without spaces (code, an untrained model) arrives all at once
and time-to-first-token means nothing. Here only what a later token can still
change is held back: an incomplete UTF-8 character (decoded as U+FFFD) and
trailing spaces (which tokenizer clean-up may remove before punctuation).
"""

from transformers import TextIteratorStreamer

UNSETTLED = " \ufffd"


class TokenStreamer(TextIteratorStreamer):
    def put(self, value) -> None:
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        settled = len(text.rstrip(UNSETTLED))
        if settled > self.print_len:
            self.on_finalized_text(text[self.print_len : settled])
            self.print_len = settled
