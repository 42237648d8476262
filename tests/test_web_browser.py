"""The page end to end in a real headless Chromium (Debian's chromium + chromium-driver, through selenium).

`edgegen web` serves it on a free port; the test drives it through window.edgegen as a user's script
would, compares what it draws with the Python runtime for the same seeds, presses play and checks that
notes were scheduled on the audio clock a bar ahead, feeds it bad input, and reads the console.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgegen.runtime.drum_generator import DrumGenerator
from edgegen.runtime.font_generator import FALLBACK_LETTER_MODEL, open_letter_model
from edgegen.runtime import drum_synth
from edgegen.web.server import missing_vendor_files

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"),
    pytest.mark.skipif(bool(missing_vendor_files()), reason="run `make web` first (onnxruntime-web files)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")

LETTER_TOLERANCE, INK = 1e-5, 0.5
LETTER_CASES = [("Q", 7), ("A", 0), ("m", 2**40 + 3)]
DRUM_CASES = [("jazz", 4, 7), ("rock", 2, 0), ("electronic", 3, 2**53 - 1)]


def matplotlib_font(name: str) -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name if spec else None
    return path if path and path.is_file() else None


def drop_file(page, path: Path, shown_in: str, timeout: float = 15.0):
    """Give the page's font input ``path`` and wait until the element ``shown_in`` names the file; that element."""
    page.find_element("id", "font-file").send_keys(str(path))
    element = page.find_element("id", shown_in)
    deadline = time.monotonic() + timeout
    while path.name not in element.text:
        assert time.monotonic() < deadline, page.find_element("id", "message").text
        time.sleep(0.05)
    return element


