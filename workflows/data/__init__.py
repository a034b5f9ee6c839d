"""Datasets: the `dataset_info.json` registry, file readers, conversion to one example format, mixing and splitting.

Data flows one way: registry -> readers -> formats (record to Conversation) ->
stages (Conversation to the example a stage trains on) -> sampling and mixing.
Tokenisation is built on top of these plain-dict examples elsewhere.
"""

from workflows.data.loader import dataset_files, load_examples
from workflows.data.mixing import split_train_eval
from workflows.data.registry import DatasetAttr, read_dataset_info

__all__ = ["DatasetAttr", "dataset_files", "load_examples", "read_dataset_info", "split_train_eval"]
