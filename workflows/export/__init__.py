"""Export: merge adapters into a standalone model (sharded safetensors, tokenizer with the run's chat template,
model card), optionally a GGUF with an Ollama Modelfile or GPTQ weights, checked against its source before it is
put in place. ``export_command`` runs it as a job (``python -m workflows export``)."""