@pytest.fixture(scope="module")
def page_url():
    """`edgegen web --port 0` in a subprocess; its URL."""
    process = subprocess.Popen([sys.executable, "-c", "from edgegen.cli.web import main; main()", "web", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("serving http://127.0.0.1:"), line + process.stderr.read()
    yield line.split()[1]
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-background-networking", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def call(driver, expression: str):
    """Await a Promise in the page; returns its value, or {"error": message} when it rejects."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"Promise.resolve().then(() => {expression}).then(done, (e) => done({{error: String(e && e.message || e)}}));")


def load(browser, url: str) -> None:
    """Navigate and wait until the page's own script has run (window.edgegen exists)."""
    browser.get(url)
    deadline = time.monotonic() + 15
    while not browser.execute_script("return Boolean(window.edgegen && window.edgegen.ready)"):
        assert time.monotonic() < deadline, (browser.current_url, browser.page_source[:300], browser.get_log("browser"))
        time.sleep(0.05)


@pytest.fixture(scope="module")
def page(browser, page_url):
    load(browser, page_url)
    ready = call(browser, "window.edgegen.ready.then((api) => api.timings)")
    assert "error" not in ready, (ready, browser.find_element("id", "message").text, browser.get_log("browser"))
    return browser


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_page_is_ready_and_has_drawn_a_letter_and_a_groove(page):
    timings = page.execute_script("return window.edgegen.timings")
    assert 0 < timings["firstLetterMs"] <= timings["firstGrooveMs"]
    assert page.find_element("id", "message").get_attribute("hidden") is not None
    width = page.execute_script("return document.getElementById('letters-canvas').width")
    assert width > 28


def test_render_letter_equals_fontgen_render_for_the_same_seeds(page):
    generator = open_letter_model()  # the default, as `fontgen render` without --model
    for letter, seed in LETTER_CASES:
        got = call(page, f"window.edgegen.renderLetter({letter!r}, {seed}).then((image) => Array.from(image))")
        expected = generator.render(letter, seed).reshape(-1)
        image = np.float32(got)
        assert image.shape == expected.shape, (letter, seed)
        assert np.abs(image - expected).max() <= LETTER_TOLERANCE, (letter, seed)
        assert np.array_equal(image > INK, expected > INK), (letter, seed)
    # what the canvas shows is that letter: black ink where the image has ink (scale 8, pixel centres)
    canvas = page.execute_script(
        "const c = document.getElementById('letters-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, "
        "c.height).data; const out = []; for (let y = 4; y < c.height; y += 8) for (let x = 4; x < c.width; x += 8) "
        "out.push(d[4 * (y * c.width + x)]); return out;")
    assert np.array_equal(np.array(canvas) < 128, expected > INK)


def test_the_model_menu_offers_the_style_model_and_the_gans_and_draws_as_fontgen_model_does(page):
    from selenium.webdriver.support.ui import Select

    menu = Select(page.find_element("id", "letter-model"))
    names = [option.get_attribute("value") for option in menu.options]
    assert menu.first_selected_option.get_attribute("value") == "letters_style"  # fontgen's default
    assert FALLBACK_LETTER_MODEL in names
    try:
        menu.select_by_value(FALLBACK_LETTER_MODEL)
        page.find_element("id", "text").clear()
        page.find_element("id", "text").send_keys("K")
        page.find_element("id", "draw").click()
        gan = open_letter_model(FALLBACK_LETTER_MODEL)
        deadline = time.monotonic() + 10
        while True:  # renderLetter follows the chosen model once it is loaded, as --model does
            got = np.float32(call(page, "window.edgegen.renderLetter('K', 5).then((image) => Array.from(image))"))
            expected = gan.render("K", 5).reshape(-1)
            if got.shape == expected.shape and np.abs(got - expected).max() <= LETTER_TOLERANCE:
                break
            assert time.monotonic() < deadline, "the page did not switch to the GAN"
            time.sleep(0.1)
        assert np.array_equal(got > INK, expected > INK)
    finally:
        menu.select_by_value("letters_style")
        page.find_element("id", "draw").click()
        deadline = time.monotonic() + 10
        expected = open_letter_model().render("K", 5).reshape(-1)
        while np.abs(np.float32(call(page, "window.edgegen.renderLetter('K', 5).then((i) => Array.from(i))"))
                     - expected).max() > LETTER_TOLERANCE:
            assert time.monotonic() < deadline, "the page did not switch back to the style model"
            time.sleep(0.1)


def test_sample_bars_equals_drumgen_sample_for_the_same_seeds(page, tmp_path):
    """Hits equal, velocities and offsets within 1e-5, and "Download MIDI" is `drumgen sample --out`'s file."""
    generator = DrumGenerator()
    for style, bars, seed in DRUM_CASES:
        got = call(page, f"window.edgegen.sampleBars({style!r}, {bars}, {seed})"
                         ".then((hits) => ({hits, velocities: hits.velocities, offsets: hits.offsets}))")
        expected = generator.sample(style, bars, seed)
        assert np.asarray(got["hits"]).shape == (bars, 16, 9), (style, seed)
        assert np.array_equal(np.asarray(got["hits"], dtype=bool), expected.hits), (style, bars, seed)
        for name in ("velocities", "offsets"):
            values = np.float32(got[name])
            assert values.shape == (bars, 16, 9), (name, style, seed)
            assert np.abs(values - getattr(expected, name)).max() <= 1e-5, (name, style, bars, seed)
        bpm = float(page.find_element("id", "bpm").get_attribute("value"))
        generator.write_midi(expected, tmp_path / "cli.mid", bpm=bpm, swing=0.0)
        page_midi = bytes(page.execute_script("return window.edgegen.midiBytes()"))
        assert page_midi == (tmp_path / "cli.mid").read_bytes(), (style, bars, seed)
    later = call(page, "(async () => { const t = performance.now(); await window.edgegen.renderLetter('B', 1);"
                       " const a = performance.now(); await window.edgegen.sampleBars('latin', 1, 1);"
                       " return [a - t, performance.now() - a]; })()")
    assert all(ms < 200 for ms in later), later  # generous here; scripts/bench_web.py measures it properly


def test_play_schedules_the_groove_on_the_audio_clock_a_bar_ahead_and_stop_stops(page):
    hits_in_first_bar = int(np.asarray(call(page, "window.edgegen.sampleBars('rock', 2, 3)"))[0].sum())
    # the first bar's notes as midi_io.bar_events plays them: learned offsets and velocities
    groove = DrumGenerator().sample("rock", 2, 3)
    from edgegen.runtime import midi_io
    first_bar = midi_io.bar_events(groove.hits[0], groove.velocities[0], groove.offsets[0])
    before = page.execute_script("return {...window.edgegen.stats}")
    page.find_element("id", "bpm").clear()
    page.find_element("id", "bpm").send_keys("120")
    page.find_element("id", "play").click()
    deadline = time.monotonic() + 10
    while page.execute_script("return window.edgegen.stats.scheduledBars") == before["scheduledBars"]:
        assert time.monotonic() < deadline, "play scheduled nothing"
        time.sleep(0.05)
    clock = page.execute_script("return window.edgegen.audioClock()")
    stats = page.execute_script("return {...window.edgegen.stats}")
    assert page.execute_script("return window.edgegen.playing") is True
    assert stats["scheduledEvents"] - before["scheduledEvents"] >= hits_in_first_bar > 0
    # the first bar went to the synth as bar_events gives it: each note at its offset (swing 0), its velocity
    bar = next(b for b in stats["recentBars"] if b["index"] == 0)
    step = 60 / 120 / 4
    assert [(pitch, velocity) for _, pitch, velocity, _ in bar["events"]] == [(p, v) for _, p, v in first_bar]
    assert np.allclose([t for t, *_ in bar["events"]], [t for t, _, _ in first_bar], rtol=0, atol=1e-5)
    assert np.allclose([when - bar["start"] for *_, when in bar["events"]], [t * step for t, _, _ in first_bar],
                       rtol=0, atol=1e-6)
    assert any(t != round(t) for t, _, _ in first_bar) and len({v for _, _, v in first_bar}) > 1, \
        "the bar is on the grid at one velocity: this would not see offsets or velocities"
    # a bar ahead: the next bar is queued once the one before it starts, so at most two bars (2 s each at 120 BPM)
    # are ever ahead of the audio clock
    assert 0 < clock["nextBar"] - clock["now"] <= 2 * 2.0 + 0.05
    assert stats["scheduledBars"] - before["scheduledBars"] <= 2 + (clock["now"] // 2.0)
    assert clock["kitReady"] and clock["sampleRate"] == drum_synth.SAMPLE_RATE  # drumgen --wav's kit, at its rate
    # the piano roll's playhead (its column in #fbe3a4) moves along with the audio clock
    playhead = ("const c = document.getElementById('roll'); const d = c.getContext('2d').getImageData(0, 0, c.width,"
                " c.height).data; for (let i = 0; i < d.length; i += 4) if (d[i] === 0xfb && d[i + 1] === 0xe3 &&"
                " d[i + 2] === 0xa4) return (i / 4) % c.width; return null;")
    deadline = time.monotonic() + 5
    while (first := page.execute_script(playhead)) is None:  # the first bar starts 0.1 s after it is scheduled
        assert time.monotonic() < deadline, "no playhead on the piano roll"
        time.sleep(0.05)
    time.sleep(0.6)  # a little over two 16th steps at 120 BPM
    second = page.execute_script(playhead)
    assert first is not None and second is not None and second != first, (first, second)
    page.find_element("id", "stop").click()
    assert page.execute_script("return window.edgegen.playing") is False


@pytest.mark.parametrize("mode", ["evolve", "morph"])
def test_the_controls_evolve_and_morph_as_drumgen_sample_does(page, mode):
    from selenium.webdriver.support.ui import Select

    Select(page.find_element("id", "style")).select_by_value("hiphop")
    for field, value in (("bars", "6"), ("drum-seed", "21")):
        page.find_element("id", field).clear()
        page.find_element("id", field).send_keys(value)
    Select(page.find_element("id", "mode")).select_by_value(mode)
    if mode == "morph":  # its target appears with the mode
        Select(page.find_element("id", "style-to")).select_by_value("latin")
    page.find_element("id", "generate").click()
    wanted = {"mode": mode, "style": "hiphop", "bars": 6, "seed": 21, **({"styleTo": "latin"} if mode == "morph" else {})}
    deadline = time.monotonic() + 10
    while {k: page.execute_script("return window.edgegen.groove().settings")[k] for k in wanted} != wanted:
        assert time.monotonic() < deadline, page.find_element("id", "message").text
        time.sleep(0.05)
    groove = page.execute_script("return window.edgegen.groove()")
    generator = DrumGenerator()
    expected = (generator.evolve("hiphop", 6, 21, every=4) if mode == "evolve"
                else generator.morph("hiphop", "latin", 6, 21))
    assert np.array_equal(np.asarray(groove["hits"], dtype=bool), expected.hits)
    assert np.abs(np.float32(groove["velocities"]) - expected.velocities).max() <= 1e-5


def test_bad_input_shows_a_message_not_a_blank_page(page, tmp_path):
    result = call(page, "window.edgegen.sampleBars('polka', 1, 0)")
    assert result["error"].startswith("unknown style 'polka'; choose from ")
    message = page.find_element("id", "message")
    assert message.is_displayed() and message.text.startswith("Error: unknown style 'polka'")
    assert "error" in call(page, "window.edgegen.renderLetter('7', 0)")
    assert "cannot draw" in message.text
    assert "seed must be" in call(page, "window.edgegen.renderLetter('A', -3)")["error"]

    not_a_font = tmp_path / "broken.ttf"
    not_a_font.write_bytes(b"this is not a font file at all")
    drop_file(page, not_a_font, "message")
    assert message.text == "Error: cannot read broken.ttf: not a TrueType, OpenType or WOFF font"
    assert page.find_element("id", "letters-canvas").is_displayed()  # the page is still there


def test_a_real_font_file_is_read_and_its_letters_drawn(page):
    font = matplotlib_font("DejaVuSerif.ttf")
    if font is None:
        pytest.skip("matplotlib's DejaVuSerif.ttf is not installed")
    drop_file(page, font, "font-note")
    ink = page.execute_script("const c = document.getElementById('font-preview'); const d = c.getContext('2d')"
                              ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
                              " for (let i = 0; i < d.length; i += 4) n += d[i] < 128; return [c.width, n];")
    assert ink[0] == 13 * 28 and ink[1] > 13 * 20  # HAMBURGEFONTS, each letter with ink


def test_a_symbol_font_is_refused_with_the_line_fontgen_gives(page):
    """cmex10's character map claims A-Z but draws brackets and integrals: the letter classifier reads too few of
    them as their letters, so the page refuses the font as `fontgen --like` does, and draws nothing in it."""
    font = matplotlib_font("cmex10.ttf")
    if font is None:
        pytest.skip("matplotlib's cmex10.ttf is not installed")
    message = drop_file(page, font, "message")
    assert message.text.startswith("Error: font cmex10.ttf does not look like letters: the letter classifier reads "
                                   "only "), message.text
    assert message.text.endswith("as the letter they claim (a symbol font?)"), message.text
    assert (page.execute_script("return window.edgegen.fontStyle()") or {}).get("name") != "cmex10.ttf"


def test_a_dropped_font_is_read_as_fontgen_like_reads_it_and_the_letters_are_drawn_in_its_style(page):
    """The page draws the font's HAMBURGEFONTS with the browser's rasteriser and fits them as runtime/glyphs.py does
    (Pillow's Lanczos arithmetic), the encoder reads a style, and the letters are drawn in it: close to
    `fontgen word EDGE --like FONT` (the rasterisers differ: Skia's anti-aliasing is not FreeType's)."""
    from edgegen.runtime.letter_spec import DEFAULT_LIKE_LETTERS
    from edgegen.runtime.style_examples import font_examples

    font = matplotlib_font("DejaVuSans.ttf")
    if font is None:
        pytest.skip("matplotlib's DejaVuSans.ttf is not installed")
    page.find_element("id", "font-file").send_keys(str(font))
    deadline = time.monotonic() + 15
    while not (got := page.execute_script("return window.edgegen.fontStyle()")) or got["name"] != font.name:
        assert time.monotonic() < deadline, page.find_element("id", "message").text
        time.sleep(0.05)
    generator = open_letter_model()
    examples = font_examples(font, DEFAULT_LIKE_LETTERS, generator.size)
    assert got["drawn"] == "HAMBURGEFONTS" and got["letters"] == examples.letters.tolist()
    glyphs = np.float32(got["glyphs"]).reshape(examples.glyphs.shape)
    glyph_gap = np.abs(glyphs - examples.glyphs).mean()
    style = generator.like(examples.glyphs, examples.letters)  # what `fontgen --like` draws in
    style_gap = np.linalg.norm(np.float32(got["style"]) - style) / np.linalg.norm(style - generator.prior_mean)
    words = np.float32(call(page, "window.edgegen.renderLike('EDGE').then((w) => w.map((i) => Array.from(i)))"))
    expected = generator.word("EDGE", style=style).reshape(4, -1)
    word_gap = np.abs(words - expected).mean()
    ink_agreement = ((words > INK) == (expected > INK)).mean()
    print(f"font {font.name}: glyph mean |diff| {glyph_gap:.4f}, style gap {style_gap:.3f}, "
          f"EDGE mean |diff| {word_gap:.4f}, ink agreement {ink_agreement:.4f}")
    # the styles themselves are not compared: the search that fits them to the examples starts from examples
    # 0.03 apart (the browser's rasteriser) and can end on different styles that draw alike (style gap 0.54
    # of the style's distance from the prior mean for DejaVu Sans, where the encoder alone differed by 0.20)
    assert glyph_gap < 0.05 and word_gap < 0.03 and ink_agreement > 0.97, (glyph_gap, word_gap, ink_agreement)
    assert page.execute_script("return document.getElementById('font-style').checked") is True
    seeded = np.float32(call(page, "window.edgegen.renderLetter('E', 3).then((i) => Array.from(i))"))
    assert np.abs(seeded - generator.render("E", 3).reshape(-1)).max() <= LETTER_TOLERANCE  # seeds unaffected


def test_an_unknown_style_in_the_address_shows_a_message_and_the_page_still_works(browser, page_url):
    load(browser, page_url + "?style=polka&text=Hi&seed=4")
    assert call(browser, "window.edgegen.ready.then(() => 1)") == 1
    assert browser.find_element("id", "message").text.startswith("Error: unknown style 'polka'")
    assert browser.find_element("id", "letters-canvas").get_attribute("width") == str((2 * 28 + 2) * 8)


def test_no_console_errors(browser):
    errors = console_errors(browser)
    assert errors == [], errors
