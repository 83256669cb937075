"""Metric formulas shared by training, evaluation and benchmarks, one implementation each: pure functions of
tensors (and, for FID and lines, of a fixed feature network or renderer). `lightning_ae.evaluation.parts`
applies them to a model.

image_quality (MSE, SSE, PSNR, SSIM) · pca (the linear baseline) · likelihood (negative ELBO, IS-NLL, units) ·
representation (linear probe, K-means) · fid · retrieval (mAP, precision within a Hamming radius) ·
codebook (perplexity, dead codes) · lines (ACAI's interpolation metrics) · filters (classical denoisers) ·
conditional (class accuracy of conditional samples)
"""
