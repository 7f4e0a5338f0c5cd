import pytest
import torch

from emergence.tasks.modular import all_pairs, is_prime, modular_addition, one_hot_pairs, pair_tokens


def test_split_sizes_labels_and_determinism():
    data = modular_addition(13, 0.3, seed=4)
    assert len(data.train_pairs) == round(0.3 * 169) and len(data.test_pairs) == 169 - round(0.3 * 169)
    assert torch.equal(data.train_labels, (data.train_pairs[:, 0] + data.train_pairs[:, 1]) % 13)
    assert int(data.is_train.sum()) == len(data.train_pairs)
    # train and test are disjoint and cover every pair
    codes = lambda pairs: set((pairs[:, 0] * 13 + pairs[:, 1]).tolist())
    assert codes(data.train_pairs) | codes(data.test_pairs) == set(range(169))
    assert not codes(data.train_pairs) & codes(data.test_pairs)
    # is_train is indexed in all_pairs order
    assert codes(all_pairs(13)[data.is_train]) == codes(data.train_pairs)
    again = modular_addition(13, 0.3, seed=4)
    assert torch.equal(data.train_pairs, again.train_pairs)
    assert not torch.equal(data.train_pairs, modular_addition(13, 0.3, seed=5).train_pairs)


@pytest.mark.parametrize("p, frac, message", [(12, 0.3, "p=12"), (13, 1.0, "train_frac=1.0")])
def test_bad_settings_are_named(p, frac, message):
    with pytest.raises(ValueError, match=message):
        modular_addition(p, frac)


def test_encodings():
    pairs = torch.tensor([[2, 5], [0, 0]])
    onehot = one_hot_pairs(pairs, 7)
    assert onehot.shape == (2, 14) and onehot.sum().item() == 4
    assert onehot[0, 2] == 1 and onehot[0, 7 + 5] == 1
    assert pair_tokens(pairs, 7).tolist() == [[2, 5, 7], [0, 0, 7]]
    assert [n for n in range(20) if is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19]
