"""Closed-loop campaigns: sample candidates for targets, simulate them, learn from them, repeat (docs/campaign.md).

    >>> from matgen import Campaign
    >>> report = Campaign("campaign.toml", "campaigns/stiff").run()
    >>> Campaign.resume("campaigns/stiff")          # after a crash or kill -9: nothing lost, nothing twice

Files: :mod:`~matgen.campaign.config` (the options, TOML; targets parsed once, here),
:mod:`~matgen.campaign.targets` (targets and the hit / error maths, :func:`score_candidates`),
:mod:`~matgen.campaign.checks` (everything checked before any work), :mod:`~matgen.campaign.requests`
(what the model is asked for, steering), :mod:`~matgen.campaign.layout` (every file name, and
``once``: the resume mechanism), :mod:`~matgen.campaign.steps` (the work of each step),
:mod:`~matgen.campaign.loop` (:class:`Campaign`: the round loop), :mod:`~matgen.campaign.state`
(state.json, log, status), :mod:`~matgen.campaign.baselines`, :mod:`~matgen.campaign.report`
(summaries, report.json, the table), :mod:`~matgen.campaign.plots`.
"""

from matgen.campaign.config import CampaignConfig, read_campaign_config
from matgen.campaign.layout import Layout
from matgen.campaign.loop import Campaign
from matgen.campaign.report import CampaignReport, Summary, table
from matgen.campaign.state import CampaignStatus, status
from matgen.campaign.targets import Scores, Target, parse_target, parse_targets, score_candidates

__all__ = ["Campaign", "CampaignConfig", "CampaignReport", "CampaignStatus", "Layout", "Scores", "Summary", "Target",
           "parse_target", "parse_targets", "read_campaign_config", "score_candidates", "status", "table"]
