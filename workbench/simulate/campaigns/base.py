"""What a campaign is to the simulator: the hooks the day loop and messaging call.

A campaign reads its own config model (``config.campaigns.<name>``, defined in
:mod:`workbench.simulate.config`), decides when to message whom (its triggers),
and answers the per-message questions that differ between campaigns: how
persuasive a message is at baseline, which products it shows, and for how long
an organic order still counts as one the customer "would have placed anyway".
Everything else — delivery, opens, clicks, caps, holdouts, conversions — is the
same for every campaign and lives in :mod:`workbench.simulate.messaging`.

Campaigns receive the running :class:`~workbench.simulate.loop.DayLoop` as
``loop`` (its ``world``, ``messaging``, ``trigger`` and experiment registry).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..common import CAMPAIGN_CODE

# An organic order within this many days after a message counts as one the customer
# would have placed anyway (seasonal events set their own window_days).
CONVERSION_WINDOW_DAYS = 7.0


class Campaign:
    """One automated campaign; subclasses override the hooks that differ."""

    #: the campaign's name in :data:`workbench.vocab.CAMPAIGNS` and in the config
    name: ClassVar[str]
    #: messages are about an abandoned cart (``ref`` is the cart): messaging settles
    #: them against the cart's own natural return instead of the conversion window
    about_carts: ClassVar[bool] = False
    #: messages are triggered by the customer's own behaviour (a flow), not one-off sends
    #: to the whole list: see ``Engagement.one_off_engagement``
    triggered: ClassVar[bool] = True

    def __init__(self, loop):
        self.loop = loop
        self.world = loop.world
        self.code = CAMPAIGN_CODE[self.name]
        self.config = getattr(loop.cfg.campaigns, self.name)

    #: attributes derived from the config, recomputed after :meth:`reconfigure`
    derived: ClassVar[tuple[str, ...]] = ()

    def reconfigure(self, config) -> None:
        """Run under ``config`` from now on (a later period's settings of this campaign)."""
        self.config = config
        for attr in self.derived:
            setattr(self, attr, None)

    @property
    def enabled(self) -> bool:
        """Whether the campaign sends at all."""
        return self.config.enabled

    @property
    def holdout_share(self) -> float:
        """Share of customers never sent this campaign's messages."""
        return self.config.holdout_share

    # ------------------------------------------------------------------ triggers
    def start(self) -> None:
        """Before the first day: schedule what does not depend on behaviour."""

    def on_day(self, day: int) -> None:
        """Trigger messages from the world's events of ``day`` (carts, browses)."""

    def on_orders(self, cust, t, key, basket, order_ref) -> None:
        """Trigger messages that follow orders (placed at ``t``, keyed by ``key``)."""

    def expand(self, item: dict) -> list[dict]:
        """Turn an item this campaign scheduled itself into per-customer triggers."""
        raise NotImplementedError(f"{self.name} schedules nothing")

    # ------------------------------------------------------------------ messages
    def still_relevant(self, ref: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether messages triggered by ``ref`` still make sense at send time ``t``."""
        return np.ones(t.size, bool)

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """Baseline persuasion logit of the campaign's messages ``rows`` of batch ``m``.

        Channel, discount and responsiveness terms are added by messaging.
        """
        return np.full(rows.size, self.loop.cfg.response.campaign_base_logit[self.name])

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """How many products each message ``rows`` shows."""
        return np.ones(rows.size, dtype=np.int64)

    def basket_shown(self, ref: np.ndarray) -> np.ndarray | None:
        """Baskets whose items the messages show (``None``: recommendations)."""
        return None

    def focus_category(self, ref: np.ndarray) -> np.ndarray | None:
        """Category recommendations come from (``None``: the customer's affinity)."""
        return None

    def focus_product(self, ref: np.ndarray) -> np.ndarray | None:
        """Product recommendations show (``None``: a product of the category)."""
        return None

    def recommender(self):
        """The :class:`~workbench.simulate.config.ProductPicks` choosing what messages show.

        ``None``: the campaign's products are not recommendations (a cart, the
        viewed category, the product to replenish, a seasonal pick), and the
        customer's response does not depend on them.
        """
        return None

    def followed_up(self, ref: np.ndarray) -> np.ndarray | None:
        """The basket each message follows up (its complements appeal; ``None``: none)."""
        return None

    def sequence_step(self, ref: np.ndarray) -> np.ndarray:
        """Which message of a sequence each one is: its recommendations start at ``step k``."""
        return np.zeros(ref.size, dtype=np.int64)

    def days_after(self, ref: np.ndarray) -> np.ndarray:
        """Days between what a message follows up and the message (complements fade)."""
        return np.zeros(ref.size)

    def conversion_window(self, ref: np.ndarray) -> np.ndarray:
        """Days after a send in which an organic order counts as "would have bought"."""
        return np.full(ref.size, CONVERSION_WINDOW_DAYS)
