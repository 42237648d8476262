"""Generation controls against a small numpy model that follows the DrumModel protocol."""
from __future__ import annotations

import numpy as np
import pytest

from edgegen.runtime import drum_controls as C
from edgegen.runtime.drum_spec import INSTRUMENTS, STEPS, STYLES

CELLS = STEPS * len(INSTRUMENTS)


class LinearDrumModel:
    """logits = [z_high, z_low] @ W + b; encode is the least-squares inverse of that map (on +-1 targets) from the
    hits; velocities and offsets are other linear maps of the latents, squashed to their ranges. Each style has its
    own hit thresholds (small random logits) and velocity gain, as a calibrated model does."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.styles = list(STYLES)
        self.style_prior_mu = rng.normal(0, 2, (len(STYLES), 4)).astype(np.float32)
        self.style_prior_logvar = np.full((len(STYLES), 4), -1.0, np.float32)
        self.hit_thresholds = rng.normal(0, 0.5, (len(STYLES), len(INSTRUMENTS))).astype(np.float32)
        self.velocity_gain = np.linspace(1.0, 2.0, len(STYLES)).astype(np.float32)
        self.weight = rng.normal(0, 1, (16, CELLS)).astype(np.float32)
        self.groove_weight = rng.normal(0, 0.5, (16, 2 * CELLS)).astype(np.float32)
        self.bias = np.full(CELLS, -2.0, np.float32)
        self.low_map = rng.normal(0, 0.5, (4, 12)).astype(np.float32)

    def encode(self, x):
        x = np.asarray(x)
        assert x.shape[1:] == (STEPS, 3 * len(INSTRUMENTS)), x.shape  # hits, velocities, offsets
        target = 4.0 * (x[..., :len(INSTRUMENTS)].reshape(len(x), -1) - 0.5) - self.bias
        z = np.linalg.lstsq(self.weight.T, target.T, rcond=None)[0].T.astype(np.float32)
        small = np.full((len(x), 4), -2.0, np.float32)
        return z[:, :4], small, z[:, 4:], np.full((len(x), 12), -2.0, np.float32)

    def prior_low(self, z_high):
        return (z_high @ self.low_map).astype(np.float32), np.zeros((len(z_high), 12), np.float32)

    def decode(self, z_high, z_low):
        z = np.concatenate([z_high, z_low], axis=1)
        logits = (z @ self.weight + self.bias).reshape(-1, STEPS, len(INSTRUMENTS)).astype(np.float32)
        groove = (z @ self.groove_weight).reshape(-1, STEPS, 2 * len(INSTRUMENTS))
        velocities = 1 / (1 + np.exp(-groove[..., :len(INSTRUMENTS)]))
        offsets = 0.5 * np.tanh(groove[..., len(INSTRUMENTS):])
        return logits, velocities.astype(np.float32), offsets.astype(np.float32)


@pytest.fixture
def model():
    return LinearDrumModel()


def test_sample_style_shapes_and_determinism(model):
    a = C.sample_style(model, "jazz", 6, np.random.default_rng(1))
    b = C.sample_style(model, "jazz", 6, np.random.default_rng(1))
    assert a.hits.shape == a.velocities.shape == a.offsets.shape == (6, STEPS, len(INSTRUMENTS))
    assert a.hits.dtype == bool and a.hits.any()
    assert a.equals(b)
    # velocities and offsets live where the hits are, within their ranges
    assert (a.velocities[a.hits] > 0).all() and (a.velocities[~a.hits] == 0).all() and a.velocities.max() <= 1
    assert (a.offsets[~a.hits] == 0).all() and np.abs(a.offsets).max() <= 0.5
    assert np.unique(a.velocities[a.hits]).size > 10  # learned dynamics, not one velocity


def test_sample_latents_temperatures_scale_the_spread(model):
    rng = np.random.default_rng(0)
    cold_h, cold_l = C.sample_latents(model, "rock", 2000, rng, temperature_high=0.1, temperature_low=0.1)
    warm_h, warm_l = C.sample_latents(model, "rock", 2000, rng, temperature_high=1.0, temperature_low=1.0)
    assert cold_h.std(0).mean() < 0.2 * warm_h.std(0).mean()
    mu = model.style_prior_mu[STYLES.index("rock")]
    assert np.allclose(cold_h.mean(0), mu, atol=0.05)
    # z_low spread around its conditional prior mean shrinks with temperature_low alone
    prior_cold = model.prior_low(cold_h)[0]
    prior_warm = model.prior_low(warm_h)[0]
    assert (cold_l - prior_cold).std() < 0.2 * (warm_l - prior_warm).std()


def test_unknown_style_is_one_clear_error(model):
    with pytest.raises(C.UnknownStyleError, match="unknown style 'polka'.*rock"):
        C.sample_style(model, "polka", 1, np.random.default_rng(0))
    with pytest.raises(C.UnknownStyleError):
        C.transfer(model, np.zeros((1, STEPS, 9), bool), "polka")


def test_transfer_keeps_z_low_and_moves_z_high_to_the_target_prior(model):
    grids = np.random.default_rng(3).random((5, STEPS, len(INSTRUMENTS))) < 0.2
    _, _, mu_low, _ = model.encode(C.Groove.from_hits(grids).hvo())
    target = model.style_prior_mu[STYLES.index("latin")]
    for mode in ("fit", "replace", "shift"):
        z_high, z_low = C.transfer_latents(model, grids, "latin", mode=mode)
        assert np.array_equal(z_low, mu_low), mode
        out = C.transfer(model, grids, "latin", mode=mode).hits
        decoded = C.decode_grid(model, z_high, z_low, style_weights=C.one_hot(model, "latin", len(grids)))
        if mode == "fit":  # the decoded bar, plus the source's kick and snare where it had to put them back
            added = out & ~decoded
            assert not added[..., 2:].any() and (out >= decoded).all()
            assert (grids[..., :2] >= added[..., :2]).all()
        else:
            assert np.array_equal(out, decoded), mode
    z_high, _ = C.transfer_latents(model, grids, "latin", mode="replace")
    assert np.allclose(z_high, target)
    # fit: a draw from the target prior, never further from the prior mean than the candidates reach
    z_high, _ = C.transfer_latents(model, grids, "latin", mode="fit")
    std = np.exp(0.5 * model.style_prior_logvar[STYLES.index("latin")])
    assert (np.abs(z_high - target) < 6 * C.TRANSFER_SPREAD * std).all()
    # strength 0 is the plain reconstruction from the posterior means
    src_high, src_low = C.encode_mean(model, grids)
    assert C.transfer(model, grids, "latin", strength=0.0, mode="replace").equals(
        C.decode(model, src_high, src_low, style_weights=C.one_hot(model, "latin", len(grids))))


@pytest.mark.parametrize("keep", [0.5, 0.75, 1.0])
def test_fit_transfer_keeps_the_share_of_kick_and_snare_it_promises_in_every_bar(model, keep):
    grids = np.random.default_rng(4).random((40, STEPS, len(INSTRUMENTS))) < 0.2
    for style in ("jazz", "latin"):
        for complexity in (-1.0, 0.0):
            out = C.transfer(model, grids, style, keep=keep, complexity=complexity).hits
            assert (C.kick_snare_kept(grids, out) >= keep).all(), (style, complexity)


def test_kick_snare_kept_counts_onsets_per_bar():
    source = np.zeros((3, STEPS, len(INSTRUMENTS)), bool)
    source[0, [0, 4, 8, 12], 0] = True  # four kicks
    source[1, [4, 12], 1] = True  # two snares
    output = source.copy()
    output[0, 12, 0] = False
    output[1, :, 1] = False
    output[2, :, 2] = True  # no kick or snare in the source: nothing to lose
    assert np.allclose(C.kick_snare_kept(source, output), [0.75, 0.0, 1.0])


def test_unconstrained_fit_transfer_reads_at_least_as_much_like_the_target_as_the_prior_mean(model):
    """keep=0: the prior mean is one of the candidates, so the winner reads at least as much like the target."""
    grids = np.random.default_rng(6).random((40, STEPS, len(INSTRUMENTS))) < 0.2
    target = STYLES.index("latin")

    def recognised(bars):
        return C.style_log_posterior(model, model.encode(bars.hvo())[0])[:, target]

    fit = recognised(C.transfer(model, grids, "latin", keep=0.0))
    replace = recognised(C.transfer(model, grids, "latin", mode="replace"))
    assert (fit >= replace - 1e-5).all() and fit.mean() > replace.mean()


def test_complexity_knob_is_strictly_monotone(model):
    density = C.hits_per_bar_by_complexity(model, "hiphop", 200)
    assert len(density) == 5
    assert all(b > a for a, b in zip(density, density[1:])), density


def test_complexity_only_adds_hits(model):
    z_high, z_low = C.sample_latents(model, "rock", 50, np.random.default_rng(0))
    low = C.decode_grid(model, z_high, z_low, complexity=-0.5)
    high = C.decode_grid(model, z_high, z_low, complexity=0.5)
    assert not (low & ~high).any()


def test_each_style_decodes_with_its_own_thresholds(model):
    z_high, z_low = C.sample_latents(model, "rock", 50, np.random.default_rng(0))
    logits = model.decode(z_high, z_low)[0]
    for style in ("rock", "jazz"):
        hits = C.decode_grid(model, z_high, z_low, style_weights=C.one_hot(model, style, 50))
        assert np.array_equal(hits, logits > model.hit_thresholds[STYLES.index(style)])
    # a blend's thresholds are the weighted mean of its styles'
    weights = np.zeros((50, len(STYLES)))
    weights[:, [0, 1]] = 0.5
    mixed = (model.hit_thresholds[0] + model.hit_thresholds[1]) / 2
    assert np.array_equal(C.decode_grid(model, z_high, z_low, style_weights=weights), logits > mixed)
    # raising one instrument's threshold removes only that instrument's hits
    before = C.decode_grid(model, z_high, z_low, style_weights=C.one_hot(model, "rock", 50))
    model.hit_thresholds[0, 2] += 100.0
    after = C.decode_grid(model, z_high, z_low, style_weights=C.one_hot(model, "rock", 50))
    assert not after[..., 2].any() and before[..., 2].any()
    assert np.array_equal(np.delete(after, 2, axis=2), np.delete(before, 2, axis=2))


def test_velocity_gain_spreads_a_bar_around_its_mean_and_keeps_its_accents():
    hits = np.zeros((1, STEPS, len(INSTRUMENTS)), bool)
    hits[0, ::2, 2] = True  # eight hat strokes
    velocities = np.zeros(hits.shape, np.float32)
    velocities[0, ::2, 2] = [0.6, 0.4, 0.5, 0.45, 0.6, 0.4, 0.55, 0.5]
    same = C.spread_velocities(hits, velocities, np.array([1.0]))
    assert np.allclose(same[hits], velocities[hits])
    wide = C.spread_velocities(hits, velocities, np.array([2.0]))
    mean = velocities[hits].mean()
    assert np.allclose(wide[hits] - mean, 2 * (velocities[hits] - mean), atol=1e-6)
    assert np.array_equal(np.argsort(wide[hits], kind="stable"), np.argsort(velocities[hits], kind="stable"))
    clipped = C.spread_velocities(hits, velocities, np.array([50.0]))
    assert clipped[hits].min() == pytest.approx(C.MIN_VELOCITY) and clipped[hits].max() == 1.0


def test_sampling_draws_latents_only_in_the_documented_order(model):
    """A web page replays these draws: z_high noise [n, 4] then z_low noise [n, 12], two words per normal."""
    from edgegen.runtime import portable_random

    rng = portable_random.rng(9)
    bars = C.sample_style(model, "jazz", 3, rng)
    assert rng.position == 2 * (3 * 4 + 3 * 12)
    replay = portable_random.rng(9)
    s = STYLES.index("jazz")
    z_high = (model.style_prior_mu[s] + C.DEFAULT_TEMPERATURE_HIGH * np.exp(0.5 * model.style_prior_logvar[s])
              * replay.standard_normal((3, 4))).astype(np.float32)
    mu, logvar = model.prior_low(z_high)
    z_low = (mu + C.DEFAULT_TEMPERATURE_LOW * np.exp(0.5 * logvar) * replay.standard_normal((3, 12))).astype(np.float32)
    assert bars.equals(C.decode(model, z_high, z_low, style_weights=C.one_hot(model, "jazz", 3)))


def test_groove_indexing_quantize_and_hvo():
    rng = np.random.default_rng(1)
    hits = rng.random((4, STEPS, len(INSTRUMENTS))) < 0.3
    groove = C.Groove(hits, rng.random(hits.shape), rng.random(hits.shape) - 0.5)
    assert (groove.velocities[~hits] == 0).all() and (groove.offsets[~hits] == 0).all()
    assert len(groove) == 4 and len(groove[1]) == 1 and groove[1].equals(groove[1:2]) and groove[-1].equals(groove[3:])
    assert groove[np.array([3, 0])].equals(C.Groove.concat([groove[3], groove[0]]))
    flat = groove.quantized()
    assert np.array_equal(flat.velocities, groove.velocities) and not flat.offsets.any()
    hvo = groove.hvo()
    assert hvo.shape == (4, STEPS, 27) and np.array_equal(hvo[..., :9], hits)
    assert np.array_equal(hvo[..., 9:18], groove.velocities) and np.array_equal(hvo[..., 18:], groove.offsets)


def test_decode_refuses_a_zero_temperature(model):
    z_high, z_low = C.sample_latents(model, "rock", 4, np.random.default_rng(0))
    with pytest.raises(ValueError):
        C.decode_grid(model, z_high, z_low, temperature=0.0)


def test_interpolation_endpoints_and_levels(model):
    rng = np.random.default_rng(5)
    a, b = rng.random((2, STEPS, len(INSTRUMENTS))) < 0.2
    (ha, la), (hb, lb) = C.encode_mean(model, a), C.encode_mean(model, b)
    both = C.interpolate(model, a, b, 6, "both").hits
    assert both.shape == (6, STEPS, len(INSTRUMENTS))
    assert np.array_equal(both[0], C.decode_grid(model, ha, la)[0])
    assert np.array_equal(both[-1], C.decode_grid(model, hb, lb)[0])
    assert np.array_equal(C.interpolate(model, a, b, 4, "high").hits[-1], C.decode_grid(model, hb, la)[0])
    assert np.array_equal(C.interpolate(model, a, b, 4, "low").hits[-1], C.decode_grid(model, ha, lb)[0])
    with pytest.raises(ValueError):
        C.interpolate(model, a, b, 4, "middle")


def test_blend_of_one_style_is_that_style(model):
    a = C.blend(model, {"jazz": 1.0}, 8, np.random.default_rng(2))
    b = C.sample_style(model, "jazz", 8, np.random.default_rng(2))
    assert np.array_equal(a.hits, b.hits) and np.allclose(a.velocities, b.velocities, atol=1e-6)
    with pytest.raises(ValueError):
        C.blend(model, {"jazz": 0.0}, 1, np.random.default_rng(0))


def test_evolve_and_morph(model):
    z_high = model.style_prior_mu[0]
    bars = C.evolve(model, z_high, 4, np.random.default_rng(0))
    assert bars.shape == (4, STEPS, len(INSTRUMENTS))
    morph = C.morph(model, "rock", "jazz", 5, np.random.default_rng(0))
    assert morph.shape == (5, STEPS, len(INSTRUMENTS))
    # the glide ends on the target style's thresholds and velocity gain
    z_end = model.style_prior_mu[STYLES.index("jazz")][None]
    thresholds, gain = C.style_calibration(model, z_end, np.eye(len(STYLES))[[STYLES.index("jazz")]])
    assert np.allclose(thresholds[0], model.hit_thresholds[STYLES.index("jazz")]) and gain[0] == pytest.approx(
        model.velocity_gain[STYLES.index("jazz")])
    with pytest.raises(C.UnknownStyleError):
        C.morph(model, "rock", "waltz", 3, np.random.default_rng(0))


def test_infer_style_picks_the_nearest_prior(model):
    assert C.infer_style(model, model.style_prior_mu).tolist() == list(range(len(STYLES)))


# ----------------------------------------------------------------------------- long inputs


class CheapDrumModel(LinearDrumModel):
    """LinearDrumModel with a fixed linear encoder (no least squares), so long inputs are cheap."""

    def encode(self, x):
        hits = np.asarray(x, np.float32)[..., :len(INSTRUMENTS)]
        z = (hits.reshape(len(x), -1) @ self.weight.T[:, :16] * 0.01).astype(np.float32)
        return z[:, :4], z[:, :4], z[:, 4:], z[:, 4:]


def test_fit_transfer_does_not_depend_on_how_bars_are_batched(monkeypatch):
    model = CheapDrumModel()
    grids = np.random.default_rng(5).random((37, STEPS, len(INSTRUMENTS))) < 0.2
    results = []
    for batch in (1, 5, 16, 1000):
        monkeypatch.setattr(C, "TRANSFER_BATCH_BARS", batch)
        z_high, z_low = C.transfer_latents(model, grids, "jazz", rng=np.random.default_rng(2))
        out = C.transfer(model, grids, "jazz", rng=np.random.default_rng(2))
        results.append((z_high, z_low, out.hits, out.velocities, out.offsets))
    for other in results[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(results[0][:3], other[:3]))
        # velocities and offsets: the same up to float32 rounding of a matrix product of another batch shape
        assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(results[0][3:], other[3:]))


def test_fit_transfer_memory_is_flat_in_the_number_of_bars():
    """128 candidates per bar were decoded in one batch: 2,048 bars held ~0.5 GB of numpy arrays."""
    import tracemalloc

    model = CheapDrumModel()
    peaks = []
    for bars in (64, 2048):
        grids = np.random.default_rng(0).random((bars, STEPS, len(INSTRUMENTS))) < 0.2
        tracemalloc.start()
        try:
            C.transfer(model, grids, "rock", rng=np.random.default_rng(0))
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        finally:
            tracemalloc.stop()
    # the input, its HVO, latents and output grow (~4.5 KB a bar with float32 velocities and offsets: ~9 MB at
    # 2,048 bars); the decoding does not (128 candidates a bar at once would be ~0.5 GB)
    assert peaks[1] < peaks[0] + 16, peaks


# ----------------------------------------------------------------------------- numbers that are not numbers

NON_FINITE = [float("nan"), float("inf"), -float("inf"), np.float32("nan")]


@pytest.mark.parametrize("bad", NON_FINITE)
def test_every_control_refuses_a_non_finite_number_with_one_line(model, bad):
    """NaN passes `<= 0` checks and would decode into empty bars (exit 0, a MIDI file of no notes)."""
    rng = np.random.default_rng(0)
    grids = np.zeros((2, STEPS, len(INSTRUMENTS)), bool)
    z_high, z_low = C.sample_latents(model, "rock", 2, rng)
    calls = {
        "temperature": lambda: C.decode_grid(model, z_high, z_low, temperature=bad),
        "complexity": lambda: C.sample_style(model, "rock", 2, rng, complexity=bad),
        "temperature_high": lambda: C.sample_style(model, "rock", 2, rng, temperature_high=bad),
        "temperature_low": lambda: C.evolve(model, z_high[0], 2, rng, temperature_low=bad),
        "strength": lambda: C.transfer(model, grids, "jazz", strength=bad, mode="shift"),
        "keep": lambda: C.transfer(model, grids, "jazz", keep=bad),
        "blend weight of 'jazz'": lambda: C.blend(model, {"jazz": bad, "latin": 1.0}, 2, rng),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == f"{name} must be a finite number, got {float(bad)}", name


def test_out_of_range_settings_are_refused(model):
    rng = np.random.default_rng(0)
    grids = np.zeros((1, STEPS, len(INSTRUMENTS)), bool)
    with pytest.raises(ValueError, match=r"^strength must be between 0 and 1, got 1\.5$"):
        C.transfer(model, grids, "jazz", strength=1.5, mode="replace")
    with pytest.raises(ValueError, match=r"^keep must be between 0 and 1, got -0\.1$"):
        C.transfer_latents(model, grids, "jazz", keep=-0.1)
    with pytest.raises(ValueError, match=r"^blend weight of 'latin' must be at least 0, got -1$"):
        C.blend(model, {"jazz": 1.0, "latin": -1.0}, 1, rng)
    with pytest.raises(ValueError, match="must not all be zero"):
        C.blend(model, {"jazz": 0.0, "latin": 0.0}, 1, rng)
    with pytest.raises(ValueError, match=r"^temperature must be between 0\.001 and 100, got 0$"):
        C.decode_grid(model, *C.sample_latents(model, "jazz", 1, rng), temperature=0.0)
    with pytest.raises(ValueError, match=r"^temperature_high must be between 0 and 100, got 1e\+300$"):
        C.sample_style(model, "jazz", 1, rng, temperature_high=1e300)  # overflowed float32 into empty bars
    with pytest.raises(ValueError, match=r"^complexity must be between -100 and 100, got 1e\+38$"):
        C.sample_style(model, "jazz", 1, rng, complexity=1e38)


def test_huge_blend_weights_are_a_ratio_not_an_overflow(model):
    """1e308 + 1e308 is infinity: weights are scaled by their largest before they are summed."""
    a = C.blend(model, {"jazz": 1e308, "latin": 1e308}, 4, np.random.default_rng(1))
    b = C.blend(model, {"jazz": 1.0, "latin": 1.0}, 4, np.random.default_rng(1))
    assert np.array_equal(a.hits, b.hits)
