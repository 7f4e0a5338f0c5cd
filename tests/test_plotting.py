"""The shared figure helpers (emergence.figures.common): the frame slider is self-contained
HTML that holds every frame.

The slider's JavaScript is exercised in a real browser in tests/test_site.py."""

import base64
import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from emergence.figures import common  # noqa: E402

# Frame i is one flat colour, so a test can tell which picture ended up where.
SHADES = ["#d55e00", "#0072b2", "#009e73", "#f0e442", "#cc79a7"]


def flat(i):
    fig = plt.figure(figsize=(2, 1))
    fig.patch.set_facecolor(SHADES[i])
    return fig


def frames_of(slider):
    """The data URIs in the slider's frame list."""
    return json.loads(re.search(r"const frames = (\[.*?\]);", slider.html).group(1))


def decode(uri):
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def test_the_slider_holds_every_frame_in_order_at_the_given_dpi():
    slider = common.frame_slider(flat, 5, label="step", dpi=40)
    frames = frames_of(slider)
    assert len(frames) == 5 and len(set(frames)) == 5
    for i, uri in enumerate(frames):
        image = decode(uri)
        assert image.size == (80, 40)   # 2 x 1 inches at 40 dpi
        assert "#%02x%02x%02x" % image.getpixel((10, 10)) == SHADES[i]
    assert re.search(r'<input type="range" min="0" max="4" step="1" value="0"', slider.html)
    assert re.search(r'<img src="([^"]+)"', slider.html).group(1) == frames[0]  # shows without JS
    assert slider._repr_html_() == slider.html


def test_the_slider_is_self_contained():
    slider = common.frame_slider(flat, 3)
    html = slider.html
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html) + frames_of(slider)
    assert len(sources) == 1 + 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert re.search(r"https?:|ftp:|url\(|import\(|fetch\(", html) is None   # ":" is not base64
    assert "<script src" not in html and "<link" not in html
    assert "ipywidgets" not in html and "require(" not in html
    assert len(re.findall(r"data:image/png;base64,", html)) == 3 + 1   # frame 0 twice: <img> and list


def test_two_sliders_have_distinct_ids_and_each_script_finds_its_own():
    a, b = common.frame_slider(flat, 2), common.frame_slider(flat, 2)
    ids = [re.findall(r'id="([^"]+)"', s.html) for s in (a, b)]
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]
    for slider, (element_id,) in zip((a, b), ids):
        assert f'document.getElementById("{element_id}")' in slider.html


def test_values_label_the_frames_and_start_picks_the_first_shown():
    slider = common.frame_slider(flat, 3, label="L", values=[1, 2, 30], start=2)
    assert json.loads(re.search(r"const texts = (\[.*?\]);", slider.html).group(1)) == ["1", "2", "30"]
    assert 'value="2"' in slider.html and "<output>30</output>" in slider.html
    assert re.search(r'<img src="([^"]+)"', slider.html).group(1) == frames_of(slider)[2]


def test_text_cannot_break_out_of_the_page():
    slider = common.frame_slider(flat, 2, label="<b>x</b>", values=["</script><p>", "y"])
    assert "<b>x</b>" not in slider.html and "&lt;b&gt;x&lt;/b&gt;" in slider.html
    assert slider.html.count("</script>") == 1


def test_every_drawn_figure_is_closed():
    before = plt.get_fignums()
    common.frame_slider(flat, 3)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("count", [0, -1, 2.5])
def test_a_bad_count_is_a_clear_error(count):
    with pytest.raises(ValueError, match=rf"count={count!r} is not allowed"):
        common.frame_slider(flat, count)


def test_bad_values_or_start_are_clear_errors():
    with pytest.raises(ValueError, match="values has 2 entries, not count=3"):
        common.frame_slider(flat, 3, values=[1, 2])
    with pytest.raises(ValueError, match="start=3 is not allowed"):
        common.frame_slider(flat, 3, start=3)
