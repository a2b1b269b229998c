"""The page of a run (phase 2's results JSON): metrics, operations, energy, layers, figures."""

import html
import re

from snnmap.reporting import artifacts, markup, run_page


def test_run_page(run_dir, check_page):
    path, result, out = run_dir
    with open(out["report"], encoding="utf-8") as fh:
        text = fh.read()
    check_page(text, 4)
    assert html.escape(result["data_description"]) in text
    for key, shown in (("accuracy_snn", f"{result['accuracy_snn']:.4f}"), ("agreement", f"{result['agreement']:.4f}"),
                       ("max_abs_error", f"{result['max_abs_error']:.3e}"), ("latency", f"{result['latency']:.6g}")):
        assert re.search(rf'data-key="{key}">{re.escape(shown)}<', text), key
    assert "Operations and energy (estimate)" in text and "ESTIMATE" in text
    assert "Horowitz, ISSCC 2014 (test)" in text and "4.6 pJ" in text and "901.6 pJ" in text
    ops = result["operations"]
    for key in ("relu_macs", "snn_events", "snn_events_informative"):  # per image, network totals
        assert f"<td>{markup.fmt(ops[key], key)}</td>" in text, key
    for layer in result["layers"]:
        assert f"<td>{layer['name']}</td>" in text
    for kind in ("Spike times", "raster", "Membrane potential", "Exactness"):
        assert kind.lower() in text.lower()
    assert "docs/method.md §" in text and "MAPPING" not in text


def _headline(text):
    start = text.index('id="exactness"')
    return text[start:text.index("</div>", start)]


def test_the_headline_exactness_is_against_the_users_network(run_dir, check_page):
    path, result, out = run_dir
    with open(out["report"], encoding="utf-8") as fh:
        text = fh.read()
    original, codes = result["max_abs_error_original"], result["max_abs_error"]
    assert original <= 1e-9, "the fixture's SNN is exact against the NumPy oracle of its original network"
    headline = _headline(text)
    assert text.index('id="exactness"') < text.index('id="summary"'), "the headline comes before the summary"
    assert "max |error| vs your network" in headline
    assert f'data-key="max_abs_error_original">{original:.3e}<' in headline
    assert "pre-softmax logits" in headline
    assert f"max |error| of the spike codes (vs the preprocessed ReLU twin): <b>{codes:.3e}</b>" in headline
    assert re.search(rf'<th>max \|error\| vs your network</th><td class="value" '
                     rf'data-key="max_abs_error_original">{re.escape(f"{original:.3e}")}<', text)
    assert "not recorded" not in text


def test_older_results_say_the_check_against_the_original_network_was_not_recorded(run_dir, tmp_path):
    path, result, out = run_dir
    older = {k: v for k, v in result.items() if k != "max_abs_error_original"}
    text = run_page.run_page(older, str(tmp_path / "older.json"), str(tmp_path),
                             figures=artifacts.RunFigures([], "", ""))
    headline = _headline(text)
    assert "max |error| vs your network: <b" in headline and ">not recorded</b>" in headline
    assert "end-to-end check against your original network" in headline
    assert f"(vs the preprocessed ReLU twin): <b>{result['max_abs_error']:.3e}</b>" in headline
    assert 'data-key="max_abs_error_original">not recorded<' in text
    assert f'data-key="max_abs_error">{result["max_abs_error"]:.3e}<' in text


def test_a_large_error_against_the_original_network_is_shown_as_it_is(run_dir, tmp_path):
    path, result, out = run_dir
    wrong = dict(result, max_abs_error_original=3.45)  # the silently "exact" conversion
    text = run_page.run_page(wrong, str(tmp_path / "wrong.json"), str(tmp_path),
                             figures=artifacts.RunFigures([], "", ""))
    assert 'data-key="max_abs_error_original">3.450e+00<' in _headline(text)


def test_an_unmeasured_check_against_the_original_network_is_said_so(run_dir, tmp_path):
    path, result, out = run_dir
    unmeasured = dict(result, max_abs_error_original=None)
    text = run_page.run_page(unmeasured, str(tmp_path / "unmeasured.json"), str(tmp_path),
                             figures=artifacts.RunFigures([], "", ""))
    headline = _headline(text)
    assert 'class="callout warn"' in text[text.index('id="exactness"') - 40:text.index('id="exactness"')]
    assert "max |error| vs your network: <b" in headline and ">not measured</b>" in headline
    assert "n/a" not in headline
    assert 'data-key="max_abs_error_original">not measured<' in text
