"""The hash index: packing, Hamming distances, radius look-up against brute force, files."""
import numpy as np
import pytest
import torch

from lightning_ae.hashing import HashIndex, hamming, pack_bits, unpack_bits


def random_bits(n, b, seed=0, p=0.5):
    return np.random.default_rng(seed).random((n, b)) < p


@pytest.mark.parametrize("nbits", [16, 32, 64, 70])
def test_pack_unpack_round_trip_and_hamming_equals_bit_comparison(nbits):
    a, b = random_bits(20, nbits, 1), random_bits(30, nbits, 2)
    assert np.array_equal(unpack_bits(pack_bits(a), nbits), a)
    want = (a[:, None, :] != b[None, :, :]).sum(-1)
    assert np.array_equal(hamming(pack_bits(a), pack_bits(b)), want)


@pytest.mark.parametrize("nbits,radius", [(16, 2), (32, 2), (12, 3), (70, 2)])  # 70 bits: the dict path
def test_radius_lookup_equals_brute_force(nbits, radius):
    # few distinct codes (biased bits) so buckets hold several items and balls are non-empty
    db = random_bits(3000, nbits, 3, p=0.1)
    queries = np.concatenate([random_bits(40, nbits, 4, p=0.1), db[:10]])
    index = HashIndex(torch.from_numpy(db))
    offsets, ids = index.search_radius(queries, radius)
    dist = (queries[:, None, :] != db[None, :, :]).sum(-1)
    nonempty = 0
    for q in range(len(queries)):
        got = ids[offsets[q] : offsets[q + 1]]
        assert len(got) == len(set(got.tolist()))  # each item once
        assert sorted(got.tolist()) == np.flatnonzero(dist[q] <= radius).tolist()
        nonempty += len(got) > 0
    assert nonempty >= 10  # the test really exercised hits


def test_exact_lookup_groups_identical_codes_and_custom_ids():
    codes = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1], [1, 1, 1]], bool)
    index = HashIndex(codes, ids=[10, 11, 12, 13])
    assert index.num_buckets == 3
    assert sorted(index.lookup([1, 0, 1]).tolist()) == [10, 12]
    assert index.lookup([0, 1, 0]).tolist() == []


def test_save_and_load_give_the_same_answers(tmp_path):
    db, queries = random_bits(500, 32, 5, p=0.2), random_bits(30, 32, 6, p=0.2)
    index = HashIndex(db)
    path = index.save(tmp_path / "index.npz")
    loaded = HashIndex.load(path)
    for a, b in zip(index.search_radius(queries, 2), loaded.search_radius(queries, 2)):
        assert np.array_equal(a, b)
    assert np.array_equal(index.hamming(queries), loaded.hamming(queries))
    assert loaded.nbits == 32 and len(loaded) == 500
