"""Campaign configs: typed, JSON-Schema'd, exported with their provenance.

Today: the abandoned-cart section that the timing analysis exports.  Its
``policy`` entries use the same fields as the simulator's
``campaigns.abandoned_cart.policy`` (channel, delay_hours, discount_pct), so a
recommendation can be replayed in the simulator.
"""

from .abandoned_cart import (
    AbandonedCartSection,
    Provenance,
    TypePolicy,
    json_schema,
    load_abandoned_cart,
    save_abandoned_cart,
    section_from_study,
)

__all__ = ["AbandonedCartSection", "Provenance", "TypePolicy", "json_schema",
           "load_abandoned_cart", "save_abandoned_cart", "section_from_study"]
