"""Which pacer runs a campaign: the one place that maps a mode to a pacer."""

from __future__ import annotations

from dialer.campaign import CampaignSettings, DialMode
from pacing.fixed import PowerPacer, PreviewPacer, ProgressivePacer
from pacing.snapshot import Pacer

__all__ = ["make_pacer"]


def make_pacer(settings: CampaignSettings) -> Pacer:
    mode = settings.mode
    if mode is DialMode.PREVIEW:
        return PreviewPacer()
    if mode is DialMode.PROGRESSIVE:
        return ProgressivePacer()
    if mode is DialMode.POWER:
        return PowerPacer(settings.dial_ratio)
    if mode is DialMode.ADAPTIVE:
        from pacing.adaptive import AdaptivePacer

        opts = settings.pacer_options
        variant = str(opts.get("adaptive_variant", "hard"))
        if variant not in ("hard", "taper"):
            raise ValueError(f"adaptive_variant must be 'hard' or 'taper', not {variant!r}")
        # VICIdial starts a campaign at dial level 1.0 whatever its settings.
        return AdaptivePacer(
            initial_level=1.0,
            intensity=float(opts.get("adaptive_intensity", 1.0)),
            max_level=float(opts.get("adaptive_max_level", 3.0)),
            target=float(opts.get("adaptive_target", 0.0)),
            variant="taper" if variant == "taper" else "hard",
        )
    from pacing.predictive import PredictivePacer

    return PredictivePacer(target_agent_wait_s=settings.target_agent_wait_s)
