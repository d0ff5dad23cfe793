"""The 10k-signal LPGD/LPD with and without RMA script (`python -m benchmarks.studies.rma_blur1d`)
at toy size."""

import json

import torch

from benchmarks.studies import rma_blur1d


def test_toy_run_writes_results_and_scores_a_second_test_set(tmp_path, same_run):
    module = rma_blur1d
    out = tmp_path / "r.json"
    module.main(["--nets", "lpd", "--directions", "rma", "--lpd-source", "data_fit",
                 "--rma-hidden", "8", "--rma-dropout", "0.2", "--n-train", "48", "--n-val", "16",
                 "--n-test", "16", "--epochs", "1", "--also-test-on-n-train", "48",
                 "--gn", "--out", str(out)])
    gn, r = json.loads(out.read_text())["results"]
    assert gn["net"] == "gn" and gn["test_mse"] < r["test_mse_x0"]
    assert r["lpd_source"] == "data_fit" and r["rma_dropout"] == 0.2
    assert len(r["val_mse_by_epoch"]) == 1 and r["best_epoch"] == 1
    # the second test set is the split's own when N equals --n-train: the same score
    assert same_run(r["test_mse_split_48"], r["test_mse"]) and r["test_mse"] < r["test_mse_x0"]


def test_splits_are_reproducible_and_the_test_set_moves_with_n_train():
    module = rma_blur1d
    _, (train_a, _, test_a) = module.make_split(2.0, 32, 8, 8, 0.01, seed=3)
    _, (train_b, _, test_b) = module.make_split(2.0, 32, 8, 8, 0.01, seed=3)
    _, (_, _, test_c) = module.make_split(2.0, 40, 8, 8, 0.01, seed=3)
    for u, v in zip(train_a.tensors + test_a.tensors, train_b.tensors + test_b.tensors, strict=True):
        assert torch.equal(u, v)
    assert not torch.equal(test_a.tensors[0], test_c.tensors[0])


def test_the_thread_count_of_the_caller_is_restored(tmp_path):
    module = rma_blur1d
    before = torch.get_num_threads()
    torch.set_num_threads(2 if before == 1 else 1)
    try:
        expected = torch.get_num_threads()
        module.main(["--nets", "--gn", "--threads", "3", "--n-train", "8", "--n-val", "4",
                     "--n-test", "4", "--out", str(tmp_path / "gn.json")])
        assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
