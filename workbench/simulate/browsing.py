"""Research sessions: the browsing a planned purchase brings, and revisits of a category.

Half of repeat purchases (``traffic.research_share``) are researched first: one or more
browse sessions of the purchase's category in the days before it (exponential lead of
mean ``research_lead_days``), with more product views than casual browsing and more
arrivals from search.  They are drawn from a random stream of their own and come on
top of the casual browsing, so every draw the simulator made before them is unchanged
and occasions stay exactly BG/NBD.  Research sessions never fill a cart: they are the
looking that browse-abandonment reminders follow.

A browse session without a cart spends ``exp(s z - s^2 / 2)`` times 45 seconds on each
product it views (``s``: ``traffic.dwell_log_sd``), and a research session
``traffic.research_dwell_multiplier`` times that: a planned purchase is read, a casual
browse skimmed — an assumption of the simulator, which makes time on product pages an
intent signal as it is in stores' analytics.  Drawn from a stream of its own.
"""

from __future__ import annotations

import numpy as np

from .common import EVENT_GAP

REVISIT_DAYS = 14.0  # a browse session's revisits: same customer and category, this far back


def research_sessions(tr, occ_c, occ_t, occ_origin, occ_cat, signup_t, src_names, src_p,
                      src_code, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``cust, t, cat, views, src`` of the research sessions before repeat occasions."""
    rep = np.flatnonzero(occ_origin == 1)
    pick = rep[rng.random(rep.size) < tr.research_share]
    r_occ = np.repeat(pick, 1 + rng.poisson(tr.research_extra_sessions, pick.size))
    t = occ_t[r_occ] - rng.exponential(tr.research_lead_days, r_occ.size)
    keep = t >= signup_t[occ_c[r_occ]]
    r_occ, t = r_occ[keep], t[keep]
    n = r_occ.size
    views = 1 + rng.poisson(tr.research_view_multiplier * tr.mean_extra_views, n)
    src_p = np.asarray(src_p, float)
    src = src_code[rng.choice(len(src_names), n, p=src_p / src_p.sum())]
    search = np.array(["search" in s for s in src_names])
    if search.any() and n:  # from search more often (organic or paid, in the mix's proportion)
        sp = np.where(search, src_p, 0.0)
        to = rng.random(n) < tr.research_search_share
        src[to] = src_code[rng.choice(len(src_names), int(to.sum()), p=sp / sp.sum())]
    return {"cust": occ_c[r_occ], "t": t, "cat": occ_cat[r_occ], "views": views, "src": src}


def revisits(c, t, cat, qc, qt, qcat, n_cat: int, horizon: float) -> np.ndarray:
    """Per query session, the sessions of its customer and category in the days before.

    Sessions ``(c, t, cat)`` in the :data:`REVISIT_DAYS` before each query session
    ``(qc, qt, qcat)``, the query itself excluded.
    """
    span = horizon + REVISIT_DAYS + 1.0
    key = (c.astype(np.float64) * n_cat + cat) * span + t
    key.sort()
    q = (qc.astype(np.float64) * n_cat + qcat) * span + qt
    return (np.searchsorted(key, q, side="left")
            - np.searchsorted(key, q - REVISIT_DAYS, side="left")).astype(np.int64)


def session_dwell(tr, research: np.ndarray, cart: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Each browse session's time per product view, as a multiple of 45 seconds.

    Sessions that fill a cart keep 1 (their cart's time follows their views).
    """
    s = tr.dwell_log_sd
    d = np.exp(s * rng.standard_normal(research.size) - s * s / 2)
    return np.where(cart, 1.0, d * np.where(research, tr.research_dwell_multiplier, 1.0))


def session_checks(tr, research: np.ndarray, cart: np.ndarray, views: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Each browse session's size or stock checks: binomial over its product views.

    ``traffic.variant_check_prob`` per view of a casual session,
    ``research_variant_check_prob`` of a research one; none in a session that fills a
    cart.  Drawn after the time per view, from the same stream, so that is unchanged.
    """
    p = np.where(cart, 0.0, np.where(research, tr.research_variant_check_prob,
                                     tr.variant_check_prob))
    return rng.binomial(views, p).astype(np.int32) if p.any() else np.zeros(views.size,
                                                                             np.int32)


def browse_candidates(world, ba, s_br, br_c, br_t, br_cat, br_views, br_src, br_dwell,
                      br_checks, research, occ_c, occ_t, occ_cat) -> None:
    """Set the world's browse-abandonment candidates: the browse sessions ``ba`` selects.

    Their session, customer, end (the last view), category, research flag (truth),
    views, source, time per view, size or stock checks and revisits of the category.
    """
    world.browse_session = s_br[ba]
    world.browse_customer = br_c[ba]
    world.browse_t = br_t[ba] + br_views[ba] * EVENT_GAP * br_dwell[ba]
    world.browse_category = br_cat[ba]
    world.browse_research = research[ba]  # truth: a session before a planned purchase
    world.browse_views, world.browse_source = br_views[ba], br_src[ba]
    world.browse_dwell, world.browse_checks = br_dwell[ba], br_checks[ba]
    world.browse_revisits = revisits(
        np.r_[occ_c, br_c], np.r_[occ_t, br_t], np.r_[occ_cat, br_cat],
        br_c[ba], br_t[ba], br_cat[ba], world.catalog.n_categories, world.horizon)


def browse_looks(tr, research, cart, views, rng: np.random.Generator | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Each browse session's time per view (float32) and checks (int32).

    Without ``rng``: 1 and 0 (every view 45 seconds, no checks).
    """
    if rng is None:
        return np.ones(views.size, np.float32), np.zeros(views.size, np.int32)
    dwell = session_dwell(tr, research, cart, rng).astype(np.float32)
    return dwell, session_checks(tr, research, cart, views, rng)
