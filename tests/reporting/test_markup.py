"""The pieces of a page: number formats, escaping, tables, the self-contained shell."""

import math

from snnmap.reporting import markup


def test_fmt_by_key():
    assert markup.fmt(None) == "n/a" and markup.fmt(float("nan")) == "n/a"
    assert markup.fmt(True) == "yes" and markup.fmt(False) == "no"
    assert markup.fmt(476400) == "476,400"
    assert markup.fmt(6.105e-14, "max_abs_error") == "6.105e-14"
    assert markup.fmt(0.961, "accuracy_snn") == "0.9610"
    assert markup.fmt(9.73991234) == "9.73991"
    assert markup.fmt(12345.6) == "12,346" and markup.fmt(1234.56) == "1,234.6"
    assert markup.fmt(2e-5) == "2.000e-05" and markup.fmt(-math.inf) == "-inf"
    assert markup.fmt([1, 0.5]) == "[1, 0.5]"
    assert markup.fmt({"a": 1000}) == "a=1,000"


def test_units_and_fractions():
    assert markup.percent(0.534) == "53.40%" and markup.percent(None) == "n/a"
    assert markup.energy(2191.0e3) == "2.191 µJ" and markup.energy(901.6) == "901.6 pJ"
    assert markup.ratio(None) is None and markup.ratio(0.19567) == "0.1957"


def test_tables_escape_and_align():
    text = markup.table([("name", "layer"), ("n", "count")], [{"name": "<b>", "n": 3}, {"name": "x"}])
    assert "<td>&lt;b&gt;</td>" in text and '<td class="num">3</td>' in text and "<td>n/a</td>" in text
    assert markup.kv_table([("accuracy", 0.5)]) == '<table class="kv"><tr><th>accuracy</th><td>0.5000</td></tr></table>'


def test_page_stands_alone():
    text = markup.page("a <title>", "<p>body</p>", "x.json")
    assert text.startswith("<!DOCTYPE html>") and "<title>a &lt;title&gt;</title>" in text
    assert "<style>" in text and "<link" not in text and "<script" not in text and "x.json" in text


def test_data_callout_warns_on_a_subset():
    d = {"data_description": "a sample", "data": {"full": False}}
    assert "a sample" in markup.data_callout(d) and "not on its full" in markup.data_callout(d)
    assert "not on its full" not in markup.data_callout({"data_description": "all"})
