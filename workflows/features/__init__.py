"""Examples -> token ids and labels -> batches: the tokenisation half of the data pipeline.

`workflows.data` turns files into examples (messages or text); this package
renders them with a chat template, masks the labels, truncates to
`cutoff_len`, optionally packs, caches the result by fingerprint and pads
batches.
"""
