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

        return AdaptivePacer(initial_level=1.0)
    from pacing.predictive import PredictivePacer

    return PredictivePacer(target_agent_wait_s=settings.target_agent_wait_s)
