"""An OpenAI-compatible HTTP API over a ChatEngine (`python -m workflows api`)."""
