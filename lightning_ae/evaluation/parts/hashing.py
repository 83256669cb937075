"""hash/*, baseline_{pca_sign,lsh}/*: retrieval of the scored images from the training database (the first
`hashing.max_db` images) by Hamming distance, with the model's bits and with PCA-sign and LSH codes of as
many bits fitted on the database (labelled data only; labels are the relevance)."""
from __future__ import annotations

import logging

from lightning_ae.errors import UserError
from lightning_ae.evaluation.calls import batched
from lightning_ae.evaluation.capabilities import Hashes
from lightning_ae.evaluation.splits import labelled, scored, training
from lightning_ae.hashing import lsh_codes, pca_sign_codes
from lightning_ae.metrics.retrieval import retrieval_metrics

log = logging.getLogger("lightning_ae")


def applies(model, datamodule) -> bool:
    return isinstance(model, Hashes) and labelled(datamodule)


def compute(model, datamodule, cfg, device) -> dict[str, float]:
    x, y = scored(datamodule, cfg)
    dbx, dby = training(datamodule, cfg.hashing.max_db)
    bs = int(cfg.batch_size)
    q_bits, db_bits = batched(model.hash_codes, x, y, bs, device), batched(model.hash_codes, dbx, dby, bs, device)
    bits = q_bits.shape[1]
    kw = {"radius": int(cfg.hashing.radius), "k": int(cfg.hashing.k)}
    codes = {"hash": (q_bits.bool(), db_bits.bool())}
    for name, fit in (("baseline_pca_sign", pca_sign_codes), ("baseline_lsh", lsh_codes)):
        try:
            codes[name] = fit(dbx, x, bits), fit(dbx, dbx, bits)
        except UserError as e:  # e.g. fewer database images than bits: no baseline row, the model's stays
            log.warning("%s skipped: %s", name, e)
    out = {f"{name}/{k}": float(v) for name, (q, db) in codes.items()
           for k, v in retrieval_metrics(q, y, db, dby, **kw).items()}
    return out | {"hash/bits": float(bits)}
