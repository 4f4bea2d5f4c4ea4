"""Offline data preparation jobs (vocabulary, pretraining and fine-tuning records).

Each job is a module with the work in plain functions; the command-line entry
points under ``tools/`` only parse flags. Submodules are imported explicitly
(``from data_prep.vocab import train_vocab``) so that one job's dependencies
are never loaded by another.
"""
