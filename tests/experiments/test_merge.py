"""Merging the parts of one test set: only true shards of one run merge, and nothing else is overwritten
(issue 26, items 5 and 10)."""

import copy
import json

import pytest

from snnmap import storage
from snnmap.experiments import naming
from snnmap.experiments.merge import merge_results
from snnmap.experiments.settings import RunSettings


def _part(k, num, indices, n_selected=1000, test_samples=None, **changes):
    start, stop = indices
    description = "MNIST sample" + (f"; using first {n_selected} test images" if test_samples else "")
    result = {
        "model_name": "m", "data_name": "MNIST", "data_source": "sample", "settings": RunSettings().as_dict(),
        "X_n": [1.5], "batch_size": 256, "clip_inputs": False,
        "test_set": {"test_samples": test_samples, "n_selected": n_selected}, "phase1_fingerprint": "abc",
        "data_description": f"{description}; part {k} of {num}: test images {start}-{stop - 1}",
        "data": {"name": "MNIST", "source": "sample", "n_test": stop - start, "test_indices": [start, stop],
                 "description": "..."},
        "part": {"part": k, "num_parts": num, "test_indices": [start, stop]},
        "totals": None,
    }
    result.update(changes)
    return result


def _write(tmp_path, parts):
    paths = []
    for r in parts:
        path = tmp_path / naming.results_name("m", RunSettings(), part=(r["part"]["part"], r["part"]["num_parts"]))
        storage.atomic_write_json(str(path), r)
        paths.append(str(path))
    return paths


def test_parts_of_different_test_sets_are_refused(tmp_path):
    # The case: part 0 of the first 512 images with part 1 of all 1,000.
    paths = _write(tmp_path, [_part(0, 2, (0, 256), 512, 512), _part(1, 2, (500, 1000))])
    with pytest.raises(ValueError, match="different test_set"):
        merge_results(paths)
    # Parts written before the test set was recorded: their indices must still tile one test set.
    old = [_part(0, 2, (0, 256)), _part(1, 2, (500, 1000))]
    for r in old:
        del r["test_set"]
    with pytest.raises(ValueError, match="not shards of one test set"):
        merge_results(_write(tmp_path, old))
    assert not list(tmp_path.glob("*_merged.json"))


@pytest.mark.parametrize("key, value", [("phase1_fingerprint", "def"), ("batch_size", 64), ("clip_inputs", True),
                                        ("data_source", "idx")])
def test_parts_of_different_runs_are_refused(tmp_path, key, value):
    paths = _write(tmp_path, [_part(0, 2, (0, 500)), _part(1, 2, (500, 1000), **{key: value})])
    with pytest.raises(ValueError, match=f"different {key}"):
        merge_results(paths)


def test_missing_or_garbage_part_files_are_named(tmp_path):
    paths = _write(tmp_path, [_part(0, 2, (0, 500)), _part(1, 2, (500, 1000))])
    missing = str(tmp_path / "nowhere_part1of2.json")
    with pytest.raises(ValueError, match=f"cannot merge {missing}: the file does not exist"):
        merge_results([paths[0], missing])
    with open(paths[1], "w") as fh:
        fh.write("{not json")
    with pytest.raises(ValueError, match="not a readable results file"):
        merge_results(paths)


def test_a_file_the_merge_did_not_write_is_never_overwritten(tmp_path):
    parts = [_part(0, 2, (0, 500)), _part(1, 2, (500, 1000))]
    paths = _write(tmp_path, parts)
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"accuracy_snn": 0.9}))
    with pytest.raises(ValueError, match="is not a merge's result: not overwritten"):
        merge_results(paths, str(single))
    assert json.loads(single.read_text()) == {"accuracy_snn": 0.9}
    with pytest.raises(ValueError, match="overwrite one of the parts"):
        merge_results(paths, paths[1])
    assert json.loads(open(paths[1]).read()) == storage.as_read_back(copy.deepcopy(parts[1]))
