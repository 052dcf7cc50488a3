"""Listings: the cache of rendered free-slot listings, dropped after every commit that changes a hub."""
from app.listings.cache import ListingCache, init_app, listing_cache

__all__ = ["ListingCache", "init_app", "listing_cache"]
