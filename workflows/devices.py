"""Which accelerators this process can use, named for people."""


def list_devices() -> list[str]:
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{index} {torch.cuda.get_device_name(index)}" for index in range(torch.cuda.device_count())]
    return ["cpu"]
