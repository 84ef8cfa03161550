"""Closed-loop campaigns: sample candidates for targets, simulate them, learn from them, repeat (docs/campaign.md).

    >>> from matgen import Campaign
    >>> report = Campaign("campaign.toml", "campaigns/stiff").run()
    >>> Campaign.resume("campaigns/stiff")          # after a crash or kill -9: nothing lost, nothing twice

Files: :mod:`~matgen.campaign.config` (the options, TOML), :mod:`~matgen.campaign.targets`
(targets and the hit / error maths), :mod:`~matgen.campaign.checks` (everything checked before
any work), :mod:`~matgen.campaign.requests` (what the model is asked for, steering),
:mod:`~matgen.campaign.loop` (the campaign), :mod:`~matgen.campaign.state` (its directory and
status), :mod:`~matgen.campaign.baselines`, :mod:`~matgen.campaign.report` (summaries,
report.json, the table), :mod:`~matgen.campaign.plots`.
"""

from matgen.campaign.config import CampaignConfig, read_config
from matgen.campaign.loop import Campaign
from matgen.campaign.state import CampaignStatus, status
from matgen.campaign.report import CampaignReport, Summary, table
from matgen.campaign.targets import Target, parse_target, parse_targets

__all__ = ["Campaign", "CampaignConfig", "CampaignReport", "CampaignStatus", "Summary", "Target", "parse_target",
           "parse_targets", "read_config", "status", "table"]
