"""Evaluation parts: one module per part, named as its key under `parts` in conf/evaluation/default.yaml.

Each module has `applies(model, datamodule) -> bool` and `compute(model, datamodule, cfg, device) ->
{"<prefix>/<metric>": float}`; `lightning_ae.evaluation.suite` runs them in the order of `cfg.parts`.
"""
