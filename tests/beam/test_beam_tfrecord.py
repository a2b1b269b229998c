"""Test data as TFRecord shards: phase 2 from the shards equals phase 2 from the arrays, and a corrupt
record ends the run naming its shard and index."""

import os

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import snnmap  # noqa: E402
from snnmap import beam  # noqa: E402
from snnmap.beam.tfrecord import record_offsets  # noqa: E402

IN_PROCESS = beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False)
COMPARED = ("n_test", "accuracy_snn", "accuracy_relu", "accuracy_relu_preprocessed", "agreement", "max_abs_error",
            "max_abs_error_end_to_end", "max_abs_error_original", "violations", "violations_a", "violations_b",
            "informative_spike_fraction", "layers", "operations", "totals")


@pytest.fixture(scope="module")
def fc(fashion, fashion_fc, tmp_path_factory):
    pre = snnmap.preprocess(fashion_fc, fashion.x_train[:2000], verbose=0)
    x, y = fashion.x_test[:300], fashion.y_test[:300]
    logits = snnmap.pipeline.graph.logits_model(fashion_fc).predict(x, verbose=0).astype(np.float64)
    # Shards of 70 images: records of 128 images straddle shards.
    shards = beam.write_tfrecord_shards(tmp_path_factory.mktemp("tfrecord"), x, y, images_per_shard=70)
    return pre, x, y, np.argmax(fashion_fc.predict(x, verbose=0), -1), logits, shards


def test_the_shards_hold_the_arrays(fc):
    _, x, y, _, _, shards = fc
    assert [os.path.basename(p) for p in shards] == [f"test-{i:05d}-of-00005.tfrecord" for i in range(5)]
    reader = beam.TFRecordReader(shards)
    reader.setup()
    got_x, got_y = reader.read(60, 150)  # across shards 0, 1 and 2
    assert len(reader) == 300 and got_x.dtype == x.dtype and np.array_equal(got_x, x[60:150])
    assert np.array_equal(got_y, y[60:150])


def test_phase2_from_tfrecord_shards_equals_phase2_from_arrays(fc):
    pre, x, y, ref, logits, shards = fc
    snn = snnmap.to_snn(pre, noise=0.05, seed=3)  # noise: the per-record seeding must match too
    quiet = dict(beam_settings=IN_PROCESS, log=lambda line: None)
    arrays, _ = beam.evaluate(snn, pre.model, beam.ArrayReader(x, y), 128, ref, logits, **quiet)
    records, _ = beam.evaluate(snn, pre.model, beam.TFRecordReader(shards), 128, ref, logits, **quiet)
    for key in COMPARED:
        assert records[key] == arrays[key], key
    assert arrays["n_test"] == 300 and arrays["accuracy_snn"] is not None


def _corrupt_copy(shards, folder, shard, index):
    """Copies of ``shards`` in ``folder`` with one byte of record ``index`` of shard ``shard`` flipped."""
    copies = []
    for i, path in enumerate(shards):
        with open(path, "rb") as fh:
            data = bytearray(fh.read())
        if i == shard:
            data[record_offsets(path)[index] + 40] ^= 0xFF  # inside the record's data: its checksum fails
        copies.append(os.path.join(folder, os.path.basename(path)))
        with open(copies[-1], "wb") as fh:
            fh.write(bytes(data))
    return copies


def test_a_corrupt_record_ends_the_run_naming_its_shard_and_index(fc, tmp_path):
    pre, _, _, ref, _, shards = fc
    (tmp_path / "shards").mkdir(), (tmp_path / "staging").mkdir()
    bad = _corrupt_copy(shards, tmp_path / "shards", 2, 17)  # image 157, in the record of images 128..255
    settings = beam.BeamSettings(running_mode="in_memory", num_workers=1, verbose=False,
                                 staging_dir=str(tmp_path / "staging"))
    with pytest.raises(beam.BeamRunError, match=r"images 128\.\.255.*record 17 of the TFRecord shard "
                                                r".*test-00002-of-00005\.tfrecord is corrupt"):
        beam.evaluate(snnmap.to_snn(pre), pre.model, beam.TFRecordReader(bad), 128, ref, beam_settings=settings,
                      log=lambda line: None)
    assert os.listdir(tmp_path / "staging") == []  # nothing half-written


def test_a_truncated_shard_is_refused_naming_it(fc, tmp_path):
    shards = fc[-1]
    with open(shards[1], "rb") as fh:
        data = fh.read()
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(data[:-10])
    with pytest.raises(ValueError, match=r"cut\.tfrecord is truncated .* record 69 "):
        beam.TFRecordReader([shards[0], str(cut)])


def test_records_of_another_format_are_refused_naming_them(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "strings.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(b"not an example")
    reader = beam.TFRecordReader([path])
    reader.setup()
    with pytest.raises(ValueError, match=r"record 0 of the TFRecord shard .*strings\.tfrecord (is not a tf.train"
                                         r"\.Example|lacks the feature)"):
        reader.read(0, 1)
    with pytest.raises(ValueError, match="images_per_shard must be a positive integer"):
        beam.write_tfrecord_shards(tmp_path, np.zeros((3, 4)), images_per_shard=0)
